/*
 * admission.h - the pre-authentication budget (docs/SECURITY.md
 * "Pre-authentication budget"), sans-I/O: which accepted connections may
 * start a TLS handshake, and with what deadline.
 *
 * Handshakes in progress are counted relay-wide and per source (an IPv4
 * address, or an IPv6 /64; IPv4-mapped IPv6 counts as its IPv4 address).
 * Like OpenSSH's MaxStartups start:rate:full, below `start` every
 * connection is admitted; from `start` on each is dropped at random with
 * a probability rising linearly from rate % to 100 % at `full`, where
 * all are refused. The handshake deadline shrinks the same way, from
 * timeout_ms below `start` to floor_ms at `full`, so a flood of silent
 * connections turns over faster.
 *
 * No clock, no sockets, no locks: the caller serialises calls and
 * supplies the time and the random source.
 *
 *   admission_t *a = admission_new(&cfg, rand_fn, rand_ud);
 *   admission_source_t src;
 *   admission_source_of(peer_sockaddr, &src);
 *   uint64_t deadline;
 *   if(admission_enter(a, &src, &deadline) == ADMISSION_OK) {
 *     ... handshake with a deadline_ms deadline ...
 *     admission_leave(a, &src); // finished, failed or closed
 *   }
 */
#ifndef BEACON_RELAY_ADMISSION_H
#define BEACON_RELAY_ADMISSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct admission_config {
  uint32_t start;      /* random early drop begins here */
  uint32_t rate;       /* ... with this percentage (0-100) */
  uint32_t full;       /* every connection refused here (>= start) */
  uint32_t per_source; /* handshakes per source; 0 = no cap */
  uint64_t timeout_ms; /* handshake deadline below start */
  uint64_t floor_ms;   /* ... shrinking to this at full */
} admission_config_t;

/* Why a connection was not admitted; also the order of the refusal
 * counters and log lines. */
enum admission_verdict {
  ADMISSION_OK = 0,
  ADMISSION_FULL,       /* "max_handshakes": full reached */
  ADMISSION_PER_SOURCE, /* "per_source": its source is at its cap */
  ADMISSION_EARLY_DROP, /* "early_drop": the random drop between */
  /* "evicted": not a verdict of admission_enter() but of its caller,
   * which closed the oldest handshake to make room (counted and logged
   * with the others) */
  ADMISSION_EVICTED,
  ADMISSION_NVERDICTS
};

/* The word for a verdict in logs and metrics ("ok", "max_handshakes",
 * "per_source", "early_drop", "evicted"). */
const char *admission_verdict_name(enum admission_verdict v);

/* A source as counted: an IPv4 address or an IPv6 /64. */
typedef struct admission_source {
  uint8_t key[9]; /* family byte, then 4 (IPv4) or 8 (IPv6 /64) bytes */
} admission_source_t;

/* The source of a peer address; -1 for a family other than IPv4/IPv6
 * (then every such peer shares one source). */
int admission_source_of(const struct sockaddr *sa, admission_source_t *out);

/* A uniform 32-bit random number (tests pass their own). */
typedef uint32_t (*admission_random_fn)(void *ud);

typedef struct admission admission_t;

/* Checks cfg (start <= full, full >= 1, rate <= 100, floor_ms <=
 * timeout_ms): NULL when it is inconsistent or out of memory. */
admission_t *admission_new(const admission_config_t *cfg,
                           admission_random_fn random, void *random_ud);
void admission_free(admission_t *a); /* NULL allowed */

/* Admits a connection from src or says why not. On ADMISSION_OK the
 * connection counts until admission_leave() and *deadline_ms (if not
 * NULL) is its handshake deadline from now. */
enum admission_verdict admission_enter(admission_t *a,
                                       const admission_source_t *src,
                                       uint64_t *deadline_ms);

/* admission_enter() without the random early drop: for a connection
 * that replaces one the caller closed to make room when FULL. */
enum admission_verdict admission_enter_replacing(admission_t *a,
                                                 const admission_source_t *src,
                                                 uint64_t *deadline_ms);

/* An admitted connection's handshake ended, whatever the outcome. */
void admission_leave(admission_t *a, const admission_source_t *src);

/* Handshakes in progress, all sources. */
uint32_t admission_in_progress(const admission_t *a);

/* Handshakes in progress from src. */
uint32_t admission_source_count(const admission_t *a,
                                const admission_source_t *src);

/* The handshake deadline for a connection admitted with `in_progress`
 * handshakes already running. */
uint64_t admission_deadline(const admission_t *a, uint32_t in_progress);

/* Rate-limited refusal logging: records one refusal of kind v at now_ms.
 * Returns how many refusals of that kind to report in one log line now
 * (this one and those held back), or 0 when a line for v was written
 * less than a second ago. */
uint64_t admission_refusal_to_log(admission_t *a, enum admission_verdict v,
                                  uint64_t now_ms);

#endif
