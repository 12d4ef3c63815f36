/*
 * beacon.h - the public API of libbeacon: the controller side of a beacon
 * egress tunnel (docs/ARCHITECTURE.md "libbeacon"), and the error codes shared
 * by every layer.
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

/*
 * Version: the single source of truth (CMake's project version, the .pc
 * file and `beacon version` are read from these lines). The soname is
 * libbeacon.so.MAJOR; docs/LIBRARY.md says what each part promises.
 * BEACON_VERSION_NUMBER is 0xMMmmpp, so versions compare as integers.
 */
#define BEACON_VERSION_MAJOR 0
#define BEACON_VERSION_MINOR 1
#define BEACON_VERSION_PATCH 0
#define BEACON_VERSION_NUMBER                                                 \
  ((BEACON_VERSION_MAJOR << 16) | (BEACON_VERSION_MINOR << 8) |               \
   BEACON_VERSION_PATCH)
#define BEACON_VERSION_STR_(x) #x
#define BEACON_VERSION_STR(x) BEACON_VERSION_STR_(x)
/* clang-format off */
#define BEACON_VERSION                         \
  BEACON_VERSION_STR(BEACON_VERSION_MAJOR) "." \
  BEACON_VERSION_STR(BEACON_VERSION_MINOR) "." \
  BEACON_VERSION_STR(BEACON_VERSION_PATCH)
/* clang-format on */

/* Marks the functions libbeacon exports; everything else in the library is
 * built with hidden visibility, so internal names never reach (or collide
 * with) an application. */
#if defined(__GNUC__) || defined(__clang__)
#define BEACON_API __attribute__((visibility("default")))
#else
#define BEACON_API
#endif

/* The version of the library actually loaded ("0.1.0", never NULL) and
 * its BEACON_VERSION_NUMBER: an application built against MAJOR can check
 * at run time that (beacon_version_number() >> 16) == BEACON_VERSION_MAJOR
 * and that the loaded library is not older than the header it used. */
BEACON_API const char *beacon_version(void);
BEACON_API unsigned beacon_version_number(void);

/*
 * Errors. 0 is success, a positive return is a count (bytes, an fd), and
 * errors are negative, in the reserved range [-599, -500]. Each function
 * below lists the codes it returns; later minor versions may add codes,
 * so treat an unknown one as a generic failure (docs/LIBRARY.md).
 */
enum {
  BEACON_OK = 0,
  BEACON_EAGAIN = -501,    /* need more input / try again later */
  BEACON_EINVAL = -502,    /* invalid argument or malformed input */
  BEACON_ENOMEM = -503,    /* allocation failed */
  BEACON_ETOOLONG = -504,  /* a line or value exceeds its limit */
  BEACON_EPROTO = -505,    /* the peer violated the protocol (fatal) */
  BEACON_ECLOSED = -506,   /* stream, connection or tunnel closed */
  BEACON_ERESET = -507,    /* the stream was reset by the peer */
  BEACON_ETIMEDOUT = -508, /* a deadline passed */
  BEACON_ELIMIT = -509,    /* a configured limit was reached */
  BEACON_ETLS = -510,      /* TLS handshake or record failure */
  BEACON_EVERIFY = -511,   /* peer certificate verification failed */
  BEACON_EREFUSED = -512,  /* connection refused */
  BEACON_EIO = -513,       /* operating-system I/O error */
  BEACON_EGOAWAY = -514,   /* the peer is going away: no new streams */
  BEACON_ECONFIG = -515,   /* bad configuration (file, flag, value) */
  BEACON_ENOTFOUND = -516, /* name resolution failed */
  BEACON_EPOLICY = -517,   /* destination refused by policy */
  BEACON_EUNREACH = -518,  /* the relay could not reach the target */
};

/* Static text for an error code ("unknown error" for others); never
 * NULL. */
BEACON_API const char *beacon_strerror(int err);
/* Short symbolic name ("EPROTO", "EUNKNOWN" for others); never NULL. */
BEACON_API const char *beacon_err_name(int err);
/* 1 for the codes that, when beacon_dial() reports them, ended the
 * tunnel's connection to the relay (chain) rather than just this dial:
 * BEACON_EPROTO, BEACON_ETLS, BEACON_EVERIFY, BEACON_ETIMEDOUT and
 * BEACON_ENOMEM. The next beacon_dial() connects afresh. 0 for every other
 * value, 0 included. */
BEACON_API int beacon_is_fatal(int err);

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
 * ping every 20 s with a 10 s answer deadline, no relays. NULL when out of
 * memory. */
BEACON_API beacon_config_t *beacon_config_new(void);
BEACON_API void beacon_config_free(beacon_config_t *cfg); /* NULL is allowed */

