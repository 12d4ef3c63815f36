/*
 * conn_uv.h - the adapters' one libuv path from a connection core to a
 * socket, and from a stream to its local socket. The core itself does
 * no I/O (conn.h); the relay's tunnels and libbeacon's hop 0 both hand
 * its ciphertext to a uv stream the same way, so they share this: write
 * straight from the TLS queue while libuv queues nothing, copy the rest
 * into one recycled buffer (conn_uv_write), in one flush loop
 * (conn_uv_flush). A stream's payload to its local end (the relay's
 * target, the controller's caller) goes the same way, "try the write,
 * queue the rest, report completion" (conn_uv_send).
 */
#ifndef BEACON_CONN_UV_H
#define BEACON_CONN_UV_H

#include <stddef.h>
#include <uv.h>

#include "conn/conn.h"

typedef struct conn_wchunk conn_wchunk_t;

/* Write buffers kept for reuse instead of malloc/free per flush: at most
 * `keep` of them, none larger than CONN_WPOOL_KEEP_MAX. One pool per
 * loop-thread owner (a relay worker, a libbeacon chain). */
typedef struct conn_wpool {
  conn_wchunk_t *free;
  unsigned nfree;
  unsigned keep;
} conn_wpool_t;

#define CONN_WPOOL_KEEP_MAX (256 * 1024)

/* A write queued by conn_uv_write() completed with libuv's status; its
 * `len` bytes are to be reported with conn_write_done() (the buffer is
 * already back in the pool). */
typedef void (*conn_uv_written_cb)(void *owner, size_t len, int status);

void conn_wpool_init(conn_wpool_t *pool, unsigned keep);
/* Frees the kept buffers; no write may be in flight. */
void conn_wpool_clear(conn_wpool_t *pool);

/* Hands c's pending ciphertext to sock: what uv_try_write() takes is
 * conn_advance()d, the rest is copied into one uv_write() reported with
 * conn_advance_queued(). 0, BEACON_ENOMEM or BEACON_EIO. */
BEACON_MUST_USE int conn_uv_write(conn_t *c, uv_stream_t *sock,
                                  conn_wpool_t *pool, conn_uv_written_cb cb,
                                  void *owner);

/* The flush loop of both adapters: encrypts c's mux output (conn_flush)
 * and hands it to sock (conn_uv_write) for as long as the socket takes
 * everything at once and the mux has less each time; then no write
 * completion would bring the adapter back, so it goes on here (bounded by
 * the mux queue; reads are not served in between). Nothing for a closing
 * connection. 0, or a negative code: the core closed (conn_state() is
 * CONN_CLOSING and on_close ran), or with the connection still open the
 * write failed (the adapter ends it, CONN_CLOSE_WRITE_ERROR). */
BEACON_MUST_USE int conn_uv_flush(conn_t *c, uv_stream_t *sock,
                                  conn_wpool_t *pool, conn_uv_written_cb cb,
                                  void *owner, uint64_t now);

/* One stream's writes to its local socket: what the socket takes at
 * once (uv_try_write, no copy) and the rest copied into one queued
 * write; inflight counts the queued bytes, and cb reports each queued
 * write's completion (len, libuv's status; UV_ECANCELED when the socket
 * closed first). Order holds: nothing is tried while a write is queued. */
typedef struct conn_uv_sender {
  uv_stream_t *sock;
  size_t inflight;
  conn_uv_written_cb cb;
  void *owner;
} conn_uv_sender_t;

void conn_uv_sender_init(conn_uv_sender_t *snd, uv_stream_t *sock,
                         conn_uv_written_cb cb, void *owner);
/* Sends the n buffers in order: returns the bytes the socket took at
 * once (the rest is queued and comes back through cb), or a negative
 * libuv code (UV_ENOMEM: no memory for the copy; else the socket's
 * error), with nothing queued. */
BEACON_MUST_USE int64_t conn_uv_send(conn_uv_sender_t *snd,
                                     const uv_buf_t *bufs, unsigned n);

#endif
