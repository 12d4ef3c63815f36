/*
 * client_int.h - internals of libbeacon's controller side
 * (docs/ARCHITECTURE.md "libbeacon", docs/ARCHITECTURE.md "Threads").
 * Everything here runs on the tunnel's loop thread except the request hand-off
 * (client_req_t's shared fields, under tunnel->lock).
 *
 * Objects:
 *   beacon_tunnel_t   one loop thread, a loopback listener used to make
 *                     the caller's socket pairs, a list of chains, and
 *                     hop 0's pool (client_member_t, members.c: one
 *                     current chain per member);
 *   client_chain_t    one connection through every hop of the chain:
 *                     hop 0 rides a uv_tcp_t, hop k+1 rides a stream of
 *                     hop k's mux (its TLS records are that stream's
 *                     payload);
 *   client_stream_t   one dialled stream of the innermost hop, pumped to
 *                     the library end of the caller's socket pair;
 *   client_req_t      a beacon_dial() call in flight.
 *
 * Teardown never happens inside a mux callback: failures only mark the
 * chain, and the tunnel's check handle tears it down.
 *
 * This header holds types and inline views only; each file's functions
 * are in its own header, and the files depend one way (docs/ARCHITECTURE.md
 * "Dependencies"): tunnel.c -> members.c -> member_state.c -> chain.c ->
 * chain_hop.c -> chain_output.c -> carrier.c -> chain_state.c ->
 * dialled_stream.c, all of them -> req.c; pool.c (sans-I/O) below
 * members.c.
 * Chains and streams reach the tunnel handle only through
 * client_tunnel_host_t.
 */
#ifndef BEACON_CLIENT_INT_H
#define BEACON_CLIENT_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "beacon/beacon.h"
#include "client/client_pool.h"
#include "client/pool.h"
#include "common/error.h"
#include "common/list.h"
#include "common/outcome.h"
#include "conn/conn.h"
#include "dial/dial.h"
#include "conn/conn_turn.h"
#include "conn/conn_uv.h"
#include "conn/pump.h"
#include "mux/mux.h"
#include "target/target.h"
#include "tls/pin.h"
#include "tls/tls.h"

#define CLIENT_MAX_HOPS 8
/* Ciphertext queued on hop 0's socket before mux output stops being
 * encrypted (the mux queue then fills and streams stop reading). */
#define CLIENT_HIGH_WATER (256 * 1024)
/* The same on a path of microseconds (conn/path_marks.h). */
#define CLIENT_NEAR_HIGH_WATER (1024 * 1024)
/* Capacity asked for a local pipe (stdin, stdout of beacon connect). */
#define CLIENT_PIPE_SIZE (1024 * 1024)
/* Slice moved at once: local reads, TLS input, inner-hop ciphertext. */
#define CLIENT_CHUNK (64 * 1024)
/* Reads from the relay, and the plaintext one mux_recv() gets: larger
 * than the relay's 64 KiB frames, so a frame reaches its stream as one
 * piece (one write to the caller) instead of one per TLS record. */
#define CLIENT_SOCKET_READ (256 * 1024)
#define CLIENT_PLAIN (256 * 1024)

/* One hop's alternatives ("a:8456,b:8456", client/pool.h). */
typedef struct client_hop_pool {
  int n;
  target_t members[POOL_MAX_MEMBERS];
} client_hop_pool_t;

/* A member that answers nothing this long after a stream was opened on
 * it loses the stream to the next member (docs/ARCHITECTURE.md "Relay
 * pools"). */
#define CLIENT_MEMBER_OPEN_MS 2000
/* One-shot callers: a member whose connection is not up this long gets a
 * parallel attempt on the next one. */
#define CLIENT_MEMBER_STAGGER_MS 250

struct beacon_config {
  int nrelays;
  client_hop_pool_t relays[CLIENT_MAX_HOPS];
  int pool_size; /* members of hop 0 kept connected; 0: all */
  int log_pool;  /* log member state changes (the beacon command) */
  char *cert, *key, *ca;
  char *crl;       /* revoked relay certificates; NULL: none */
  tls_pins_t pins; /* relay key pins; none: the Fleet CA alone */
  int dial_ms, handshake_ms, open_ms;
  int keepalive_ms, keepalive_timeout_ms;
  size_t window_budget; /* mux_config_t.window_budget of every hop */
  char congestion[16];  /* TCP_CONGESTION of tunnel sockets; "" = default */
  beacon_log_fn log_fn; /* NULL: warnings on stderr (own_files.c) */
  void *log_ud;
};

typedef struct client_chain client_chain_t;

/* What a stat() of a watched file showed: a change of any field (a
 * rename over it included) means reload. */