/* Appends a relay hop "host:port" (first call = first hop; IPv6 in
 * brackets). The host is also the name its certificate must carry.
 * A comma-separated list "a:8456,b:8456,c:8456" (no spaces, at most 16)
 * makes the hop a pool of interchangeable relays, and so does a first-hop
 * name with several addresses: see beacon_dial() and docs/LIBRARY.md
 * "Relay pools". In the first hop a member may be "srv:NAME": NAME's DNS
 * SRV records are its members (first hop only: BEACON_EINVAL
 * elsewhere).
 * Returns 0, or:
 *   BEACON_EINVAL    cfg or host_port is NULL, or host_port is malformed
 *                    (an empty member, a member listed twice)
 *   BEACON_ETOOLONG  a member is longer than 255 bytes
 *   BEACON_ELIMIT    the configuration already has 8 hops, or the list
 *                    has more than 16 members */
BEACON_API int beacon_config_add_relay(beacon_config_t *cfg,
                                       const char *host_port);

/* Controller certificate (leaf + chain, PEM), its key, and the Fleet CA
 * used as the only trust anchor for every hop. Paths are copied; the files
 * are read by beacon_tunnel_new(). Returns 0, or:
 *   BEACON_EINVAL    an argument is NULL
 *   BEACON_ENOMEM    out of memory (the configuration is unchanged) */
BEACON_API int beacon_config_set_identity(beacon_config_t *cfg,
                                          const char *cert_path,
                                          const char *key_path,
                                          const char *ca_path);

/* Same, from DIR/controller.crt, DIR/controller.key, DIR/fleet-ca.crt.
 * Returns 0, or:
 *   BEACON_EINVAL    cfg or dir is NULL
 *   BEACON_ETOOLONG  a resulting path is longer than 4095 bytes
 *   BEACON_ENOMEM    out of memory */
BEACON_API int beacon_config_set_dir(beacon_config_t *cfg, const char *dir);

/* Revoked relay certificates: a PEM CRL issued by the Fleet CA. A relay
 * whose leaf it lists fails the handshake (BEACON_EVERIFY, "relay
 * certificate revoked"); once set, a relay certificate whose CA issued
 * no CRL in the file is refused too. The file is read by
 * beacon_tunnel_new() and again whenever it changes on disk; after a
 * reload the relays of the connections already up are checked again,
 * and one it now lists (or the CA file no longer trusts) has its
 * connection closed, its streams ended, with a `relay_revoked` (or
 * `relay_untrusted`) warning through the log hook. NULL removes it.
 * Returns 0, or:
 *   BEACON_EINVAL    cfg is NULL
 *   BEACON_ENOMEM    out of memory (the configuration is unchanged) */
BEACON_API int beacon_config_set_crl(beacon_config_t *cfg,
                                     const char *crl_path);

/* Pins a relay key: hex is the SHA-256 of a relay certificate's
 * SubjectPublicKeyInfo, 64 hex digits (colons between pairs allowed), as
 * `beacon pki fingerprint relay.crt` prints it, or
 *   openssl x509 -in relay.crt -noout -pubkey | openssl pkey -pubin \
 *     -outform DER | openssl dgst -sha256
 * With one pin or more, every relay of every hop must present a pinned
 * key as well as pass the Fleet CA checks; otherwise its handshake fails
 * with BEACON_EVERIFY and a message naming the SPKI it presented. Call
 * it once per key (at most 16; a key rollover pins old and new).
 * Returns 0, or:
 *   BEACON_EINVAL    cfg or hex is NULL, or hex is not 64 hex digits
 *   BEACON_ELIMIT    16 pins are already set */
BEACON_API int beacon_config_add_relay_spki(beacon_config_t *cfg,
                                            const char *hex);

/* Milliseconds; 0 (or less) keeps the current value. cfg NULL: no-op. */
BEACON_API void beacon_config_set_timeouts(beacon_config_t *cfg, int dial_ms,
                                           int handshake_ms, int open_ms);
/* interval_ms <= 0 disables keep-alive; timeout_ms <= 0 keeps the current
 * answer deadline. With keep-alive on, a tunnel whose writes to a relay
 * make no progress for timeout_ms fails too. cfg NULL: no-op. */
BEACON_API void beacon_config_set_keepalive(beacon_config_t *cfg,
                                            int interval_ms, int timeout_ms);

/* Receive-window auto-tuning: how far the streams of one tunnel (each
 * hop) may together grow their receive windows beyond the protocol's
 * 256 KiB each, so that one stream can fill a long, fast path (default
 * 64 MiB; one stream grows to 32 MiB at most). 0 keeps every window at
 * 256 KiB, as the Go implementation does. Returns 0, or BEACON_EINVAL
 * when cfg is NULL. */
