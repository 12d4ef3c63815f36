/*
 * relay_int.h - the relay's internal objects and the small inline views
 * of them every file of the relay shares. It declares no function of any
 * file: each file's functions are in its own header, and the files
 * depend on each other one way (docs/ARCHITECTURE.md "Dependencies"):
 *
 *   server.c -> listener.c, worker.c, reload.c, prom.c
 *   worker.c -> tunnel.c -> relay_stream.c -> stream_core.c, dial.c
 *
 * A lower file reports upwards only through the host tables below,
 * which the upper file fills in. Everything here runs on one worker's
 * loop thread except what relay_t marks as shared.
 *
 * Memory rule (docs/ARCHITECTURE.md "Handles and memory"): a struct holding a
 * uv handle is freed only after that handle's close callback ran. Tunnels and
 * streams count their open handles and children in `refs` and free themselves
 * when it drops to 0; a finished stream also waits for its worker's reap (the
 * check handle), outside the callbacks that ended it.
 */
#ifndef BEACON_RELAY_INT_H
#define BEACON_RELAY_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "common/fault.h"
#include "common/list.h"
#include "conn/conn.h"
#include "dial/dial.h"
#include "conn/conn_turn.h"
#include "conn/conn_uv.h"
#include "conn/pump.h"
#include "metrics/http.h"
#include "metrics/metrics.h"
#include "mux/mux.h"
#include "relay/admission.h"
#include "relay/budget.h"
#include "relay/relay.h"
#include "relay/stream_core.h"
#include "target/target.h"
#include "tls/tls.h"
#include "common/error.h"

/* Reads from a target, capped by the stream's send window (what the
 * mux still cannot take is copied aside, at most a window's worth):
 * one read fills several frames instead of one per syscall. */
#define RELAY_TARGET_READ (256 * 1024)
/* Reads from a tunnel and the plaintext fed to one mux_recv(): larger
 * than the 64 KiB frames controllers send, so a bulk upload is not cut
 * into a frame's worth per syscall and a frame's tail is not written to
 * its target on its own (one writev per stream per 256 KiB instead of a
 * writev and a 12-byte write per frame). */
#define RELAY_TUNNEL_READ (256 * 1024)
/* A tunnel over its share of --memory-limit still reads this much, less
 * the upstream bytes its streams hold (tunnel_budget.c): window updates
 * and pings keep coming while its targets take what it holds. */
#define RELAY_TUNNEL_READ_MIN (16 * 1024)
/* How often a tunnel paused over its memory share looks again. */
#define RELAY_MEM_RETRY_MS 50
/* How often a paused tunnel writes a ping and asks the kernel whether
 * its controller is still there (relay_tunnel.c probe_paused). */
#define RELAY_PAUSED_PROBE_MS 1000
/* Ciphertext queued on a tunnel socket above which no more mux output
 * is encrypted: the mux queue then fills and streams stop reading their
 * targets (docs/PROTOCOL.md "Relaying", bounded memory). Small, like
 * the kernel's share (TUNNEL_NOTSENT_LOWAT): what waits here is already
 * in frame order, so it delays every stream's next frame. */
#define RELAY_TUNNEL_HIGH_WATER (256 * 1024)
/* The same on a path of microseconds (conn/path_marks.h), where it
 * drains at once and a small mark only means more, smaller writes. */
#define RELAY_TUNNEL_NEAR_HIGH_WATER (1024 * 1024)
/* Mux output encrypted per step of a tunnel's flush. */
#define RELAY_TUNNEL_FLUSH_SLICE (64 * 1024)

typedef struct relay_worker relay_worker_t;
typedef struct relay_tunnel relay_tunnel_t;
typedef struct relay_stream relay_stream_t;
typedef struct relay_settings relay_settings_t; /* settings.h */

/* What a tunnel reports to its worker; worker.c fills it in, so that
 * relay_tunnel.c calls no function of worker.c. */
typedef struct relay_tunnel_host {
  /* Work waits for the end of this turn (a deferred accept, a
   * handshake for the next turn): the loop must not block first. */
  void (*output)(relay_worker_t *w);
  /* A tunnel's mux runs: its certificate is watched from now on. */
  void (*tunnel_up)(relay_tunnel_t *t);
  /* A tunnel was freed. */
  void (*tunnel_gone)(relay_worker_t *w);
  /* Accepts the pending connection and closes it at once: a connection
   * left unaccepted would pause this worker's listener for good. */
  void (*refuse)(relay_worker_t *w);
} relay_tunnel_host_t;

