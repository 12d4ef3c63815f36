/*
 * conn.h - one tunnel connection as a sans-I/O core: a TLS 1.3 session
 * (tls/tls.h) with a yamux session (mux/mux.h) on top, their flushing
 * and their deadlines, shared by every side that runs a tunnel.
 *
 * The adapter does all I/O and owns the clock (milliseconds, any
 * monotonic origin):
 *   - ciphertext read from the transport goes into conn_feed();
 *   - conn_flush() moves mux output through TLS while less than
 *     high_water bytes of ciphertext wait; conn_pending() then shows the
 *     ciphertext to send, straight from the TLS output queue, and
 *     conn_advance() drops what the transport took. Bytes the adapter
 *     copies into a write of its own that completes later are reported
 *     with conn_advance_queued() and, once written, conn_write_done():
 *     they count against high_water and the write-stall deadline;
 *   - conn_next_deadline() says when to call conn_tick() (handshake,
 *     mux keep-alive, write stall, closing linger, and the adapter's own
 *     deadlines such as each stream's target line, conn_deadline_t), so
 *     one timer per connection serves them all.
 *
 * The mux is created when the handshake completes, from the
 * mux_config_t the adapter passed to conn_new(); its callbacks go to the
 * adapter's table unchanged, with the adapter's user pointer. Connection
 * events come through conn_callbacks_t. A connection ends once, with a
 * reason (enum conn_close_reason): the mux is shut down (every stream
 * gets on_stream_closed; unless keep_mux_on_close), a soft close still queues
 * the pending mux output and close_notify, and on_close tells the adapter to
 * send what is pending and then drop the transport, or at the latest when
 * conn_tick() returns CONN_TICK_DROP (no write progress for
 * write_timeout_ms).
 */
#ifndef BEACON_CONN_H
#define BEACON_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/list.h"
#include "mux/mux.h"
#include "tls/tls.h"

typedef struct conn conn_t;

/* One deadline of the adapter's (a stream's target line, say), embedded
 * in the adapter's object. The core keeps the running ones in time order
 * and merges the earliest into conn_next_deadline(). */
typedef struct conn_deadline {
  list_link_t link; /* in the core's list while running */
  uint64_t when;
} conn_deadline_t;

enum conn_state {
  CONN_HANDSHAKE = 0, /* TLS handshake running, no mux yet */
  CONN_UP = 1,        /* handshake done, mux running */
  CONN_CLOSING = 2    /* ended: sending what is left, then drop */
};

/* Why a connection ended. conn_close_reason_name() gives the word the
 * logs print ("keepalive_timeout"). */
enum conn_close_reason {
  CONN_CLOSE_NONE = 0,      /* "closed": still open, or no reason */
  CONN_CLOSE_EOF,           /* the transport reached end of file */
  CONN_CLOSE_READ_ERROR,    /* reading the transport failed */
  CONN_CLOSE_WRITE_ERROR,   /* writing the transport failed */
  CONN_CLOSE_WRITE_TIMEOUT, /* queued ciphertext made no progress */
  CONN_CLOSE_HANDSHAKE_TIMEOUT,
  CONN_CLOSE_HANDSHAKE_FAILED, /* TLS failure or the adapter refused */
  CONN_CLOSE_KEEPALIVE_TIMEOUT,
  CONN_CLOSE_PROTOCOL_ERROR, /* the peer broke yamux */
  CONN_CLOSE_INTERNAL_ERROR, /* the mux failed otherwise (memory) */
  CONN_CLOSE_TLS_ERROR,      /* a TLS failure after the handshake */
  CONN_CLOSE_NOTIFY,         /* the peer sent close_notify */
  CONN_CLOSE_OUT_OF_MEMORY,
  CONN_CLOSE_DRAIN,         /* shutting down, no streams left */
  CONN_CLOSE_DRAIN_TIMEOUT, /* shutting down, grace period over */
  CONN_CLOSE_ABORT,         /* the adapter gave up for its own reason */
  CONN_CLOSE_REVOKED,       /* the peer's certificate no longer passes */
  CONN_CLOSE_CERT_EXPIRED,  /* a certificate's end, grace period over */
  CONN_CLOSE_REASON_COUNT
};