BEACON_API int beacon_config_set_window_budget(beacon_config_t *cfg,
                                               size_t bytes);

/* The congestion control of the tunnel's TCP connections (Linux
 * TCP_CONGESTION), e.g. "bbr" or "cubic"; "system" leaves the kernel's
 * default; NULL restores libbeacon's default: bbr where the kernel
 * allows it, else the system default (docs/PROTOCOL.md "Congestion
 * control of the tunnel"). Checked now, on a scratch socket. Returns 0,
 * or:
 *   BEACON_EINVAL   cfg is NULL or name is not a congestion control name
 *   BEACON_ECONFIG  the kernel lacks it, or this process may not set it
 *                   (net.ipv4.tcp_allowed_congestion_control) */
BEACON_API int beacon_config_set_congestion(beacon_config_t *cfg,
                                            const char *name);

/* ---- warnings ---------------------------------------------------------- */

enum { BEACON_LOG_WARN = 2 }; /* the level of every message so far */

/* Receives libbeacon's warnings about the controller's own files: event
 * is a stable word, message one sentence naming the file and the fix.
 *   "key_permissions"  the private key is readable by its group or by
 *                      others (chmod 600 it)
 *   "cert_expiring"    the certificate expires within 14 days, or is
 *                      in the last third of a shorter lifetime (a
 *                      24-hour one: its last 8 hours)
 *   "cert_not_renewed" a tunnel's renewal time came and the files on
 *                      disk hold no certificate that lasts longer: the
 *                      tunnel stays until its relay ends it (said once
 *                      per certificate; renewal is tried again when the
 *                      files change)
 *   "reload_failed"    the files changed on disk but do not load (a
 *                      half-written file, a key that does not match):
 *                      the old identity stays, and the next change is
 *                      tried again
 * Called by beacon_tunnel_new() and beacon_tunnel_reload() on the
 * caller's thread, and on the tunnel's loop thread (when it connects to
 * the relay and the last warning is a day old, and for the renewal
 * events), so it must be thread-safe and must not call into the
 * tunnel. */
typedef void (*beacon_log_fn)(int level, const char *event,
                              const char *message, void *ud);

/* Sets the hook; fn NULL restores the default, which writes
 * "libbeacon: warning: MESSAGE" lines on stderr (pass a function that
 * does nothing to silence it). Returns 0, or BEACON_EINVAL when cfg is
 * NULL. */
BEACON_API int beacon_config_set_log(beacon_config_t *cfg, beacon_log_fn fn,
                                     void *ud);

/* ---- tunnels ---------------------------------------------------------- */

typedef struct beacon_tunnel beacon_tunnel_t;

/* Creates a tunnel handle and its background loop thread. Does not
 * connect: the first beacon_dial() does (lazy). The certificate files are
 * loaded and checked here, so a bad file fails now; a key others may
 * read, or a certificate near its expiry, is a warning through the log
 * hook (beacon_config_set_log()).
 *
 * Renewal: the tunnel watches the certificate, key, CA and CRL files
 * (a stat every second, and before each new connection to a relay) and
 * reloads them when they change, as beacon_tunnel_reload() does. Each
 * connection to a relay is renewed at two thirds of its certificate's
 * lifetime or 5 minutes before its notAfter, whichever is sooner (at
 * once for a certificate shorter than that), provided a certificate that
 * lasts longer is loaded by then: a fresh connection to the same relay
 * is made with it, and only once it is up do new streams go to it while
 * the old connection finishes its live streams and closes (make before
 * break; the old one is closed at its certificate's notAfter at the
 * latest). Without a renewed certificate the connection stays and the
 * log hook says "cert_not_renewed". Returns 0 and sets
 * *out, or one of these with *out NULL and *err filled (err may be NULL):
 *   BEACON_EINVAL    out is NULL
 *   BEACON_ECONFIG   cfg is NULL or has no relay or no identity, or a
 *                    certificate, key or CA file is unreadable, invalid
 *                    or does not match
 *   BEACON_ENOMEM    out of memory
 *   BEACON_EIO       the loopback listener, event loop or loop thread
 *                    could not be created */
BEACON_API int beacon_tunnel_new(beacon_tunnel_t **out,
                                 const beacon_config_t *cfg,
                                 beacon_error_t *err);