#define CLIENT_WATCHED_FILES 4 /* certificate, key, CA, CRL */
typedef struct client_file_sig {
  int err; /* errno of stat(), 0 when it worked */
  uint64_t dev, ino, size;
  int64_t mtime_ns, ctime_ns;
} client_file_sig_t;
typedef struct client_stream client_stream_t;

/* One relay of hop 0's pool and its current chain (its state is an enum
 * client_member_state, client/client_pool.h). Counters are read from
 * other threads under tunnel->lock (client_pool_snapshot). */
typedef struct client_member {
  int state;
  char name[CLIENT_MEMBER_NAME_MAX];
  target_t relay; /* its name: the TLS name and the logs' */
  target_t dial;  /* what to connect to: relay, or one of its addresses */
  int source;     /* index in tunnel->sources it came from; -1: configured */
  /* fleet_watch.c: its name no longer lists it. It takes no new
   * streams; its slot is reused once no chain refers to it. */
  int gone;
  uint16_t priority, weight; /* DNS SRV (RFC 2782); 0 otherwise */
  client_chain_t *chain;     /* NULL when none */
  /* A chain with a renewed certificate being set up (rotation.c): it
   * takes chain's place once up, and chain drains (make before break). */
  client_chain_t *successor;
  uint64_t renew_retry_at; /* after a renewal failed: not before then */
  unsigned attempt;        /* failures since it last stayed up */
  uint64_t retry_at;       /* MEMBER_DOWN in a warm pool */
  uint64_t up_since;
  uint64_t reconnects, failovers;
  uint32_t streams; /* open streams, refreshed by the loop */
  uint64_t rtt_ms;
  char last_error[200];
} client_member_t;
typedef struct client_tunnel_host client_tunnel_host_t;

/* A pool name fleet_watch.c looks up again and again: "host:port" (its
 * addresses are members) or "srv:NAME" (its SRV records are). */
typedef struct client_source {
  beacon_tunnel_t *t;
  target_t name;           /* port 0: srv:NAME (client/pool.h) */
  int member;              /* dials the name until it resolves; -1 */
  struct resolve_query *q; /* the lookup in flight, NULL when none */
  uint64_t next_at;        /* when to look it up again */
} client_source_t;

typedef struct client_req {
  /* shared with the caller, under tunnel->lock */
  int refs;
  int done;
  int abandoned;
  int result;
  beacon_error_t err;
  pthread_cond_t cond;
  /* loop side */
  list_link_t link;
  char line[TARGET_MAX_LINE + 4]; /* "host:port\n" */
  size_t line_len;
  int lfd; /* the library end of the pair until a stream takes it */
  /* client_dial_fds(): the loop's own copies of the caller's
   * descriptors (-1 otherwise); in_fd == out_fd for one socket. */
  int in_fd, out_fd;
  int open_ms;
  int retried;
  uint64_t deadline;         /* the whole dial, on the loop's clock */
  uint64_t attempt_deadline; /* the stream open on this member */
  uint32_t tried;            /* hop 0 members that failed this dial */
  int may_retry_same;        /* a proven connection died: one more round */
  beacon_error_t last_err;   /* the last member's failure */
  const char *relay;         /* the member that took the stream, or the
                                last one that failed it */
  /* a failure the relay reported about the target (its beacon/1 reason
   * or a reset without one); OUTCOME_OK for every other failure, which
   * is the tunnel's (outcome_classify) */
  outcome_t verdict;
  char tried_log[400]; /* "member: why; ..." for the final error */
  /* client_dial_fds(): how the stream ended, under tunnel->lock */
  int want_end;
  int confirmed; /* the ACK meant: the target is connected */
  int ended;
  int end_code; /* 0, or BEACON_E* */
  outcome_t end_outcome;
  uint64_t bytes_up, bytes_down;
  /* client_stream_finish(): queued on tunnel->finishing (under the
   * lock); stream is the loop's, set while the stream lives */
  int finish_queued;
  list_link_t finish_link;
  struct client_stream *stream;
} client_req_t;

/* A local end the loop reads or writes: a socket, a pipe or a terminal. */
typedef union client_local {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  uv_tty_t tty;
} client_local_t;

/* Stream user data in the innermost hop's mux (the outer hops' streams
 * are carriers, client_carrier_t, with a mux callback table of their
 * own: carrier.c). */
