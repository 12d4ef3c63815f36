/*
 * beacon.h - the public API of libbeacon: the controller side of a beacon
 * egress tunnel (DESIGN §3.2), and the error codes shared by every layer.
 *
 * Thread safety: a beacon_config_t belongs to one thread until it is
 * passed to beacon_tunnel_new(), which copies it. A beacon_tunnel_t may be
 * used from any number of threads at once (beacon_dial() is thread-safe);
 * only beacon_tunnel_free() must not race with other calls on the same
 * tunnel.
 */
#ifndef BEACON_BEACON_H
#define BEACON_BEACON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BEACON_VERSION "0.1.0"

/*
 * Errors. 0 is success, a positive return is a count (bytes, an fd), and
 * errors are negative, in the reserved range [-599, -500].
 */
enum {
  BEACON_OK = 0,
  BEACON_EAGAIN = -501,    /* need more input / try again later */
  BEACON_EINVAL = -502,    /* invalid argument or malformed input */
  BEACON_ENOMEM = -503,    /* allocation failed */
  BEACON_ETOOLONG = -504,  /* a line or value exceeds its limit */
  BEACON_EPROTO = -505,    /* the peer violated the protocol (fatal) */
  BEACON_ECLOSED = -506,   /* stream or session already closed */
  BEACON_ERESET = -507,    /* the stream was reset by the peer */
  BEACON_ETIMEDOUT = -508, /* a deadline passed */
  BEACON_ELIMIT = -509,    /* a configured limit was reached */
  BEACON_ETLS = -510,      /* TLS handshake or record failure */
  BEACON_EVERIFY = -511,   /* peer certificate verification failed */
  BEACON_EREFUSED = -512,  /* connection refused */
  BEACON_EIO = -513,       /* operating-system I/O error */
  BEACON_EGOAWAY = -514,   /* the session is going away: no new streams */
  BEACON_ECONFIG = -515,   /* bad configuration (file, flag, value) */
  BEACON_ENOTFOUND = -516, /* name resolution failed */
  BEACON_EPOLICY = -517,   /* destination refused by policy */
};

/* Static text for an error code; never NULL. */
const char *beacon_strerror(int err);
/* Short symbolic name ("EPROTO"); never NULL. */
const char *beacon_err_name(int err);
/* 1 when the error ends a whole session rather than one stream. */
int beacon_is_fatal(int err);

/* The error of a failed call: a code, the hop it concerns (0-based relay
 * index in a chain, -1 when not hop-specific) and a human message. */
typedef struct beacon_error {
  int code;
  int hop;
  char message[256];
} beacon_error_t;

/* ---- configuration ---------------------------------------------------- */

typedef struct beacon_config beacon_config_t;

/* A new configuration with the defaults: timeouts of 10 s, keep-alive
 * ping every 20 s with a 10 s answer deadline, no relays. NULL on OOM. */
beacon_config_t *beacon_config_new(void);
void beacon_config_free(beacon_config_t *cfg); /* NULL is allowed */

/* Appends a relay hop "host:port" (first call = first hop). The host is
 * also the name its certificate must carry. BEACON_EINVAL if malformed. */
int beacon_config_add_relay(beacon_config_t *cfg, const char *host_port);

/* Controller certificate (leaf + chain, PEM), its key, and the Fleet CA
 * used as the only trust anchor for every hop. Paths are copied. */
int beacon_config_set_identity(beacon_config_t *cfg, const char *cert_path,
                               const char *key_path, const char *ca_path);

/* Same, from DIR/controller.crt, DIR/controller.key, DIR/fleet-ca.crt. */
int beacon_config_set_dir(beacon_config_t *cfg, const char *dir);

/* Milliseconds; 0 keeps the current value. */
void beacon_config_set_timeouts(beacon_config_t *cfg, int dial_ms,
                                int handshake_ms, int open_ms);
/* interval_ms = 0 disables keep-alive. With keep-alive on, a tunnel
 * whose writes to a relay make no progress for timeout_ms fails too. */
void beacon_config_set_keepalive(beacon_config_t *cfg, int interval_ms,
                                 int timeout_ms);

/* ---- tunnels ---------------------------------------------------------- */

typedef struct beacon_tunnel beacon_tunnel_t;

/* Creates a tunnel handle and its background loop thread. Does not
 * connect: the first beacon_dial() does (lazy). The certificate files are
 * loaded and checked here, so a bad file fails now. Returns 0 and sets
 * *out, or a negative code with *err filled (err may be NULL). */
int beacon_tunnel_new(beacon_tunnel_t **out, const beacon_config_t *cfg,
                      beacon_error_t *err);

/* Opens a stream to TARGET ("host:port") through the relay (chain) and
 * returns a connected socket descriptor that behaves like a TCP socket to
 * the target: read/write, shutdown(SHUT_WR) half-closes, EOF when the far
 * side finishes, ECONNRESET when the relay resets the stream. The caller
 * owns the descriptor and closes it. A malformed target never reaches the
 * wire (BEACON_EINVAL). timeout_ms <= 0 uses the configured open timeout.
 * A dead tunnel is re-dialled; a failure on a session that just died is
 * retried once on a fresh one. Thread-safe.
 *
 * The call returns once the relay acknowledged the stream; the protocol
 * has no reply to the target line, so a destination the relay refuses or
 * cannot reach shows afterwards as ECONNRESET on the descriptor (a Go
 * relay shows it as EOF before any byte). The descriptor is one end of a
 * loopback TCP pair; writing to it after the far side reset raises
 * SIGPIPE like any socket (use MSG_NOSIGNAL or ignore SIGPIPE). The
 * library's loop thread blocks every signal. */
int beacon_dial(beacon_tunnel_t *t, const char *target, int timeout_ms,
                beacon_error_t *err);

/* Closes every stream and the tunnel, joins the loop thread, frees t.
 * NULL is allowed. */
void beacon_tunnel_free(beacon_tunnel_t *t);

#ifdef __cplusplus
}
#endif
#endif