/* Opens a stream to TARGET ("host:port") through the relay (chain) and
 * returns a connected socket descriptor that behaves like a TCP socket to
 * the target: read/write, shutdown(SHUT_WR) half-closes, EOF when the far
 * side finishes, ECONNRESET when the relay resets the stream. The caller
 * owns the descriptor and closes it. A malformed target never reaches the
 * wire (BEACON_EINVAL). timeout_ms <= 0 uses the configured open timeout.
 * A dead tunnel is re-dialled; a failure on a connection that just died
 * is retried once on a fresh one. Thread-safe.
 *
 * With a pool on the first hop, the first dial tries the members in
 * random order (the next one 250 ms after the last if that has not
 * answered yet); from the second dial on the tunnel keeps a connection
 * to every member, reconnecting failed ones in the background, and each
 * dial goes to a member that is up (the less loaded of two). A dial
 * that fails before the relay acknowledged the stream, or gets no answer
 * within 2 s while another member is left, moves to a member it has not
 * tried, within timeout_ms; when every member failed, err->message names
 * each and why. A refusal about the target is not retried elsewhere, nor
 * is a dial the relay is still making (it answered the ping sent with
 * the stream): that one fails with BEACON_ETIMEDOUT after timeout_ms.
 *
 * The call returns once the relay acknowledged the stream. A beacon
 * relay (ALPN beacon/1, docs/PROTOCOL.md "Connect results (ALPN
 * beacon/1)") acknowledges only once the target is connected, so the
 * target's refusal fails this call with the codes marked (target) below.
 * The base protocol has no reply to the target line: behind a Go relay a
 * destination the relay refuses or cannot reach shows afterwards as EOF
 * before any byte on the descriptor. The descriptor is one end of a
 * loopback TCP pair; writing to it after the far side reset raises
 * SIGPIPE like any socket (use MSG_NOSIGNAL or ignore SIGPIPE). The
 * library's loop thread blocks every signal.
 *
 * Returns the descriptor (>= 0), or one of these with *err filled (err
 * may be NULL; err->hop names the relay hop when the failure has one):
 *   BEACON_EINVAL     t or target is NULL, or target is not host:port
 *   BEACON_ETOOLONG   target is longer than 255 bytes
 *   BEACON_ENOMEM     out of memory
 *   BEACON_EIO        local socket pair, or a socket error to a relay
 *   BEACON_ECLOSED    the tunnel is being freed, a relay closed the
 *                     connection, or the stream closed at once
 *   BEACON_ETIMEDOUT  connect, TLS handshake, stream open or keep-alive
 *                     deadline passed
 *   BEACON_ENOTFOUND  a relay's name did not resolve
 *   BEACON_EREFUSED   a relay refused the connection, or an inner hop was
 *                     unreachable through the one before it
 *   BEACON_ERESET     the connection to a relay was lost, or the relay
 *                     reset the stream before acknowledging it
 *   BEACON_ETLS       TLS handshake or record failure
 *   BEACON_EVERIFY    a relay's certificate failed verification
 *   BEACON_EPROTO     a relay violated the yamux protocol
 *   BEACON_ELIMIT     no relay connection would open another stream, or
 *                     (target) the relay ran out of a resource
 *   BEACON_EGOAWAY    the relay is going away and opened no stream
 *   BEACON_ECONFIG    our own certificate is expired or not valid yet
 *                     (checked before dialling; the message names it)
 *   (target) BEACON_EREFUSED, BEACON_ENOTFOUND, BEACON_ETIMEDOUT,
 *   BEACON_EUNREACH, BEACON_EPOLICY or BEACON_EINVAL: the relay's dial
 *   of the target was refused, did not resolve, timed out, found no
 *   route, was refused by its policy, or the target line was bad; the
 *   message names the target and err->hop the last relay
 * beacon_is_fatal() tells which of these ended the tunnel's connection. */
BEACON_API int beacon_dial(beacon_tunnel_t *t, const char *target,
                           int timeout_ms, beacon_error_t *err);

/* Rereads the certificate, key and CA files named by the configuration
 * for the connections to relays made from now on; live ones keep what
 * they have (certificate rotation without dropping streams), unless the
 * reloaded CRL or CA file no longer accepts their relay: those close
 * within a second (beacon_config_set_crl()). Safe from
 * any thread. Returns 0, or on a bad file the old identity stays and:
 *   BEACON_EINVAL    t is NULL
 *   BEACON_ECONFIG   a file is missing, unreadable or does not match
 *   BEACON_ENOMEM    out of memory */
BEACON_API int beacon_tunnel_reload(beacon_tunnel_t *t, beacon_error_t *err);

/* Closes every stream and the tunnel, joins the loop thread, frees t.
 * NULL is allowed. */
BEACON_API void beacon_tunnel_free(beacon_tunnel_t *t);

#ifdef __cplusplus
}
#endif
#endif
