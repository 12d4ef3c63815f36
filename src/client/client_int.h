/*
 * client_int.h - internals of libbeacon's controller side
 * (docs/ARCHITECTURE.md "libbeacon", docs/ARCHITECTURE.md "Threads").
 * Everything here runs on the tunnel's loop thread except the request hand-off
 * (client_req_t's shared fields, under tunnel->lock).
 *
 * Objects:
 *   beacon_tunnel_t   one loop thread, a loopback listener used to make
 *                     the caller's socket pairs, a list of chains;
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
 */
#ifndef BEACON_CLIENT_INT_H
#define BEACON_CLIENT_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "beacon/beacon.h"
#include "common/error.h"
#include "common/list.h"
#include "conn/conn.h"
#include "conn/conn_uv.h"
#include "mux/mux.h"
#include "target/target.h"
#include "tls/tls.h"

#define CLIENT_MAX_HOPS 8
/* Ciphertext queued on hop 0's socket before mux output stops being
 * encrypted (the mux queue then fills and streams stop reading). */
#define CLIENT_HIGH_WATER (256 * 1024)
/* Slice moved at once: local reads, TLS input, inner-hop ciphertext. */
#define CLIENT_CHUNK (64 * 1024)
/* Reads from the relay, and the plaintext one mux_recv() gets: larger
 * than the relay's 64 KiB frames, so a frame reaches its stream as one
 * piece (one write to the caller) instead of one per TLS record. */
#define CLIENT_SOCKET_READ (256 * 1024)
#define CLIENT_PLAIN (256 * 1024)

struct beacon_config {
  int nrelays;
  target_t relays[CLIENT_MAX_HOPS];
  char *cert, *key, *ca;
  int dial_ms, handshake_ms, open_ms;
  int keepalive_ms, keepalive_timeout_ms;
  size_t window_budget; /* mux_config_t.window_budget of every hop */
};

typedef struct client_chain client_chain_t;
typedef struct client_stream client_stream_t;

/* Stream user data in a mux is tagged: a carrier for the next hop, or a
 * caller's stream. */
enum client_sud_kind { CLIENT_SUD_HOP = 1, CLIENT_SUD_STREAM = 2 };

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
  /* client_dial_fds(): how the stream ended, under tunnel->lock */
  int want_end;
  int confirmed; /* the ACK meant: the target is connected */
  int ended;
  int end_code; /* 0, or BEACON_E* */
  const char *end_outcome;
  uint64_t bytes_up, bytes_down;
} client_req_t;

/* A local end the loop reads or writes: a socket, a pipe or a terminal. */
typedef union client_local {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  uv_tty_t tty;
} client_local_t;

struct client_stream {
  int kind; /* CLIENT_SUD_STREAM */
  beacon_tunnel_t *t;
  client_chain_t *s; /* NULL once detached */
  uint32_t sid;      /* 0 once the stream is gone */
  client_req_t *req; /* until the relay acknowledges */
  uint64_t open_deadline;
  list_link_t link;    /* s->streams */
  client_req_t *owner; /* client_dial_fds(): told when the stream ends */
  client_local_t in_h, out_h;
  uv_stream_t *in, *out; /* out == in for one socket */
  int nopen;             /* local handles not yet closed */
  int local_open;
  const char *outcome; /* how the stream ended: "ok", "reset_by_target",
                          "reset_by_client", "tunnel_lost", "error" */
  uint64_t bytes_up, bytes_down;
  int closing;
  int reading;
  int local_eof;
  int fin_sent;
  int shut_sent;
  int shut_done;
  uint8_t *rbuf;
  size_t stash_off, stash_len; /* bytes read but not taken by the mux */
  size_t wpending;             /* bytes queued on the local socket */
};

/* One hop: TLS and mux in a connection core (conn/conn.h), with its own
 * CLIENT_PLAIN buffer for decrypted input (an inner hop's input arrives
 * while the outer hop's mux_recv() still reads its buffer). */