/* What a stream reports to its tunnel; relay_tunnel.c fills it in, so that
 * relay_stream.c calls no function of relay_tunnel.c. */
typedef struct relay_stream_host {
  /* The tunnel's mux has output: the worker flushes it this turn. */
  void (*output)(relay_tunnel_t *t);
  /* A stream was freed and dropped its reference on the tunnel. */
  void (*stream_gone)(relay_tunnel_t *t);
  /* A stream finished and waits in w->reap: the worker's next check
   * must run soon (the loop must not block first). */
  void (*reap_soon)(relay_tunnel_t *t);
} relay_stream_host_t;

/* The exported metric families (prom.c, docs/OPERATIONS.md "Metrics"):
 * bound to relay_metrics_t, so scrapes cost the workers nothing. */
typedef struct relay_prom {
  metrics_registry_t reg;
  metric_t tunnels_open, tunnels_total, streams_open, streams_total;
  metric_t bytes, dial_failures, policy_refusals, hs_failures;
  metric_t keepalive_timeouts, streams_refused, cert_expiry;
  metric_t hs_refused, handshakes_in_progress, tunnels_refused;
  metric_histogram_t target_connect; /* by connect outcome */
  metric_t client_cert_expiring;
  metric_t memory_held, memory_limit, fds_held, fds_limit;
  metric_t policy_classes; /* refusals by default class */
  /* certificate lifetimes (tunnel_drain.c, revocation.c) */
  metric_t tunnel_cert_min, crl_next_update;
  metric_t tunnels_cert_ended;
} relay_prom_t;

/* Warn when the relay certificate expires within 30 days (or is in the
 * last third of a shorter lifetime: common/expiry_window.h). */
#define RELAY_CERT_WARN_SECONDS (30 * 86400)
/* ... and about a controller certificate within 14 days, once a day per
 * controller (prom.c: one slot per SPKI hash prefix). */
#define RELAY_CLIENT_CERT_WARN_SECONDS (14 * 86400)
#define RELAY_CLIENT_EXPIRY_SLOTS 256

struct relay {
  relay_config_t cfg;
  char *config_dir;
  char *tunnel_addr;
  char addr_text[80];
  int port;
  policy_t *default_policy; /* when cfg.policy is NULL */
  relay_metrics_t metrics;
  atomic_uint_fast64_t next_tunnel_id;
  /* Per slot: the SPKI prefix and day of the last client_cert_expiring
   * warning, so each controller is warned about once a day. */
  atomic_uint_least64_t client_expiry_warned[RELAY_CLIENT_EXPIRY_SLOTS];

  uv_mutex_t ctx_lock; /* guards ctx and settings */
  struct tls_ctx *ctx;
  /* What a reload may change (settings.h); r->cfg keeps what it found
   * at start (derived limits included) for what needs a restart. */
  relay_settings_t *settings;

  /* Memory and descriptors, shared by every worker (budget.h). */
  budget_t budget;
  uv_timer_t trim_timer; /* gives freed memory back (resources.h) */
  uint64_t trim_mark;    /* budget use at the last look */
  int trim_pending;      /* it fell: trim once it settles */
  /* The pre-authentication budget, shared by the workers (handshake.c). */
  uv_mutex_t admission_lock; /* guards admission and admission_rng */
  admission_t *admission;
  uint64_t admission_rng; /* early-drop dice (xorshift) */

  relay_prom_t prom;
  metrics_http_t *metrics_http; /* on the control loop; NULL = off */
  uv_timer_t expiry_timer;      /* certificate expiry check (reload.c) */
  uint64_t expiry_next_ms;      /* its first run, from relay_new's check */
  /* revocation.c: live tunnels re-checked after a reload; the workers
   * compare recheck_gen with what they saw last */
  atomic_uint_fast64_t recheck_gen;
  atomic_int_least64_t own_not_after; /* ms: the relay cert in use */
  uv_fs_poll_t crl_poll;              /* crl.pem replaced: reload */
  int crl_poll_on;
  /* own_addrs.c: the policy's own_address class kept current */
  uv_timer_t own_timer;
  uv_poll_t own_nl_poll;
  int own_nl_fd;
  int own_nl_active;
  unsigned own_failed; /* getifaddrs failures in a row */

