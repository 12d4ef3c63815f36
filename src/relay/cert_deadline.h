/*
 * cert_deadline.h - when a tunnel must end because a certificate does
 * (cert_deadline.c), sans-I/O: times in, a step out (docs/SECURITY.md
 * "Certificate lifetimes"). A tunnel never outlives a certificate:
 *
 * - the controller's: Go Away at its notAfter, closed --drain-grace
 *   later with whatever streams are left;
 * - the relay's own (the one in use now: a reload with a renewed one
 *   moves the deadline): Go Away --drain-grace before its notAfter,
 *   closed at it.
 *
 * A Go Away lets the controller move new streams to another tunnel while
 * the live ones finish; a tunnel whose last stream ends closes at once.
 */
#ifndef BEACON_RELAY_CERT_DEADLINE_H
#define BEACON_RELAY_CERT_DEADLINE_H

#include <stdint.h>

/* Why a live tunnel was ended for a certificate: the reason label of
 * beacon_tunnels_cert_ended_total and of the logs. */
enum relay_cert_end {
  RELAY_CERT_END_REVOKED = 0,  /* a CRL lists the controller's */
  RELAY_CERT_END_UNTRUSTED,    /* it no longer chains to the CA file */
  RELAY_CERT_END_NOT_ALLOWED,  /* --allow-client no longer names it */
  RELAY_CERT_END_EXPIRED,      /* the controller's notAfter passed */
  RELAY_CERT_END_OWN_EXPIRING, /* the relay's own is about to expire */
  RELAY_CERT_END_COUNT
};

/* "revoked", "untrusted", "not_allowed", "cert_expired",
 * "relay_cert_expiring". */
const char *relay_cert_end_name(enum relay_cert_end why);

/* Times in ms since the epoch; INT64_MAX = never. */
typedef struct cert_deadline {
  int64_t go_away_at;
  int64_t close_at;
  enum relay_cert_end why; /* which certificate ends first */
} cert_deadline_t;

/* The deadline of a tunnel: peer_not_after is the controller's
 * certificate, own_not_after the relay's (0 = unknown: no deadline). */
cert_deadline_t cert_deadline_of(int64_t peer_not_after, int64_t own_not_after,
                                 uint64_t grace_ms);

enum cert_deadline_step {
  CERT_DEADLINE_WAIT = 0, /* nothing to do before cert_deadline_next() */
  CERT_DEADLINE_GO_AWAY,  /* send Go Away; close when the last stream ends */
  CERT_DEADLINE_CLOSE     /* close now, streams and all */
};

/* What to do at now, for a tunnel that has (going_away) or has not sent
 * its Go Away yet. */
enum cert_deadline_step cert_deadline_step(const cert_deadline_t *d,
                                           int64_t now, int going_away);
/* When to look again (INT64_MAX: never). */
int64_t cert_deadline_next(const cert_deadline_t *d, int going_away);

/* The longest a worker sleeps between looks: the wall clock may jump
 * (a suspended host, a clock set by hand), and the metrics' earliest
 * controller notAfter forgets tunnels that went down within this. */
#define CERT_DEADLINE_LOOK_MS 10000
/* The timer delay from now to next, at most CERT_DEADLINE_LOOK_MS. */
uint64_t cert_deadline_delay_ms(int64_t next, int64_t now);

#endif