struct client_stream {
  beacon_tunnel_t *t;
  client_chain_t *s; /* NULL once detached */
  uint32_t sid;      /* 0 once the stream is gone */
  client_req_t *req; /* until the relay acknowledges */
  /* until then: the open's deadline, on the innermost hop's core
   * (conn_deadline_t), whose timer serves every stream of the chain */
  conn_deadline_t open_deadline;
  uint64_t opened_at;
  uint64_t probed_at;  /* the last ping asking whether the relay lives */
  list_link_t link;    /* s->streams */
  client_req_t *owner; /* client_dial_fds(): told when the stream ends */
  int discard;         /* the caller stopped reading: drop what comes */
  client_local_t in_h, out_h;
  uv_stream_t *in, *out; /* out == in for one socket */
  int nopen;             /* local handles not yet closed */
  int local_open;
  /* how it ended (common/outcome.h): OUTCOME_OK until decided, then
   * the first one decided stands */
  outcome_t outcome;
  uint64_t bytes_up, bytes_down;
  int closing;
  int reading;
  int shut_sent;
  int shut_done;
  uint8_t *rbuf;
  pump_t pump; /* stash, EOF to FIN, window give-back */
  /* to the caller's end (conn/conn_uv.h); inflight: bytes queued */
  conn_uv_sender_t down;
};

typedef struct client_hop client_hop_t;

/* Pieces of one mux_recv() kept by reference; more are copied. */
#define CLIENT_CARRIER_PIECES 16

/* A carrier: the stream of hop k's mux whose payload is hop k+1's
 * ciphertext (carrier.c), its user data in that mux. What arrives
 * during one mux_recv() of hop k is gathered here and fed to hop k+1
 * once that mux_recv() is done (hop k's on_recv_done), not from inside
 * it: pieces by reference (valid in hop k's plaintext buffer until its
 * next mux_recv), beyond CLIENT_CARRIER_PIECES copied into spill. */
typedef struct client_carrier {
  client_hop_t *child; /* the hop riding on it */
  uint32_t sid;        /* in the previous hop's mux; 0 once gone */
  unsigned npieces;
  struct {
    const uint8_t *p;
    size_t n;
  } piece[CLIENT_CARRIER_PIECES];
  uint8_t *spill;
  size_t spill_len, spill_cap;
} client_carrier_t;

/* One hop: TLS and mux in a connection core (conn/conn.h), with its own
 * CLIENT_PLAIN buffer for decrypted input. */
struct client_hop {
  client_chain_t *s;
  int index;
  conn_t *conn; /* NULL until its TLS starts */
  int up;
  client_carrier_t carrier; /* in hop index-1's mux; hop 0 uses the socket */
};

enum client_chain_state {
  CHAIN_CONNECTING = 0, /* resolving and dialling hop 0 */
  CHAIN_HANDSHAKE,
  CHAIN_UP,
  CHAIN_FAILED
};

struct client_chain {
  beacon_tunnel_t *t;
  uint64_t id;
  int member;                             /* index in hop 0's pool */
  const target_t *relay[CLIENT_MAX_HOPS]; /* each hop's chosen member */
  const target_t *dial0; /* where hop 0 connects (an address of relay[0]) */
  int stalled;         /* a stream open got no answer and nothing else came */
  uint64_t last_input; /* when the relay last sent anything */
  /* when the innermost relay, which dials the targets, last answered a
   * ping: alive, so a stream it has not acknowledged is a slow dial */
  uint64_t inner_pong_at;
  /* Hop 0's round trip, smoothed, for choosing a member: our own, so
   * that the answer to a ping sent before a stall (seconds late) is not
   * taken for the path's latency. */
  uint64_t rtt_ms;
  uint64_t resumed_at; /* when it last spoke again after a stall */
  uint64_t probed_at;  /* when the pool last asked for a ping */
  list_link_t link;    /* t->chains */
  int state;
  int proven;     /* plaintext arrived on the innermost hop */
  int going_away; /* Go Away seen on any hop */
  int retired;    /* replaced by a chain with a renewed certificate */
  /* Validity of our own certificate this chain presented (the first
   * hop's; 0 before its TLS started), for rotation.c. */
  int64_t cert_not_before, cert_not_after;
  uint64_t recheck_gen; /* the t->ctx_gen its relays were checked at */
  int torn_down;
  int refs;          /* base + handles + the dial in flight */
  dial_t *dial;      /* resolving and connecting to hop 0 (Happy Eyeballs) */
  dial_conn_t *sock; /* hop 0's socket once connected */
  uv_timer_t timer;
  uint64_t dial_deadline;
  conn_wpool_t wpool; /* hop 0 write buffers for reuse */
  int nhops;
  client_hop_t hops[CLIENT_MAX_HOPS];
  list_link_t waiting; /* requests waiting for the chain */
  list_link_t streams;
  beacon_error_t err;
  uint8_t rbuf[CLIENT_SOCKET_READ];
};