  uv_loop_t loop; /* control loop: signals */
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_async_t stop_async; /* relay_stop() */
  uv_async_t done_async; /* a worker finished */
  atomic_int workers_done;
  atomic_int draining;
  int closing;

  unsigned nworkers;
  unsigned started; /* workers running */
  relay_worker_t *workers;
};

struct relay_worker {
  relay_t *r;
  const relay_tunnel_host_t *host;
  unsigned index;
  uv_thread_t thread;
  uv_loop_t loop;
  int fd; /* bound listening socket */
  uv_tcp_t listener;
  uv_async_t wake; /* drain requests from the control loop */
  uv_timer_t drain_timer;
  /* flushes marked tunnels once per turn, after accepting and reaping
   * (conn/conn_turn.h) */
  conn_turn_t turn;
  uv_tcp_t refuse;    /* takes a connection there is no memory to serve */
  int refuse_busy;    /* refuse is still closing the last one */
  int refuse_waiting; /* a connection waits for refuse (listener paused) */
  int draining;
  int stopping;
  /* Accepting is bounded per loop turn, so a connection flood cannot
   * take the turns of established tunnels: past the burst the listener
   * waits (libuv pauses it) until the turn's check handle. */
  unsigned accepts_this_turn;
  int accept_deferred;
  /* Past the handshake budget's START with nothing to evict, the
   * deferred connection waits for room: this wakes the loop to look. */
  uv_timer_t accept_timer;
  /* How long this worker's recent handshakes took, accept to done (ms,
   * a moving average): handshake.c evicts none younger than a few times
   * this, so a busy host does not evict the handshakes it is slow at. */
  uint64_t hs_typical_ms;
  /* The same for handshake work: past RELAY_HANDSHAKE_BURST reads fed
   * to handshakes in one turn, a handshaking tunnel stops reading (its
   * bytes wait in the kernel) and waits in hs_waiting for the next. */
  unsigned handshakes_this_turn;
  list_link_t hs_waiting;
  list_link_t handshaking; /* admitted handshakes, oldest first */
  list_link_t hs_silent;   /* ... of them, those that sent nothing yet */
  list_link_t tunnels;     /* all tunnels of this loop */
  /* Finished streams, freed by the check handle: a stream ends inside
   * callbacks whose callers still look at it. */
  list_link_t reap;
  uint64_t ntunnels;
  /* tunnel_drain.c: wakes at the next certificate deadline of this
   * worker's tunnels; cert_min is their earliest controller notAfter
   * (ms, 0 none) for the metrics endpoint */
  uv_timer_t cert_timer;
  atomic_int_least64_t cert_min;
  uint64_t recheck_seen; /* r->recheck_gen of the last full re-check */
  uint64_t rechecked, recheck_ended; /* tunnels, in the pass under way */
  conn_wpool_t wpool;                /* tunnel write buffers for reuse */
  /* Payload pieces gathered during one mux_recv() (they point into
   * plain), written afterwards with one writev per stream. The table is
   * the worker's, not each stream's: idle streams stay small. */
  stream_gather_t gather;
  uint8_t tbuf[RELAY_TARGET_READ];  /* target reads (one loop thread) */
  uint8_t rbuf[RELAY_TUNNEL_READ];  /* tunnel reads */
  uint8_t plain[RELAY_TUNNEL_READ]; /* decrypted tunnel bytes */
};

/* A tunnel is a libuv adapter around a connection core (conn/conn.h):
 * socket reads go to conn_feed(), conn_pending() to the socket, one
 * timer follows conn_next_deadline(). */
/* Lookups one tunnel may have in flight (docs/SECURITY.md "Name
 * lookups"); past it a stream's dial fails at once with relay_limit. */
#define RELAY_LOOKUPS_PER_TUNNEL 64

