/*
 * conn_uv.h - the adapters' one libuv path from a connection core to a
 * socket. The core itself does no I/O (conn.h); the relay's tunnels and
 * libbeacon's hop 0 both hand its ciphertext to a uv stream the same
 * way, so they share this: write straight from the TLS queue while
 * libuv queues nothing, copy the rest into one recycled buffer.
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

#endif
