/*
 * relay.h - the relay (`beacon egress`, docs/PROTOCOL.md "The beacon wire
 * protocol", docs/OPERATIONS.md "Running the relay", docs/ARCHITECTURE.md
 * "Requirements"): libuv glue from accepted tunnels through TLS and the yamux
 * session to one plain TCP connection per stream.
 *
 * A relay_t owns N worker threads, each with its own libuv loop and its
 * own listening socket bound to the same address with SO_REUSEPORT; a
 * tunnel lives on the loop that accepted it. The calling thread runs a
 * control loop for the signals: SIGTERM/SIGINT drain and stop, SIGHUP
 * reloads the configuration (cfg.source) and the certificates.
 *
 *   relay_config_t cfg;
 *   relay_config_default(&cfg);
 *   cfg.config_dir = "/etc/beacon";
 *   if(relay_new(&r, &cfg, err, sizeof(err)) == 0)
 *     rc = relay_run(r);
 *   relay_free(r);
 */
#ifndef BEACON_RELAY_H
#define BEACON_RELAY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "common/error.h"
#include "common/outcome.h"

struct relay_config_source;

typedef struct relay_config {
  const char *config_dir;   /* relay.crt, relay.key, fleet-ca.crt, crl.pem */
  const char *tunnel_addr;  /* ":PORT", "HOST:PORT", "[V6]:PORT" */
  unsigned workers;         /* loops/threads; 0 = number of CPUs */
  uint64_t dial_timeout_ms; /* 15 s: whole Happy Eyeballs dial */
  uint64_t handshake_timeout_ms; /* 10 s: TCP accept to TLS done */
  uint64_t target_timeout_ms;    /* 10 s: stream open to target line */
  uint64_t keepalive_ms;         /* 20 s ping interval, 0 = off */
  uint64_t keepalive_timeout_ms; /* 10 s answer deadline */
  uint64_t write_timeout_ms;     /* 10 s: a stalled tunnel is closed */
  uint64_t drain_timeout_ms;     /* 30 s: SIGTERM grace for streams */
  /* --drain-grace, 30 s: a tunnel whose certificate (the controller's,
   * or the relay's own) comes to its end gets Go Away, then is closed
   * this long after (relay/cert_deadline.h) */
  uint64_t drain_grace_ms;
  uint32_t max_streams; /* 4096 per tunnel */
  /* per relay, all workers, only tunnels past the mTLS handshake; 0 =
   * derived from the memory and descriptor budgets (relay_new logs the
   * figure: budget.h, resources.h) */
  uint32_t max_tunnels;
  /* --max-handshakes START:RATE:FULL (docs/SECURITY.md "Pre-authentication
   * budget"): TLS handshakes in progress, all workers. From START on, a
   * drop is decided at random, RATE % at START rising to 100 % at FULL
   * (the worker's oldest handshake goes in the newcomer's place when it
   * has one), and the handshake deadline shrinks towards 2 s. */
  uint32_t max_handshakes_start;      /* 1024 */
  uint32_t max_handshakes_rate;       /* 30 (%) */
  uint32_t max_handshakes;            /* 2048 */
  uint32_t max_handshakes_per_source; /* 64; an IPv6 source is its /64 */
  uint32_t max_dials_per_tunnel;      /* 1024 connects in progress, lookups
                                         included; 0 = unlimited */
  size_t window_budget; /* 64 MiB: receive window a tunnel's streams may
                           grow beyond 256 KiB each, together; 0 = Go's
                           fixed 256 KiB windows */
  /* --memory-limit: every byte the relay may be made to hold (windows
   * granted, queues, TLS buffers: relay/budget.h); 0 = a quarter of the
   * physical memory (or of the cgroup's limit), at least 64 MiB. */
  size_t memory_limit;
  const policy_t *policy; /* borrowed; NULL = default policy */
  /* Accepted client identities in the canonical form of
   * tls_identity_parse() (tls/identity.h: "dn:..." or "spki:..."). None
   * = any client the Fleet CA vouches for. Borrowed. */
  const char *const *allow_clients;
  size_t n_allow_clients;
  /* --metrics-addr: Prometheus /metrics and /healthz on the control
   * loop ("HOST:PORT", ":PORT" = loopback); NULL = off. Borrowed. */
  const char *metrics_addr;
  /* --allow-group-readable-key: relay.key may be 0640 when its group is
   * one of the relay's (root:beacon under the systemd unit). */
  int allow_group_readable_key;
  /* SIGHUP builds the whole configuration again from here and applies
   * what may change in place (docs/OPERATIONS.md "Reloading"); NULL =
   * a reload rereads the TLS files only. Borrowed. */
  const struct relay_config_source *source;
  int log_level; /* log_level_t a reload applies; -1 = leave the log be */
  int log_json;  /* --log-format json: restart only, compared on reload */
  /* --running-config FILE: the options that need a restart, as the
   * relay runs them, written at start and after each reload in config
   * file form, for --check-config to compare with; NULL = none. */
  const char *running_config;
  /* --congestion: TCP_CONGESTION of tunnel sockets (common/congestion.h);
   * NULL = bbr where the kernel allows it, else the system default.
   * Borrowed. */
  const char *congestion;
} relay_config_t;

/* Where a reload gets its configuration (`beacon egress`: the config
 * file and the command line, parsed as at start). */