/* Static name of a reason; "closed" for CONN_CLOSE_NONE. */
const char *conn_close_reason_name(enum conn_close_reason why);
/* 1 when the transport is broken or stuck, so nothing more is sent:
 * write_timeout, write_error, read_error, abort. */
int conn_close_reason_is_hard(enum conn_close_reason why);

typedef struct conn_callbacks {
  /* The TLS handshake completed: the adapter checks the peer (subject,
   * key) through conn_tls(). Return 0 to go on (the mux is created,
   * then on_up), negative to refuse (the adapter logs why; the
   * connection closes with CONN_CLOSE_HANDSHAKE_FAILED). Optional. */
  int (*on_handshake)(conn_t *c, void *ud);
  /* The handshake failed: rc is BEACON_EVERIFY (certificate refused),
   * BEACON_ETLS, BEACON_ETIMEDOUT (handshake_timeout_ms passed) or
   * BEACON_ENOMEM (no memory for the mux); detail is TLS's message or
   * NULL. The close follows. Optional. */
  void (*on_handshake_failed)(conn_t *c, int rc, const char *detail, void *ud);
  /* The mux is running (conn_mux() is set). Optional. */
  void (*on_up)(conn_t *c, void *ud);
  /* Decrypted bytes about to go to mux_recv(), for a trace or a frame
   * observer. Optional. */
  void (*on_plaintext)(conn_t *c, const uint8_t *p, size_t n, void *ud);
  /* One mux_recv() finished (its on_data pointers are still valid, in
   * the plaintext buffer, until the next one). Optional. */
  void (*on_recv_done)(conn_t *c, void *ud);
  /* mux_recv() failed with rc (BEACON_EPROTO: the peer broke the
   * protocol). The close follows. Optional. */
  void (*on_mux_error)(conn_t *c, int rc, void *ud);
  /* The connection ended for why: the mux is shut down (unless
   * keep_mux_on_close) and what is left to send is in conn_pending()
   * (nothing new for a hard reason).
   * Required: the adapter sends it and drops the transport. */
  void (*on_close)(conn_t *c, enum conn_close_reason why, void *ud);
  /* A deadline started with conn_deadline_start() passed; it is stopped
   * first, so the callback may free its owner. Deadlines do not fire once
   * the connection is closing. Optional. */
  void (*on_deadline)(conn_t *c, conn_deadline_t *d, uint64_t now, void *ud);
} conn_callbacks_t;

typedef struct conn_config {
  uint64_t handshake_timeout_ms; /* 0 = none */
  uint64_t write_timeout_ms;     /* stall and closing linger; 0 = none */
  size_t high_water;             /* waiting ciphertext above which no more
                                    mux output is encrypted; 0 = 1 MiB */
  size_t near_high_water;        /* high_water while the mux's round trip
                                    is a near path's (path_marks.h), which
                                    also sets the stream queue share and
                                    the socket's unsent bytes; 0 = fixed
                                    marks */
  size_t read_high_water;        /* waiting ciphertext above which
                                    conn_want_read() says stop; 0 = never */
  size_t flush_slice;            /* mux bytes per TLS write; 0 = 64 KiB */
  /* Plaintext buffer for mux_recv(), shared by the connections of one
   * thread; NULL = the connection allocates plain_cap bytes. */
  uint8_t *plain;
  size_t plain_cap; /* 0 = 64 KiB */
  /* 1: conn_close() leaves the mux running, for an adapter that ends
   * its streams later, outside every callback (conn_free() frees the
   * mux without callbacks); 0: the close shuts it down at once. */
  int keep_mux_on_close;
  mux_config_t mux; /* copied; used when the handshake completes */
} conn_config_t;

/* Fills *cfg: no timeouts, default sizes, mux_config_default(). */
void conn_config_default(conn_config_t *cfg);

/*
 * A new connection on a new TLS session of ctx (a reference is taken by
 * TLS). expected_host: for a client, the name the server's certificate
 * must carry; NULL for a server. cb and mux_cb are copied; mux_cb goes
 * to mux_new() with ud, so mux and connection callbacks share ud. A client
 * starts its handshake at once (conn_pending() has the ClientHello). NULL on
 * OOM.
 */
