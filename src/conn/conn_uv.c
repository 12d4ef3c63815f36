/*
 * conn_uv.c - a connection core's ciphertext to a libuv stream, with
 * recycled write buffers (conn_uv.h).
 */
#include "conn/conn_uv.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/tunnel_socket.h"

/* Smallest buffer allocated: small writes still get one worth keeping. */
#define CONN_WCHUNK_MIN (32 * 1024)

struct conn_wchunk {
  uv_write_t req;
  conn_wpool_t *pool;
  conn_uv_written_cb cb;
  void *owner;
  conn_wchunk_t *next; /* in pool->free */
  size_t len, cap;
  uint8_t data[];
};

void conn_wpool_init(conn_wpool_t *pool, unsigned keep)
{
  pool->free = NULL;
  pool->nfree = 0;
  pool->keep = keep;
}

void conn_wpool_clear(conn_wpool_t *pool)
{
  while(pool->free) {
    conn_wchunk_t *c = pool->free;
    pool->free = c->next;
    free(c);
  }
  pool->nfree = 0;
}

static conn_wchunk_t *wchunk_get(conn_wpool_t *pool, size_t need)
{
  for(conn_wchunk_t **pp = &pool->free; *pp; pp = &(*pp)->next) {
    conn_wchunk_t *c = *pp;
    if(c->cap >= need) {
      *pp = c->next;
      pool->nfree--;
      return c;
    }
  }
  size_t cap = need < CONN_WCHUNK_MIN ? CONN_WCHUNK_MIN : need;
  conn_wchunk_t *c = malloc(sizeof(*c) + cap);
  if(c)
    c->cap = cap;
  return c;
}

static void wchunk_put(conn_wpool_t *pool, conn_wchunk_t *c)
{
  if(pool->nfree >= pool->keep || c->cap > CONN_WPOOL_KEEP_MAX) {
    free(c);
    return;
  }
  c->next = pool->free;
  pool->free = c;
  pool->nfree++;
}

static void on_written(uv_write_t *req, int status)
{
  conn_wchunk_t *c = req->data;
  conn_uv_written_cb cb = c->cb;
  void *owner = c->owner;
  size_t len = c->len;
  wchunk_put(c->pool, c);
  cb(owner, len, status);
}

int conn_uv_write(conn_t *conn, uv_stream_t *sock, conn_wpool_t *pool,
                  conn_uv_written_cb cb, void *owner)
{
  const uint8_t *p;
  int lowat;
  if(uv_is_closing((uv_handle_t *)sock))
    return 0; /* the adapter is dropping the transport */
  if(conn_take_notsent_lowat(conn, &lowat)) {
    uv_os_fd_t fd;
    if(uv_fileno((uv_handle_t *)sock, &fd) == 0)
      tunnel_socket_set_notsent_lowat(fd, lowat);
  }
  size_t out = conn_pending(conn, &p);
  if(!out)
    return 0;
  if(!conn_queued(conn)) {
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)out);
    int n = uv_try_write(sock, &b, 1);
    if(n < 0 && n != UV_EAGAIN)
      return BEACON_EIO;
    if(n > 0) {
      conn_advance(conn, (size_t)n);
      out = conn_pending(conn, &p);
      if(!out)
        return 0;
    }
  }
  conn_wchunk_t *c = wchunk_get(pool, out);
  if(!c)
    return BEACON_ENOMEM;
  c->pool = pool;
  c->cb = cb;
  c->owner = owner;
  c->len = out;
  memcpy(c->data, p, out);
  c->req.data = c;
  uv_buf_t b = uv_buf_init((char *)c->data, (unsigned)c->len);
  if(uv_write(&c->req, sock, &b, 1, on_written)) {
    wchunk_put(pool, c);
    return BEACON_EIO;
  }
  conn_advance_queued(conn, out);
  return 0;
}

int conn_uv_flush(conn_t *c, uv_stream_t *sock, conn_wpool_t *pool,
                  conn_uv_written_cb cb, void *owner, uint64_t now)
{
  if(conn_state(c) == CONN_CLOSING)
    return 0;
  size_t before;
  do {
    before = conn_unencrypted(c);
    int rc = conn_flush(c, now);
    if(rc)
      return rc; /* closed: tls_error */
    if((rc = conn_uv_write(c, sock, pool, cb, owner)))
      return rc;
    /* all taken at once: no write completion will call us again */
  } while(!conn_waiting(c) && conn_unencrypted(c) &&
          conn_unencrypted(c) < before);
  return 0;
}

/* ---- a stream to its local socket ---- */

typedef struct conn_uv_sent {
  uv_write_t req;
  conn_uv_sender_t *snd;
  size_t len;
  uint8_t data[];
} conn_uv_sent_t;

void conn_uv_sender_init(conn_uv_sender_t *snd, uv_stream_t *sock,
                         conn_uv_written_cb cb, void *owner)
{
  snd->sock = sock;
  snd->inflight = 0;
  snd->cb = cb;
  snd->owner = owner;
}

static void on_sent(uv_write_t *req, int status)
{
  conn_uv_sent_t *w = req->data;
  conn_uv_sender_t *snd = w->snd;
  size_t len = w->len;
  free(w);
  snd->inflight -= len;
  snd->cb(snd->owner, len, status);
}

/* Copies what follows the first `skip` bytes of bufs into one write. */
static int queue_rest(conn_uv_sender_t *snd, const uv_buf_t *bufs, unsigned n,
                      size_t skip, size_t rest)
{
  conn_uv_sent_t *w = malloc(sizeof(*w) + rest);
  if(!w)
    return UV_ENOMEM;
  w->snd = snd;
  w->len = 0;
  for(unsigned i = 0; i < n; i++) {
    if(skip >= bufs[i].len) {
      skip -= bufs[i].len;
      continue;
    }
    memcpy(w->data + w->len, bufs[i].base + skip, bufs[i].len - skip);
    w->len += bufs[i].len - skip;
    skip = 0;
  }
  w->req.data = w;
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
  int err = uv_write(&w->req, snd->sock, &b, 1, on_sent);
  if(err) {
    free(w);
    return err;
  }
  snd->inflight += w->len;
  return 0;
}

int64_t conn_uv_send(conn_uv_sender_t *snd, const uv_buf_t *bufs, unsigned n)
{
  size_t total = 0, done = 0;
  for(unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  if(!snd->inflight) {
    int w = uv_try_write(snd->sock, bufs, n);
    if(w < 0 && w != UV_EAGAIN)
      return w;
    if(w > 0)
      done = (size_t)w;
  }
  if(done == total)
    return (int64_t)done;
  int err = queue_rest(snd, bufs, n, done, total - done);
  return err ? err : (int64_t)done;
}