struct beacon_tunnel {
  const client_tunnel_host_t *host;
  beacon_config_t cfg;
  tls_ctx_t *ctx;
  uv_loop_t loop;
  uv_async_t async;
  /* Output coalesced per loop turn (conn/conn_turn.h): one item, the
   * tunnel, whose flush services every chain. */
  conn_turn_t turn;
  conn_turn_item_t turn_item;
  pthread_t thread;
  int stopped; /* loop side: no new work */
  pthread_mutex_t lock;
  list_link_t submitted;
  list_link_t finishing; /* client_stream_finish() requests */
  int stopping;
  pthread_mutex_t pair_lock;
  int listen_fd;
  struct sockaddr_in listen_addr;
  list_link_t chains;
  uint64_t next_chain;
  /* When cert_expiring was last said (Unix time), to repeat it daily. */
  _Atomic int64_t expiry_warned;
  /* rotation.c: the identity files' state at the last load, and renewal */
  uv_timer_t rotation_timer;
  client_file_sig_t files_seen[CLIENT_WATCHED_FILES];
  int files_failed;           /* the files as seen did not load: said once */
  int64_t not_renewed_warned; /* notAfter cert_not_renewed was said for */
  /* Identity reloads (beacon_tunnel_reload(), under lock), for
   * relay_recheck.c. */
  uint64_t ctx_gen;
  /* hop 0's pool (members.c) */
  int nmembers;
  client_member_t members[POOL_MAX_MEMBERS];
  int order[POOL_MAX_MEMBERS]; /* members in random order */
  int warm;                    /* keep every member connected */
  int want_warm;               /* client_tunnel_warm(), under lock */
  int dials;                   /* dispatches seen: the second warms */
  list_link_t pending;         /* requests no member could take yet */
  uv_timer_t pool_timer;
  uv_timer_cb pool_service; /* what pool_timer runs (members.c) */
  uint64_t last_hunt;       /* when a member was last started for pending */
  /* fleet_watch.c: the pool's names, looked up again after their TTL */
  int nsources;
  client_source_t sources[POOL_MAX_MEMBERS];
  uv_timer_t fleet_timer;
  uint32_t rng;
};

/* What chains report to their tunnel handle; tunnel.c fills it in, so
 * that the chain's files and dialled_stream.c call no function of tunnel.c. */
struct client_tunnel_host {
  /* Some chain has work: the loop's turn (conn/conn_turn.h) services every
   * chain at the end of this turn. */
  void (*dirty)(beacon_tunnel_t *t);
  /* Runs a request (again, after its chain failed) on a usable chain. */
  void (*dispatch)(beacon_tunnel_t *t, client_req_t *req);
  /* The TLS context for a new hop, with a reference for the caller:
   * beacon_tunnel_reload() may swap it from another thread. */
  tls_ctx_t *(*ctx_get)(beacon_tunnel_t *t);
  /* A request failed on chain `from` before its relay acknowledged the
   * stream: the pool moves it to another member or finishes it. */
  void (*failover)(beacon_tunnel_t *t, client_req_t *req, client_chain_t *from,
                   const beacon_error_t *why);
  /* A chain came up, got Go Away, stalled or recovered, failed, or was
   * torn down (torn_down set: the last call for it). */
  void (*chain_changed)(beacon_tunnel_t *t, client_chain_t *s);
  /* The identity files changed on disk: load them into a new context
   * (beacon_tunnel_reload()); 0 or BEACON_E* with err filled. */
  int (*reload)(beacon_tunnel_t *t, beacon_error_t *err);
};

/* xorshift32: member order and choice need spread, not secrecy. */
static inline uint32_t client_rand(beacon_tunnel_t *t)
{
  uint32_t x = t->rng ? t->rng : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  t->rng = x;
  return x;
}

static inline void client_chain_changed(client_chain_t *s)
{
  s->t->host->chain_changed(s->t, s);
}

static inline void client_dirty(beacon_tunnel_t *t)
{
  t->host->dirty(t);
}

/* The innermost hop's mux (NULL before its handshake completed). */
static inline mux_t *client_chain_mux(const client_chain_t *s)
{
  const client_hop_t *h = &s->hops[s->nhops - 1];
  return h->conn ? conn_mux(h->conn) : NULL;
}

/* 1 when the innermost relay acknowledges a stream only once its target
 * is connected (ALPN beacon/1, docs/PROTOCOL.md "Connect results (ALPN
 * beacon/1)"). */
static inline int client_chain_confirms(const client_chain_t *s)
{
  const client_hop_t *h = &s->hops[s->nhops - 1];
  return h->conn && tls_conn_beacon_alpn(conn_tls(h->conn));
}

#endif