typedef struct client_hop {
  int kind; /* CLIENT_SUD_HOP: stream user data of its carrier */
  client_chain_t *s;
  int index;
  conn_t *conn; /* NULL until its TLS starts */
  int up;
  uint32_t carrier_sid; /* in hop index-1's mux; hop 0 uses the socket */
} client_hop_t;

enum client_chain_state {
  CHAIN_RESOLVING = 0,
  CHAIN_CONNECTING,
  CHAIN_HANDSHAKE,
  CHAIN_UP,
  CHAIN_FAILED
};

struct client_chain {
  beacon_tunnel_t *t;
  uint64_t id;
  list_link_t link; /* t->chains */
  int state;
  int proven;     /* plaintext arrived on the innermost hop */
  int going_away; /* Go Away seen on any hop */
  int torn_down;
  int resolving; /* getaddrinfo in flight */
  int refs;      /* base + handles + requests in flight */
  uv_tcp_t tcp;
  int tcp_init;
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  uv_connect_t conn;
  struct addrinfo *ai, *ai_next;
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
  beacon_config_t cfg;
  tls_ctx_t *ctx;
  uv_loop_t loop;
  uv_async_t async;
  uv_check_t check;
  uv_idle_t idle;
  pthread_t thread;
  int dirty;
  int stopped; /* loop side: no new work */
  pthread_mutex_t lock;
  list_link_t submitted;
  int stopping;
  pthread_mutex_t pair_lock;
  int listen_fd;
  struct sockaddr_in listen_addr;
  client_chain_t *cur;
  list_link_t chains;
  uint64_t next_chain;
};

/* tunnel.c */
void client_dirty(beacon_tunnel_t *t);
void client_dispatch(beacon_tunnel_t *t, client_req_t *req);
/* Completes a request; returns 1 when the caller still waits for it (it
 * now owns the result), 0 when it gave up (the loop must undo). */
int client_req_finish(beacon_tunnel_t *t, client_req_t *req, int code,
                      const beacon_error_t *err);
void client_req_ref(beacon_tunnel_t *t, client_req_t *req);
void client_req_unref(beacon_tunnel_t *t, client_req_t *req);
/* client_dial_fds(): the stream ended; wakes client_stream_wait(). */
void client_req_end(beacon_tunnel_t *t, client_req_t *req, int code,
                    const char *outcome, uint64_t up, uint64_t down);
void client_error_set(beacon_error_t *e, int code, int hop, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/* chain.c */
client_chain_t *client_chain_new(beacon_tunnel_t *t);
void client_chain_submit(client_chain_t *s, client_req_t *req);
void client_chain_fail(client_chain_t *s, int hop, int code, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
/* Flushes output, tears down a failed chain, re-arms its timer. */
void client_chain_service(client_chain_t *s);
void client_chain_release(client_chain_t *s);
mux_t *client_chain_mux(client_chain_t *s); /* innermost */
/* 1 when the innermost relay acknowledges a stream only once its target
 * is connected (ALPN beacon/1, docs/PROTOCOL.md "Connect results (ALPN
 * beacon/1)"). */
int client_chain_confirms(client_chain_t *s);

/* stream.c */
client_stream_t *client_stream_open(client_chain_t *s, client_req_t *req);
void client_stream_on_ack(client_stream_t *p);
void client_stream_on_data(client_stream_t *p, const uint8_t *d, size_t n);
void client_stream_on_fin(client_stream_t *p);
void client_stream_on_reset(client_stream_t *p);
void client_stream_on_writable(client_stream_t *p);
void client_stream_on_closed(client_stream_t *p);
/* The chain is gone: detach and reset the caller's socket. */
void client_stream_abort(client_stream_t *p);
/* A stream not yet acknowledged failed: the request gets `err` (or is
 * retried by the caller of this); frees the stream. */
client_req_t *client_stream_take_req(client_stream_t *p);

#endif
