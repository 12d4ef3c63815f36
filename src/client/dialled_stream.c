/*
 * dialled_stream.c - one dialled stream, pumped between the innermost hop's
 * mux and the caller's local end (docs/PROTOCOL.md "The target line" and
 * docs/PROTOCOL.md "Relaying", seen from the controller): the library
 * end of a loopback TCP pair (beacon_dial), or the caller's own socket,
 * or a pipe to read and a pipe to write (client_dial_fds, no loopback
 * hop).
 *
 * Both directions' bookkeeping is the stream pump's (conn/pump.h):
 *   local -> stream: read up to a slice; what the mux does not take (the
 *     peer's window is shut) is kept and reading stops until on_writable.
 *     Local EOF becomes FIN once every byte before it was taken.
 *   stream -> local: each on_data piece goes to the socket at once when
 *     it takes it (uv_try_write, no copy), the rest as one uv_write; the
 *     window is granted back (pump_to_local_done) only for bytes
 *     written, so at most one window per stream is buffered here. FIN
 *     becomes shutdown(SHUT_WR) after the queued writes.
 *   RST (or the tunnel dying) closes the local end with SO_LINGER {1, 0}:
 *     the kernel sends RST and the caller reads ECONNRESET.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/req.h"
#include "client/dialled_stream.h"
#include "common/error.h"
#include "common/outcome.h"

static void on_local_written(void *owner, size_t len, int status);

static mux_t *stream_mux(client_stream_t *p)
{
  if(!p->s || p->s->torn_down || !p->sid)
    return NULL;
  return client_chain_mux(p->s);
}

static void detach(client_stream_t *p)
{
  /* the deadline runs on the chain's core, which may go with the chain */
  conn_deadline_stop(&p->open_deadline);
  if(p->s) {
    list_del(&p->link);
    p->s = NULL;
  }
  p->sid = 0;
}

/* The last local handle is closed: report the end, free the stream. */
static void stream_free(client_stream_t *p)
{
  if(p->owner) {
    p->owner->stream = NULL;
    /* client_stream_wait() reports the outcome and its code */
    client_req_end(p->t, p->owner, outcome_code(p->outcome), p->outcome,
                   p->bytes_up, p->bytes_down);
    p->owner = NULL;
  }
  conn_deadline_stop(&p->open_deadline);
  pump_free(&p->pump);
  free(p->rbuf);
  free(p);
}

static void on_local_closed(uv_handle_t *h)
{
  client_stream_t *p = h->data;
  if(--p->nopen == 0 && p->closing)
    stream_free(p);
}

static void close_handle(client_local_t *h)
{
  /* data is set once the handle is initialised */
  if(h->handle.data && !uv_is_closing(&h->handle))
    uv_close(&h->handle, on_local_closed);
}