typedef struct relay_config_source {
  /* Fills *out; its pointers (policy, allow_clients, strings) point
   * into *owner. 0, or nonzero with err saying why. Control loop. */
  int (*load)(void *ctx, relay_config_t *out, void **owner, char *err,
              size_t errlen);
  void (*release)(void *owner); /* any thread */
  void *ctx;
} relay_config_source_t;

/* The options of cfg that cannot change in place ("tunnel-addr",
 * "workers", ...; docs/OPERATIONS.md "Reloading") whose values differ
 * between running and next: up to cap of their names into names (may
 * be NULL with cap 0). Returns how many differ. */
size_t relay_config_restart_only(const relay_config_t *running,
                                 const relay_config_t *next,
                                 const char **names, size_t cap);
/* The value of one of those options in cfg as a config line gives it
 * ("(default)" when left to the relay). 0, or -1 for another name. */
int relay_config_option_text(const relay_config_t *cfg, const char *name,
                             char *out, size_t cap);

/* Counters, updated atomically from every worker (a metrics endpoint
 * reads them). "up" = controller to target, "down" = target to
 * controller. */
typedef struct relay_metrics {
  atomic_uint_fast64_t tunnels_open;
  atomic_uint_fast64_t tunnels_total;
  atomic_uint_fast64_t tunnels_refused;       /* over --max-tunnels */
  atomic_uint_fast64_t tunnels_refused_nomem; /* closed: out of memory */
  atomic_uint_fast64_t streams_open;
  atomic_uint_fast64_t streams_total;
  atomic_uint_fast64_t bytes_up;
  atomic_uint_fast64_t bytes_down;
  atomic_uint_fast64_t bad_targets;
  atomic_uint_fast64_t target_timeouts;
  atomic_uint_fast64_t policy_refusals;
  /* failed dials by their outcome's metric label (common/outcome.h);
   * policy refusals and budgets are counted on their own */
  atomic_uint_fast64_t dial_fail[OUTCOME_LABEL_COUNT];
  atomic_uint_fast64_t hs_fail_timeout;
  atomic_uint_fast64_t hs_fail_verify;
  atomic_uint_fast64_t hs_fail_tls;
  atomic_uint_fast64_t hs_fail_not_allowed;
  /* connections closed by the pre-authentication budget, by enum
   * admission_verdict (index 0 unused): at accept (max_handshakes,
   * per_source, early_drop) or evicted to make room (evicted) */
  atomic_uint_fast64_t hs_refused[5];
  atomic_uint_fast64_t handshakes_in_progress; /* a gauge */
  atomic_uint_fast64_t keepalive_timeouts;
  /* streams the session reset before they reached us, by enum
   * mux_refusal (index 0 unused) */
  atomic_uint_fast64_t streams_refused[6]; /* [5]: RELAY_REFUSED_RESOURCE */
  atomic_uint_fast64_t protocol_errors;
  atomic_uint_fast64_t write_timeouts;
  /* live tunnels ended for a certificate, by enum relay_cert_end
   * (relay/cert_deadline.h): revoked, untrusted, not allowed, the
   * controller's expired, the relay's own expiring */
  atomic_uint_fast64_t tunnels_cert_ended[5];
} relay_metrics_t;

/* streams_refused[] index for streams refused by the memory or
 * descriptor budget (beacon/1 code 7, relay_limit; metric reason
 * "resource"). */
#define RELAY_REFUSED_RESOURCE 5

typedef struct relay relay_t;

/* Fills *cfg with the defaults above (config_dir "/etc/beacon",
 * tunnel_addr ":8456"). */
void relay_config_default(relay_config_t *cfg);

/*
 * Loads the TLS material and binds the listening sockets (so every
 * startup error is reported here, before any thread starts). Returns 0,
 * BEACON_ECONFIG (a file is missing or invalid, or a key does not match:
 * err names the file), BEACON_EINVAL (a bad address or value) or
 * BEACON_EIO (the address cannot be bound: err names it). The config is
 * copied; policy and allow_clients must outlive the relay.
 */
BEACON_MUST_USE int relay_new(relay_t **out, const relay_config_t *cfg,
                              char *err, size_t errlen);

/* What relay_new() checks (values, TLS material, the tunnel address)
 * without binding anything: for --check-config. Same return codes,
 * BEACON_EIO aside. */
BEACON_MUST_USE int relay_check(const relay_config_t *cfg, char *err,
                                size_t errlen);

/* Runs until SIGTERM/SIGINT and the drain are over. 0 on a clean stop. */
BEACON_MUST_USE int relay_run(relay_t *r);

/* Asks a running relay to drain and stop, as SIGTERM does. Thread-safe. */
void relay_stop(relay_t *r);

/* Live counters; valid until relay_free(). */
const relay_metrics_t *relay_metrics(const relay_t *r);

/* The bound port (useful with port 0). */
int relay_port(const relay_t *r);

void relay_free(relay_t *r); /* NULL allowed; only after relay_run() */

/* Loads cfg->config_dir's relay.crt, relay.key, fleet-ca.crt and crl.pem
 * when it exists into a server context. Refuses a key readable by others
 * (or by its group, unless allow_group_readable_key and the group is
 * ours) and a certificate outside its validity period. BEACON_ECONFIG
 * with err naming the file. */
struct tls_ctx;
BEACON_MUST_USE int relay_load_tls(const relay_config_t *cfg,
                                   struct tls_ctx **out, char *err,
                                   size_t errlen);

#endif