BEACON_MUST_USE conn_t *conn_new(const conn_config_t *cfg, tls_ctx_t *ctx,
                                 const char *expected_host,
                                 const conn_callbacks_t *cb,
                                 const mux_callbacks_t *mux_cb, void *ud,
                                 uint64_t now);
/* Frees everything without callbacks; running deadlines are stopped.
 * NULL allowed. */
void conn_free(conn_t *c);

/* Ciphertext from the transport: drives the handshake, then decrypts
 * and feeds the mux (events come through the callbacks). Ignored once
 * closing. Returns 0, or a negative code when the connection closed. */
int conn_feed(conn_t *c, const uint8_t *in, size_t len, uint64_t now);

/* Encrypts mux output while less than high_water bytes wait. Returns 0,
 * or a negative code when the connection closed (tls_error). */
int conn_flush(conn_t *c, uint64_t now);
/* Ciphertext to send, zero copy: *p is valid until the next call on c
 * other than the queries below. 0 when nothing waits. */
size_t conn_pending(conn_t *c, const uint8_t **p);
/* The transport wrote n bytes of conn_pending(): write progress. */
void conn_advance(conn_t *c, size_t n);
/* The adapter copied n bytes of conn_pending() into a write of its own
 * still in flight: they leave the TLS queue but keep counting. */
void conn_advance_queued(conn_t *c, size_t n);
/* n bytes of such a write completed: write progress. */
void conn_write_done(conn_t *c, size_t n, uint64_t now);

/* Bytes in the adapter's writes in flight (conn_advance_queued). */
size_t conn_queued(const conn_t *c);
/* Ciphertext waiting: in TLS's queue plus in the adapter's writes. */
size_t conn_waiting(const conn_t *c);
/* Mux output not yet encrypted. */
size_t conn_unencrypted(const conn_t *c);
/* 1 when the marks (conn_config_t near_high_water) want a new
 * TCP_NOTSENT_LOWAT on the socket since the last call: *bytes, 0 for
 * the system's default. The adapter sets it (tunnel_socket.h). */
int conn_take_notsent_lowat(conn_t *c, int *bytes);
/* 1 while conn_flush() would encrypt more (below high_water). */
int conn_want_flush(const conn_t *c);
/* 1 while the adapter should read the transport: not closing, and
 * less than read_high_water bytes of ciphertext wait. */
int conn_want_read(const conn_t *c);

/* Timers. conn_tick() returns CONN_TICK_DROP when a closing connection
 * made no write progress for write_timeout_ms (the adapter drops the
 * transport), else 0. */
#define CONN_TICK_DROP 1
BEACON_MUST_USE int conn_tick(conn_t *c, uint64_t now);
/* When conn_tick() next has work, or UINT64_MAX. */
uint64_t conn_next_deadline(const conn_t *c);
/* Makes d a blank, stopped deadline (before any other call with it). */
void conn_deadline_init(conn_deadline_t *d);
/* (Re)starts d to pass at when: merged into conn_next_deadline(), and
 * on_deadline runs from the conn_tick() at or after it. */
void conn_deadline_start(conn_t *c, conn_deadline_t *d, uint64_t when);
/* Stops d; harmless when it is not running. */
void conn_deadline_stop(conn_deadline_t *d);
/* 1 while d is running. */
int conn_deadline_running(const conn_deadline_t *d);

/* Ends the connection (no-op when already closing); see above. */
void conn_close(conn_t *c, enum conn_close_reason why, uint64_t now);

enum conn_state conn_state(const conn_t *c);
/* CONN_CLOSE_NONE while open. */
enum conn_close_reason conn_close_reason(const conn_t *c);
/* 1 inside mux_recv(): on_data pointers are in the plaintext buffer. */
int conn_in_recv(const conn_t *c);
/* The mux (NULL before the handshake completed). */
mux_t *conn_mux(const conn_t *c);
tls_conn_t *conn_tls(const conn_t *c);

#endif