/* Closes the local end; hard = RST to the caller (a socket). */
static void local_close(client_stream_t *p, int hard)
{
  if(p->closing)
    return;
  p->closing = 1;
  if(!p->nopen) {
    stream_free(p);
    return;
  }
  if(p->in)
    uv_read_stop(p->in);
  if(hard && p->in) {
    uv_os_fd_t fd;
    if(!uv_fileno((uv_handle_t *)p->in, &fd)) {
      struct linger lg = {.l_onoff = 1, .l_linger = 0};
      (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
  }
  close_handle(&p->in_h);
  if(p->out != p->in)
    close_handle(&p->out_h);
}

static void set_outcome(client_stream_t *p, outcome_t how)
{
  if(!p->outcome)
    p->outcome = how;
}

/* Forgets the stream (resetting it when send_rst and still live) without
 * a callback into this stream, then closes the local end hard. The stream
 * may be freed on return. */
static void stream_drop(client_stream_t *p, int send_rst)
{
  mux_t *m = stream_mux(p);
  uint32_t id = p->sid;
  beacon_tunnel_t *t = p->t;
  detach(p);
  /* set_user fails only for a stream the mux no longer has: no RST then.
   * A reset that could not queue its RST (no memory) still forgets the
   * stream; the caller's end is closed hard below either way. */
  if(m && !mux_stream_set_user(m, id, NULL) && send_rst &&
     mux_stream_reset(m, id))
    set_outcome(p, OUTCOME_LOCAL_ERROR);
  local_close(p, 1);
  client_dirty(t);
}

static void stream_reset(client_stream_t *p)
{
  set_outcome(p, OUTCOME_LOCAL_ERROR);
  stream_drop(p, 1);
}

/* The caller's end failed or went away: the relay is told with RST. */
static void stream_local_gone(client_stream_t *p)
{
  set_outcome(p, OUTCOME_RESET_BY_CLIENT);
  stream_drop(p, 1);
}

/* Both directions done and everything written: a normal close. */
static void maybe_close(client_stream_t *p)
{
  if(p->closing || p->sid || p->down.inflight || p->req)
    return;
  if(p->shut_sent && !p->shut_done)
    return;
  local_close(p, 0);
}

client_stream_t *client_stream_open(client_chain_t *chain, client_req_t *req)
{
  mux_t *m = client_chain_mux(chain);
  client_stream_t *p = calloc(1, sizeof(*p));
  if(!p)
    return NULL;
  p->t = chain->t;
  conn_deadline_init(&p->open_deadline);
  int64_t id = mux_open(m, p);
  if(id <= 0) {
    free(p);
    return NULL;
  }
  p->s = chain;
  p->sid = (uint32_t)id;
  pump_init(&p->pump, p->sid);
  p->req = req;
  p->opened_at = uv_now(&chain->t->loop);
  p->probed_at = p->opened_at;
  /* client_stream_open_expired() when the relay has not answered by then */
  conn_deadline_start(chain->hops[chain->nhops - 1].conn, &p->open_deadline,
                      req->attempt_deadline
                          ? req->attempt_deadline
                          : p->opened_at + (uint64_t)req->open_ms);
  /* An answer to this ping tells a slow target from a frozen relay. */
  mux_now(m, p->opened_at);
  mux_measure_rtt(m);
  list_add(&chain->streams, &p->link);
  /* The target line goes first (docs/PROTOCOL.md "The target line"); the
   * initial window always takes it whole. */
  if(mux_stream_write(m, p->sid, (const uint8_t *)req->line, req->line_len) !=
     (int64_t)req->line_len) {
    p->req = NULL;
    stream_reset(p);
    return NULL;
  }
  return p;
}

client_req_t *client_stream_take_req(client_stream_t *p)
{
  client_req_t *req = p->req;
  p->req = NULL;
  if(req)
    stream_reset(p); /* not open locally: frees the stream at once */
  return req;
}

void client_stream_open_expired(client_stream_t *p, uint64_t now,
                                int relay_alive)
{
  client_req_t *req = p->req;
  client_chain_t *chain = p->s;
  beacon_tunnel_t *t = p->t;
  if(relay_alive && req->deadline && now < req->deadline) {
    /* It answered the last ping, so it is dialling: no other relay
     * would do better. It must keep answering, though: a relay that
     * froze right after its answer is asked again before we wait on. */
    mux_t *m = stream_mux(p);
    uint64_t next = now + CLIENT_MEMBER_OPEN_MS;
    p->probed_at = now;
    if(m) {
      mux_now(m, now);
      mux_measure_rtt(m);
    }
    conn_deadline_start(chain->hops[chain->nhops - 1].conn, &p->open_deadline,
                        next < req->deadline ? next : req->deadline);
    return;
  }
  unsigned long long waited = (unsigned long long)(now - p->opened_at);
  client_stream_take_req(p); /* resets and frees the stream */
  beacon_error_t e;
  if(relay_alive) {
    /* Its verdict would come from its own --dial-timeout. */
    client_error_set(&e, BEACON_ETIMEDOUT, chain->nhops - 1,
                     "relay %s was still connecting to %.*s after %llu ms "
                     "(it answers pings; the relay's --dial-timeout is "
                     "longer than this dial's timeout)",
                     t->members[chain->member].name, (int)req->line_len - 1,
                     req->line, waited);
    req->verdict = OUTCOME_TARGET_TIMEOUT;
    req->relay = t->members[chain->member].name;
    client_req_fail(t, req, BEACON_ETIMEDOUT, &e);
    return;
  }
  /* the next member gets the target */
  client_error_set(&e, BEACON_ETIMEDOUT, chain->nhops - 1,
                   "stream open timed out after %llu ms (no answer from the "
                   "relay)",
                   waited);
  t->host->failover(t, req, chain, &e);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  client_stream_t *p = h->data;
  if(!p->rbuf)
    p->rbuf = malloc(CLIENT_CHUNK);
  *buf = uv_buf_init((char *)p->rbuf, p->rbuf ? CLIENT_CHUNK : 0);
}

static void on_local_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
  client_stream_t *p = st->data;
  if(n == 0 || p->closing)
    return;
  if(n == UV_EOF) {
    uv_read_stop(st);
    p->reading = 0;
    /* FIN now, or once the stash went (on_writable). */
    if(pump_local_eof(&p->pump, stream_mux(p))) {
      stream_reset(p); /* without its FIN the target would wait */
      return;
    }
    client_dirty(p->t);
    maybe_close(p);
    return;
  }
  if(n < 0) {
    /* The caller closed with unread data, or a local error: abort. */
    stream_local_gone(p);
    return;
  }
  p->bytes_up += (uint64_t)n;
  /* What the mux does not take, the pump keeps: reading stops until
   * on_writable. */
  if(pump_from_local(&p->pump, stream_mux(p), p->rbuf, (size_t)n) < 0) {
    stream_reset(p);
    return;
  }
  client_dirty(p->t);
  if(!pump_want_read(&p->pump)) {
    uv_read_stop(st);
    p->reading = 0;
  }
}

static void start_reading(client_stream_t *p)
{
  if(p->reading || p->closing || !pump_want_read(&p->pump) || !p->local_open)
    return;
  if(!uv_read_start(p->in, on_alloc, on_local_read))
    p->reading = 1;
}

/* Wraps fd (a socket or a pipe) in h. On failure the handle, if it was
 * initialised, is closed again and fd stays the caller's. */
/* A pipe's default 64 KiB means a context switch per 64 KiB between
 * us and the program at its other end (beacon connect's stdin and
 * stdout): ask for CLIENT_PIPE_SIZE. Best effort: the system's
 * pipe-max-size may refuse. */
static void widen_pipe(int fd)
{
#ifdef F_SETPIPE_SZ
  struct stat st;
  if(fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
     fcntl(fd, F_GETPIPE_SZ) < CLIENT_PIPE_SIZE)
    (void)fcntl(fd, F_SETPIPE_SZ, CLIENT_PIPE_SIZE);
#else
  (void)fd;
#endif
}

static int adopt(client_stream_t *p, client_local_t *h, int fd)
{
  uv_loop_t *loop = &p->t->loop;
  uv_handle_type type = uv_guess_handle(fd);
  int rc;
  if(type == UV_TCP)
    rc = uv_tcp_init(loop, &h->tcp);
  else if(type == UV_NAMED_PIPE) {
    widen_pipe(fd);
    rc = uv_pipe_init(loop, &h->pipe, 0);
  } else
    return BEACON_EINVAL;
  if(rc)
    return error_from_os(rc);
  h->handle.data = p;
  p->nopen++;
  rc = type == UV_TCP ? uv_tcp_open(&h->tcp, fd) : uv_pipe_open(&h->pipe, fd);
  if(rc) {
    close_handle(h);
    return error_from_os(rc);
  }
  return 0;
}

/* Takes the caller's local end(s) into the loop: one socket both ways,
 * or a descriptor to read and another to write. */
static int adopt_local(client_stream_t *p, client_req_t *req)
{
  int *in = req->in_fd >= 0 ? &req->in_fd : &req->lfd;
  int rc = adopt(p, &p->in_h, *in);
  if(rc)
    return rc;
  if(req->out_fd == *in)
    req->out_fd = -1;
  *in = -1;
  p->in = p->out = &p->in_h.stream;
  if(req->out_fd < 0)
    return 0;
  if((rc = adopt(p, &p->out_h, req->out_fd)))
    return rc;
  req->out_fd = -1;
  p->out = &p->out_h.stream;
  return 0;
}

void client_stream_on_ack(client_stream_t *p)
{
  client_req_t *req = p->req;
  if(!req)
    return;
  p->req = NULL;
  conn_deadline_stop(&p->open_deadline);
  p->local_open = 1;
  req->confirmed = p->s && client_chain_confirms(p->s);
  if(p->s)
    req->relay = p->t->members[p->s->member].name;
  if(adopt_local(p, req)) {
    /* What no handle owns yet, the request closes when freed. */
    beacon_error_t e;
    client_error_set(&e, BEACON_EIO, -1, "cannot adopt the local end");
    client_req_fail(p->t, req, BEACON_EIO, &e);
    stream_reset(p);
    return;
  }
  conn_uv_sender_init(&p->down, p->out, on_local_written, p);
  if(req->want_end) {
    /* client_dial_fds: the caller learns how the stream ends. */
    client_req_ref(p->t, req);
    p->owner = req;
    req->stream = p;
  }
  if(!client_req_finish(p->t, req, 0, NULL)) {
    stream_reset(p); /* the caller gave up meanwhile */
    return;
  }
  start_reading(p);
}

/* len bytes reached the caller: the relay may send that many more.
 * Returns -1 when the window could not be given back and the stream was
 * reset (it would stall for good otherwise). */
static int window_back(client_stream_t *p, size_t len)
{
  mux_t *m = stream_mux(p);
  p->bytes_down += len;
  if(m) {
    mux_now(m, uv_now(&p->t->loop));
    if(pump_to_local_done(&p->pump, m, len)) {
      stream_reset(p);
      return -1;
    }
    client_dirty(p->t);
  }
  return 0;
}

/* A queued write to the caller completed (conn/conn_uv.h). */
static void on_local_written(void *owner, size_t len, int status)
{
  client_stream_t *p = owner;
  if(p->closing)
    return;
  if(status < 0 && !p->discard) {
    stream_local_gone(p); /* the caller is gone: tell the relay */
    return;
  }
  if(!window_back(p, len))
    maybe_close(p);
}

void client_stream_on_data(client_stream_t *p, const uint8_t *d, size_t n)
{
  if(p->req)
    client_stream_on_ack(p); /* data implies the stream was taken */
  if(p->closing || !p->local_open || p->shut_sent)
    return;
  if(p->discard) {
    (void)window_back(p, n); /* the caller is gone: consumed, unwritten */
    return;
  }
  /* Straight to the caller's socket when it takes it, without a copy;
   * the rest is queued and its window granted when written. */
  uv_buf_t b = uv_buf_init((char *)d, (unsigned)n);
  int64_t took = conn_uv_send(&p->down, &b, 1);
  if(took == UV_ENOMEM) {
    stream_reset(p);
    return;
  }
  if(took < 0) {
    stream_local_gone(p); /* the caller is gone: tell the relay */
    return;
  }
  if(took > 0)
    (void)window_back(p, (size_t)took);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
  client_stream_t *p = req->data;
  (void)status; /* a pipe cannot shutdown(2): closing it is its EOF */
  free(req);
  p->shut_done = 1;
  if(p->out != p->in)
    close_handle(&p->out_h);
  maybe_close(p);
}

void client_stream_on_fin(client_stream_t *p)
{
  if(p->req)
    client_stream_on_ack(p);
  if(p->closing || !p->local_open || p->shut_sent)
    return;
  uv_shutdown_t *req = malloc(sizeof(*req));
  if(!req) {
    stream_reset(p);
    return;
  }
  req->data = p;
  p->shut_sent = 1;
  /* Queued behind the pending writes: everything before FIN arrives
   * before the caller's EOF. */
  if(uv_shutdown(req, p->out, on_shutdown)) {
    free(req);
    p->shut_done = 1;
  }
}

void client_stream_on_reset(client_stream_t *p)
{
  if(p->req) {
    /* Reset before the relay took the stream: the dial fails. A relay
     * that confirms connects says why (connect results); otherwise (a
     * Go relay out of backlog, for instance) it is just a reset. */
    client_req_t *req = p->req;
    mux_t *m = stream_mux(p);
    uint32_t why = m ? mux_reset_code(m) : 0;
    outcome_t verdict = outcome_from_reason(why);
    int code = outcome_code(verdict);
    int hop = p->s ? p->s->nhops - 1 : -1;
    p->req = NULL;
    beacon_error_t e;
    if(why)
      client_error_set(
          &e, code, hop, "the relay could not connect to %.*s: %s",
          (int)req->line_len - 1, req->line, beacon_strerror(code));
    else
      client_error_set(&e, code, hop, "the relay reset the stream");
    /* A reason is about the target: no other relay would do better. */
    if(why || !p->s) {
      req->verdict = verdict;
      if(p->s)
        req->relay = p->t->members[p->s->member].name;
      client_req_fail(p->t, req, code, &e);
    } else {
      p->t->host->failover(p->t, req, p->s, &e);
    }
  }
  set_outcome(p, OUTCOME_RESET_BY_TARGET);
  stream_drop(p, 0); /* the mux drops the stream after this callback */
}

void client_stream_on_writable(client_stream_t *p)
{
  if(p->closing || !pump_stashed(&p->pump))
    return;
  /* The stash goes first, then FIN if the caller's input ended. */
  if(pump_on_writable(&p->pump, stream_mux(p)) < 0) {
    stream_reset(p);
    return;
  }
  client_dirty(p->t);
  start_reading(p);
}

void client_stream_on_closed(client_stream_t *p)
{
  /* Both FINs went through (an RST goes through on_reset first). */
  if(p->req) {
    client_req_t *req = p->req;
    p->req = NULL;
    beacon_error_t e;
    client_error_set(&e, BEACON_ECLOSED, -1, "the stream closed at once");
    client_req_fail(p->t, req, BEACON_ECLOSED, &e);
  }
  detach(p);
  maybe_close(p);
}

void client_stream_finish_local(client_stream_t *p)
{
  if(p->closing || !p->local_open)
    return;
  /* As if the caller's input ended and it stopped reading: FIN once the
   * kept bytes are taken (on_writable sends it then), and what the
   * relay still sends is granted back unwritten, so the target's side
   * can finish normally too. */
  p->discard = 1;
  if(p->reading) {
    uv_read_stop(p->in);
    p->reading = 0;
  }
  if(pump_local_eof(&p->pump, stream_mux(p))) {
    stream_reset(p);
    return;
  }
  client_dirty(p->t);
  maybe_close(p);
}

void client_stream_abort(client_stream_t *p)
{
  set_outcome(p, OUTCOME_TUNNEL_LOST);
  detach(p);
  local_close(p, 1);
}