struct relay_tunnel {
  relay_worker_t *w;
  const relay_stream_host_t *host;
  list_link_t link;           /* in w->tunnels */
  conn_turn_item_t turn_item; /* marked in w->turn: output to flush */
  uint64_t id;
  int closing; /* handles closing, or the conn ended */
  int refs;    /* handles + streams */
  uv_tcp_t tcp;
  uv_timer_t timer; /* conn_next_deadline() */
  uv_shutdown_t shutdown_req;
  conn_t *conn;              /* NULL until the TLS session exists */
  admission_source_t source; /* the peer as the budget counts it */
  int in_handshake;          /* counted in the pre-authentication budget */
  list_link_t hs_link;       /* in w->hs_silent, then w->handshaking */
  int hs_heard;              /* it sent bytes: it cost its handshake work */
  list_link_t hs_wait_link;  /* in w->hs_waiting while it waits */
  int hs_waiting;
  int hs_resumed; /* its next read was counted when it was resumed */
  int hs_fed;     /* bytes were read: its ClientHello, once checked */
  int has_slot;   /* counted against --max-tunnels */
  char peer[64];
  /* The client certificate's subject: "" before the handshake, then
   * subject_own, a copy of its exact length (a fixed 256-byte array
   * was 1/100 of an idle tunnel), or "?" when it cannot be read. */
  const char *subject;
  char *subject_own;
  char spki[65];
  /* The controller certificate's notAfter (ms since the epoch, 0
   * unknown), and, once a certificate's end sent Go Away, why
   * (enum relay_cert_end + 1; relay/tunnel_drain.h). */
  int64_t cert_not_after;
  int cert_draining;
  uint64_t recheck_gen; /* r->recheck_gen it was last checked against */
  uint64_t start_ms;
  uint64_t streams_total;
  uint64_t streams_refused; /* reset by the session (caps, go away) */
  uint64_t refused_logged;  /* streams_refused at the last warning */
  uint64_t refused_log_ms;  /* when that warning was logged */
  list_link_t streams;
  /* Name lookups of this tunnel's dials (dial/resolve.h): at most
   * RELAY_LOOKUPS_PER_TUNNEL at once, so one controller's stalled names
   * cannot hold the relay's resolver. */
  resolve_group_t *lookups;
  /* What its streams' cores share: the mux, the dial cap, the byte
   * totals, and confirm_connect, ALPN beacon/1: streams are acknowledged
   * once their target is connected, and refused with a reason
   * (docs/PROTOCOL.md "Connect results (ALPN beacon/1)"). */
  stream_core_tunnel_t shared;
  /* Its account in r->budget, joined once the handshake is accepted;
   * tls_charged is the ciphertext queue it was last charged for. */
  budget_tunnel_t budget;
  size_t tls_charged;
  int mem_paused;           /* not reading: over its share (tunnel_budget.c) */
  uint64_t paused_probe_ms; /* when a paused tunnel next probes */
  /* Its streams' quota (stream_core.h): the stash charged to budget. */
  stream_quota_t quota;
};

/* 1 once the tunnel ends: its streams are being aborted. */
static inline int relay_tunnel_closing(const relay_tunnel_t *t)
{
  return t->closing || (t->conn && conn_state(t->conn) == CONN_CLOSING);
}

/* 1 while the mux runs and the tunnel is not ending. */
static inline int relay_tunnel_up(const relay_tunnel_t *t)
{
  return !t->closing && t->conn && conn_state(t->conn) == CONN_UP;
}

/* The tunnel's mux (NULL before the handshake completed). */
static inline mux_t *relay_tunnel_mux(const relay_tunnel_t *t)
{
  return t->conn ? conn_mux(t->conn) : NULL;
}

/* A stream's adapter (relay_stream.c): the sockets and timers around
 * its core, which holds the protocol (relay/stream_core.h). */
struct relay_stream {
  stream_core_t core;
  relay_tunnel_t *t;
  list_link_t link; /* in t->streams */
  int refs;         /* its own until reaped, and the target conn */
  /* The target line's deadline, on the tunnel's core (conn_deadline_t):
   * the tunnel's one timer serves every stream. */
  conn_deadline_t target_deadline;
  list_link_t reap_link; /* in w->reap once finished */
  dial_t *dial;          /* resolving and connecting (dial/dial.h) */
  dial_conn_t *conn;     /* the target connection */
  /* upstream bytes to the target (conn/conn_uv.h): inflight counts
   * those in a queued write */
  conn_uv_sender_t up;
  uv_shutdown_t shutdown_req;
  uint64_t start_ms;
  uint64_t dial_start_ns; /* uv_hrtime() when the target dial began */
  /* The settings its dial was judged by (settings.h), kept to its end. */
  relay_settings_t *settings;
};

#endif
