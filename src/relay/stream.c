/*
 * stream.c - one yamux stream of a tunnel: the target line (docs/PROTOCOL.md
 * "The target line"), the dial (dial.c, which applies the policy), then the
 * pump both ways with half-close and backpressure (docs/PROTOCOL.md
 * "Relaying").
 *
 * Upstream (controller to target): bytes go to the socket with
 * uv_try_write, the rest in queued writes; the receive window is given
 * back (pump_to_local_done) only once bytes were written, so the
 * window bounds what is buffered. Bytes after the target line, even in
 * the same frame or before the dial completes, are held (unconsumed) and
 * written first. Peer FIN becomes uv_shutdown after them.
 *
 * Downstream (target to controller): each read goes into the mux through
 * the stream pump (conn/pump.h); what the stream window or the session
 * queue does not take is kept and reading stops until on_writable.
 * Target EOF becomes FIN once all of it was queued; a target error or
 * reset becomes RST.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "log/log.h"
#include "relay/addr_text.h"
#include "relay/prom.h"
#include "relay/stream.h"
#include "target/result.h"

static void stream_maybe_finish(relay_stream_t *s);

struct relay_stream_setup {
  target_parser_t tp;
  target_t target;
};

static relay_metrics_t *metrics_of(relay_stream_t *s)
{
  return &s->t->w->r->metrics;
}

static const policy_t *policy_of(relay_stream_t *s)
{
  relay_t *r = s->t->w->r;
  return r->cfg.policy ? r->cfg.policy : r->default_policy;
}

static const char *const outcome_names[] = {
    [RELAY_OUTCOME_NONE] = "ok",
    [RELAY_OUTCOME_REFUSED] = "refused",
    [RELAY_OUTCOME_DIAL_ERROR] = "dial_error",
    [RELAY_OUTCOME_TIMEOUT] = "timeout",
    [RELAY_OUTCOME_BAD_TARGET] = "bad_target",
    [RELAY_OUTCOME_RESET] = "reset",
};

static void log_done(relay_stream_t *s)
{
  log_line_t l;
  const char *outcome = outcome_names[s->outcome];
  log_level_t lvl = s->outcome != RELAY_OUTCOME_NONE ? LOG_WARN : LOG_INFO;
  if(!log_begin(&l, lvl, "stream_done"))
    return;
  log_u64(&l, "tunnel", s->t->id);
  log_u64(&l, "stream", s->id);
  log_str(&l, "subject", s->t->subject);
  log_str(&l, "target", s->target_text ? s->target_text : "-");
  log_str(&l, "resolved", s->resolved[0] ? s->resolved : "-");
  log_u64(&l, "bytes_up", s->bytes_up);
  log_u64(&l, "bytes_down", s->bytes_down);
  log_ms(&l, "duration", uv_now(&s->t->w->loop) - s->start_ms);
  log_str(&l, "outcome", outcome);
  if(s->reason[0])
    log_str(&l, "reason", s->reason);
  log_end(&l);
}

/* Forgets s's gathered pieces (it is going away mid mux_recv). */
static void gather_drop(relay_stream_t *s)
{
  relay_worker_t *w = s->t->w;
  for(unsigned i = 0; i < w->ngather; i++)
    if(w->gather[i].s == s)
      w->gather[i].s = NULL;
  s->ngather = 0;
}

static void stream_release(relay_stream_t *s)
{
  if(--s->refs > 0)
    return;
  relay_tunnel_t *t = s->t;
  log_done(s);
  if(s->ngather)
    gather_drop(s);
  while(s->pend_head) {
    relay_chunk_t *c = s->pend_head;
    s->pend_head = c->next;
    free(c);
  }
  pump_free(&s->pump);
  free(s->setup);
  free(s->target_text);
  atomic_fetch_sub(&metrics_of(s)->streams_open, 1);
  list_del(&s->link);
  free(s);
  t->host->stream_gone(t);
}

void relay_stream_reap(relay_worker_t *w)
{
  while(!list_empty(&w->reap)) {
    relay_stream_t *s =
        LIST_CONTAINER(w->reap.next, relay_stream_t, reap_link);
    list_del(&s->reap_link);
    stream_release(s);
  }
}

static void conn_closed(dial_conn_t *c)
{
  stream_release(c->owner);
}

/* Closes the target connection; the stream is freed once it closed and
 * the worker reaped the stream (never while a caller still uses it). */
static void stream_finish(relay_stream_t *s)
{
  if(s->state == ST_DONE)
    return;
  s->state = ST_DONE;
  if(s->dial) {
    dial_cancel(s->dial);
    s->dial = NULL;
  }
  conn_deadline_stop(&s->target_deadline);
  list_add(&s->t->w->reap, &s->reap_link);
  s->t->host->reap_soon(s->t);
  if(s->conn)
    dial_conn_close(s->conn);
}

/* A mux call on a live stream failed (out of memory for its frame). */
static void log_mux_failure(relay_stream_t *s, const char *call, int rc)
{
  log_line_t l;
  if(!log_begin(&l, LOG_WARN, "stream_mux_failed"))
    return;
  log_u64(&l, "tunnel", s->t->id);
  log_u64(&l, "stream", s->id);
  log_str(&l, "call", call);
  log_str(&l, "error", beacon_strerror(rc));
  log_end(&l);
}

/* Ends the stream with RST (unless already gone) and this outcome. */
static void stream_abort(relay_stream_t *s, enum relay_outcome outcome,
                         const char *reason)
{
  if(!s->outcome) {
    s->outcome = outcome;
    if(reason)
      snprintf(s->reason, sizeof(s->reason), "%s", reason);
  }
  s->aborted = 1;
  if(s->mux_live && relay_tunnel_mux(s->t)) {
    /* on_stream_closed runs before this returns. Before its ACK, a
     * stream of a confirm_connect tunnel is refused with a reason. */
    int rc = mux_stream_reset_code(relay_tunnel_mux(s->t), s->id,
                                   s->unacked ? s->refusal : 0);
    /* The mux forgot the stream all the same; only the peer may not
     * learn of it: said in the log. */
    if(rc)
      log_mux_failure(s, "reset", rc);
    s->t->host->output(s->t);
  }
  s->mux_live = 0;
  stream_maybe_finish(s);
}

static void stream_maybe_finish(relay_stream_t *s)
{
  if(s->state == ST_DONE || s->mux_live)
    return;
  /* Graceful: both FINs went through the mux; the target still gets
   * what the controller sent before its FIN, then the shutdown. */
  if(!s->aborted && s->conn && !s->shut_done)
    return;
  stream_finish(s);
}

/* ---- upstream: controller to target ---- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
  relay_stream_t *s = req->data;
  s->shut_done = 1;
  if(status && status != UV_ECANCELED && status != UV_ENOTCONN &&
     s->state != ST_DONE) {
    stream_abort(s, RELAY_OUTCOME_RESET, "target shutdown failed");
    return;
  }
  stream_maybe_finish(s);
}

static void do_shutdown(relay_stream_t *s)
{
  if(s->shut_sent || !s->conn || s->state == ST_DONE)
    return;
  s->shut_sent = 1;
  s->shutdown_req.data = s;
  /* libuv runs it after the queued writes: FIN follows all the data. */
  if(uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->conn->tcp,
                 on_shutdown)) {
    s->shut_done = 1;
    stream_abort(s, RELAY_OUTCOME_RESET, "target shutdown failed");
  }
}

/* n bytes reached the target: their window goes back to the controller.
 * Returns -1 when that failed and the stream was aborted (a window never
 * given back would stall the stream for good). */
static int account_up(relay_stream_t *s, size_t n)
{
  s->bytes_up += n;
  s->t->bytes_up += n;
  atomic_fetch_add(&metrics_of(s)->bytes_up, n);
  if(s->mux_live) {
    mux_t *m = relay_tunnel_mux(s->t);
    mux_now(m, uv_now(&s->t->w->loop));
    int rc = pump_to_local_done(&s->pump, m, n);
    if(rc) {
      log_mux_failure(s, "consumed", rc);
      stream_abort(s, RELAY_OUTCOME_RESET, "window update failed");
      return -1;
    }
  }
  s->t->host->output(s->t);
  return 0;
}

static void on_up_write(uv_write_t *req, int status)
{
  relay_chunk_t *c = req->data;
  relay_stream_t *s = c->s;
  s->inflight -= c->len;
  size_t len = c->len;
  free(c);
  if(status == UV_ECANCELED || s->state == ST_DONE)
    return;
  if(status < 0) {
    char why[64];
    snprintf(why, sizeof(why), "target write: %s", uv_err_name(status));
    stream_abort(s, RELAY_OUTCOME_RESET, why);
    return;
  }
  (void)account_up(s, len); /* aborted on failure: nothing more to do */
}

static int submit(relay_stream_t *s, relay_chunk_t *c)
{
  c->req.data = c;
  uv_buf_t b = uv_buf_init((char *)c->data, (unsigned)c->len);
  int err =
      uv_write(&c->req, (uv_stream_t *)&s->conn->tcp, &b, 1, on_up_write);
  if(err) {
    free(c);
    char why[64];
    snprintf(why, sizeof(why), "target write: %s", uv_err_name(err));
    stream_abort(s, RELAY_OUTCOME_RESET, why);
    return -1;
  }
  s->inflight += c->len;
  return 0;
}

static relay_chunk_t *chunk_new(relay_stream_t *s, const uint8_t *p, size_t n)
{
  relay_chunk_t *c = malloc(sizeof(*c) + n);
  if(!c)
    return NULL;
  c->s = s;
  c->next = NULL;
  c->len = n;
  memcpy(c->data, p, n);
  return c;
}

/* Writes bufs to the target: what the socket takes now, the rest in one
 * queued write. */
static void write_bufs(relay_stream_t *s, const uv_buf_t *b, unsigned nb)
{
  size_t total = 0;
  for(unsigned i = 0; i < nb; i++)
    total += b[i].len;
  size_t done = 0;
  if(!s->inflight) {
    int w = uv_try_write((uv_stream_t *)&s->conn->tcp, b, nb);
    if(w < 0 && w != UV_EAGAIN) {
      char why[64];
      snprintf(why, sizeof(why), "target write: %s", uv_err_name(w));
      stream_abort(s, RELAY_OUTCOME_RESET, why);
      return;
    }
    if(w > 0) {
      done = (size_t)w;
      if(account_up(s, done))
        return;
    }
  }
  if(done == total)
    return;
  relay_chunk_t *c = malloc(sizeof(*c) + total - done);
  if(!c) {
    stream_abort(s, RELAY_OUTCOME_RESET, "out of memory");
    return;
  }
  c->s = s;
  c->next = NULL;
  c->len = 0;
  size_t skip = done;
  for(unsigned i = 0; i < nb; i++) {
    size_t l = b[i].len;
    if(skip >= l) {
      skip -= l;
      continue;
    }
    memcpy(c->data + c->len, b[i].base + skip, l - skip);
    c->len += l - skip;
    skip = 0;
  }
  submit(s, c);
}

/* Writes s's gathered pieces, in order, with one writev. */
static void gather_flush(relay_stream_t *s)
{
  relay_worker_t *w = s->t->w;
  uv_buf_t b[RELAY_GATHER_MAX];
  unsigned nb = 0;
  if(!s->ngather)
    return;
  for(unsigned i = 0; i < w->ngather && nb < s->ngather; i++)
    if(w->gather[i].s == s) {
      b[nb++] = w->gather[i].b;
      w->gather[i].s = NULL;
    }
  s->ngather = 0;
  /* An aborted stream drops them: they were never consumed. */
  if(s->state == ST_OPEN)
    write_bufs(s, b, nb);
}

void relay_stream_flush_gather(relay_worker_t *w)
{
  /* write_bufs may abort (and free) a stream: entries of streams already
   * written or dropped are NULL, so each step rereads the table. */
  for(unsigned i = 0; i < w->ngather; i++)
    if(w->gather[i].s)
      gather_flush(w->gather[i].s);
  w->ngather = 0;
}

/* Payload from the controller (after the target line). */
static void upstream(relay_stream_t *s, const uint8_t *p, size_t n)
{
  if(s->state == ST_OPEN) {
    /* Inside mux_recv the frame payload stays valid until it returns:
     * gather the pieces and write each stream's with one writev
     * afterwards (relay_stream_flush_gather). */
    relay_worker_t *w = s->t->w;
    if(conn_in_recv(s->t->conn) && !s->inflight) {
      if(w->ngather == RELAY_GATHER_MAX)
        relay_stream_flush_gather(w);
      if(s->state != ST_OPEN)
        return;
      if(!s->inflight) {
        w->gather[w->ngather++] = (struct relay_piece){
            .s = s, .b = uv_buf_init((char *)p, (unsigned)n)};
        s->ngather++;
        return;
      }
    }
    gather_flush(s);
    if(s->state == ST_OPEN)
      write_bufs(s, &(uv_buf_t){.base = (char *)p, .len = n}, 1);
    return;
  }
  relay_chunk_t *c = chunk_new(s, p, n);
  if(!c) {
    stream_abort(s, RELAY_OUTCOME_RESET, "out of memory");
    return;
  }
  /* Dialling: hold it (unconsumed, so the window bounds it). */
  if(s->pend_tail)
    s->pend_tail->next = c;
  else
    s->pend_head = c;
  s->pend_tail = c;
  s->pend_bytes += n;
}

/* ---- downstream: target to controller ---- */

static void stop_reading(relay_stream_t *s)
{
  if(s->reading) {
    uv_read_stop((uv_stream_t *)&s->conn->tcp);
    s->reading = 0;
  }
}

/* The stream's mux while it is live there, else NULL. */
static mux_t *live_mux(relay_stream_t *s)
{
  return s->mux_live ? relay_tunnel_mux(s->t) : NULL;
}

static void count_down(relay_stream_t *s, int64_t n)
{
  s->bytes_down += (uint64_t)n;
  s->t->bytes_down += (uint64_t)n;
  atomic_fetch_add(&metrics_of(s)->bytes_down, (uint64_t)n);
  s->t->host->output(s->t);
}

/* The pump refused (conn/pump.h): the stream is gone from the mux, or
 * there was no memory for its frame or its stash. */
static void pump_failed(relay_stream_t *s, const char *call, int64_t rc)
{
  if(rc == BEACON_ENOMEM) {
    log_mux_failure(s, call, (int)rc);
    stream_abort(s, RELAY_OUTCOME_RESET, "out of memory");
    return;
  }
  stream_abort(s, RELAY_OUTCOME_RESET, NULL);
}

/* Offers target bytes to the mux; the pump keeps what it does not take
 * and reading stops until on_writable. */
static void downstream(relay_stream_t *s, const uint8_t *p, size_t n)
{
  int64_t w = pump_from_local(&s->pump, live_mux(s), p, n);
  if(w < 0) {
    pump_failed(s, "write", w);
    return;
  }
  count_down(s, w);
  if(!pump_want_read(&s->pump))
    stop_reading(s);
}

static void on_target_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *buf)
{
  dial_conn_t *c = h->data;
  relay_stream_t *s = c->owner;
  size_t cap = sizeof(s->t->w->tbuf);
  int64_t room =
      s->mux_live ? mux_stream_write_room(relay_tunnel_mux(s->t), s->id) : 0;
  /* Read about what the mux takes now (the window, the stream's share of
   * the queue), so little is left over to copy and keep per stream: 100
   * downloading streams otherwise hold a 256 KiB read each. A closed
   * window still reads a little, which is kept, and reading stops. */
  if(room < RELAY_TARGET_READ_MIN)
    room = RELAY_TARGET_READ_MIN;
  if((uint64_t)room < cap)
    cap = (size_t)room;
  buf->base = (char *)s->t->w->tbuf;
  buf->len = cap;
}

static void on_target_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
  dial_conn_t *c = h->data;
  relay_stream_t *s = c->owner;
  if(s->state == ST_DONE || nread == 0)
    return;
  if(nread > 0) {
    downstream(s, (const uint8_t *)buf->base, (size_t)nread);
    return;
  }
  stop_reading(s);
  if(nread == UV_EOF) {
    /* FIN now, or once the stash went; may end the stream in the mux
     * (both FINs): on_stream_closed. */
    int rc = s->mux_live ? pump_local_eof(&s->pump, live_mux(s)) : 0;
    if(rc) {
      pump_failed(s, "close", rc);
      return;
    }
    s->t->host->output(s->t);
    stream_maybe_finish(s);
    return;
  }
  char why[64];
  snprintf(why, sizeof(why), "target read: %s", uv_err_name((int)nread));
  stream_abort(s, RELAY_OUTCOME_RESET, why);
}

static void start_reading(relay_stream_t *s)
{
  if(s->reading || !pump_want_read(&s->pump) || s->state != ST_OPEN ||
     !s->mux_live)
    return;
  int err = uv_read_start((uv_stream_t *)&s->conn->tcp, on_target_alloc,
                          on_target_read);
  if(err) {
    stream_abort(s, RELAY_OUTCOME_RESET, "target read failed");
    return;
  }
  s->reading = 1;
}

void relay_stream_on_writable(relay_stream_t *s)
{
  if(s->state != ST_OPEN)
    return;
  if(pump_stashed(&s->pump)) {
    /* The stash goes first, then FIN if the target ended. */
    int64_t w = pump_on_writable(&s->pump, live_mux(s));
    if(w < 0) {
      pump_failed(s, "write", w);
      return;
    }
    count_down(s, w);
  }
  start_reading(s);
}

/* ---- dial ---- */

/* The destination policy judges every address the dial would connect
 * to, after resolution (docs/ARCHITECTURE.md "Deny by default"). */
static int policy_allows(void *ud, const struct sockaddr *sa, uint16_t port,
                         const char **why)
{
  policy_addr_t pa;
  memset(&pa, 0, sizeof(pa));
  if(sa->sa_family == AF_INET) {
    pa.family = 4;
    memcpy(pa.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if(sa->sa_family == AF_INET6) {
    pa.family = 6;
    memcpy(pa.bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  } else {
    *why = "address family";
    return 0;
  }
  return policy_check((const policy_t *)ud, &pa, port, why);
}

static void count_dial_failure(relay_stream_t *s, int status, int os_err)
{
  relay_metrics_t *m = metrics_of(s);
  switch(status) {
  case BEACON_ENOTFOUND:
    atomic_fetch_add(&m->dial_fail_resolve, 1);
    break;
  case BEACON_EPOLICY:
    atomic_fetch_add(&m->policy_refusals, 1);
    break;
  case BEACON_EREFUSED:
    atomic_fetch_add(&m->dial_fail_refused, 1);
    break;
  case BEACON_ETIMEDOUT:
    atomic_fetch_add(&m->dial_fail_timeout, 1);
    break;
  default:
    if(os_err == UV_EHOSTUNREACH || os_err == UV_ENETUNREACH)
      atomic_fetch_add(&m->dial_fail_unreachable, 1);
    else
      atomic_fetch_add(&m->dial_fail_other, 1);
  }
}

static void on_dialled(void *ud, int status, int os_err, dial_conn_t *conn,
                       const struct sockaddr *peer, const char *why)
{
  relay_stream_t *s = ud;
  s->dial = NULL;
  relay_prom_target_connect(s->t->w->r, status, os_err,
                            uv_hrtime() - s->dial_start_ns);
  if(status) {
    count_dial_failure(s, status, os_err);
    s->refusal = target_result_from_error(status);
    stream_abort(s,
                 status == BEACON_EPOLICY ? RELAY_OUTCOME_REFUSED
                                          : RELAY_OUTCOME_DIAL_ERROR,
                 why);
    return;
  }
  s->conn = conn;
  conn->owner = s;
  conn->on_closed = conn_closed;
  conn->tcp.data = conn;
  s->refs++;
  relay_addr_format(peer, s->resolved, sizeof(s->resolved));
  uv_tcp_nodelay(&conn->tcp, 1);
  s->state = ST_OPEN;
  if(s->unacked) {
    /* The target is connected: only now is the stream acknowledged. */
    if(mux_stream_ack(relay_tunnel_mux(s->t), s->id)) {
      s->refusal = TARGET_RESULT_RELAY_LIMIT;
      stream_abort(s, RELAY_OUTCOME_RESET, "out of memory");
      return;
    }
    s->unacked = 0;
    s->t->host->output(s->t);
  }
  log_line_t l;
  if(log_begin(&l, LOG_DEBUG, "stream_open")) {
    log_u64(&l, "tunnel", s->t->id);
    log_u64(&l, "stream", s->id);
    log_str(&l, "target", s->target_text ? s->target_text : "-");
    log_str(&l, "resolved", s->resolved);
    log_end(&l);
  }
  /* What arrived during the dial goes first, in order. */
  while(s->pend_head && s->state == ST_OPEN) {
    relay_chunk_t *c = s->pend_head;
    s->pend_head = c->next;
    if(!s->pend_head)
      s->pend_tail = NULL;
    s->pend_bytes -= c->len;
    if(submit(s, c))
      return;
  }
  if(s->state != ST_OPEN)
    return;
  if(s->peer_fin)
    do_shutdown(s);
  start_reading(s);
}

void relay_stream_on_deadline(conn_deadline_t *d)
{
  relay_stream_t *s = LIST_CONTAINER(d, relay_stream_t, target_deadline);
  if(s->state != ST_TARGET)
    return;
  atomic_fetch_add(&metrics_of(s)->target_timeouts, 1);
  s->refusal = TARGET_RESULT_BAD_TARGET;
  stream_abort(s, RELAY_OUTCOME_TIMEOUT, "no target line");
}

static void bad_target(relay_stream_t *s, const char *why)
{
  atomic_fetch_add(&metrics_of(s)->bad_targets, 1);
  s->refusal = TARGET_RESULT_BAD_TARGET;
  stream_abort(s, RELAY_OUTCOME_BAD_TARGET, why);
}

static void got_target(relay_stream_t *s)
{
  relay_t *r = s->t->w->r;
  char text[TARGET_MAX_LINE + 8];
  int n = target_format(&s->setup->target, text, sizeof(text));
  if(n > 0) {
    text[n - 1] = 0;               /* the newline */
    s->target_text = strdup(text); /* NULL only logs as "-" */
  }
  conn_deadline_stop(&s->target_deadline);
  s->state = ST_DIAL;
  s->dial_start_ns = uv_hrtime();
  /* The dial copies what it needs from the target. */
  s->dial = dial_start_group(&s->t->w->loop, s->t->lookups, &s->setup->target,
                             r->cfg.dial_timeout_ms, policy_allows,
                             (void *)policy_of(s), on_dialled, s);
  free(s->setup);
  s->setup = NULL;
  if(!s->dial) {
    atomic_fetch_add(&r->metrics.dial_fail_other, 1);
    s->refusal = TARGET_RESULT_RELAY_LIMIT;
    stream_abort(s, RELAY_OUTCOME_DIAL_ERROR, "resolver start failed");
  }
}

/* ---- mux events ---- */

void relay_stream_on_data(relay_stream_t *s, const uint8_t *p, size_t n)
{
  if(s->state == ST_DONE || s->aborted)
    return;
  if(s->state == ST_TARGET) {
    size_t used = n;
    int rc = target_parse(&s->setup->tp, p, &used, &s->setup->target);
    int crc = mux_stream_consumed(relay_tunnel_mux(s->t), s->id, used);
    s->t->host->output(s->t);
    if(crc) {
      log_mux_failure(s, "consumed", crc);
      stream_abort(s, RELAY_OUTCOME_RESET, "window update failed");
      return;
    }
    if(rc == BEACON_EAGAIN)
      return;
    if(rc < 0) {
      bad_target(s, rc == BEACON_ETOOLONG ? "line too long"
                                          : "malformed target line");
      return;
    }
    got_target(s);
    if(s->state == ST_DONE)
      return;
    p += used;
    n -= used;
  }
  if(n)
    upstream(s, p, n);
}

void relay_stream_on_fin(relay_stream_t *s)
{
  s->peer_fin = 1;
  if(s->state == ST_TARGET) {
    bad_target(s, "FIN before the target line");
    return;
  }
  /* The gathered payload goes before the FIN. */
  gather_flush(s);
  if(s->state == ST_OPEN && !s->pend_head)
    do_shutdown(s);
}

void relay_stream_on_reset(relay_stream_t *s)
{
  s->aborted = 1;
  if(!s->outcome) {
    s->outcome = RELAY_OUTCOME_RESET;
    snprintf(s->reason, sizeof(s->reason), "by controller");
  }
}

void relay_stream_on_closed(relay_stream_t *s)
{
  s->mux_live = 0;
  /* Anything but a graceful close (both FINs) aborts the target side. */
  if(!(s->pump.fin_sent && s->peer_fin) || relay_tunnel_closing(s->t)) {
    s->aborted = 1;
    if(!s->outcome && relay_tunnel_closing(s->t)) {
      s->outcome = RELAY_OUTCOME_RESET;
      snprintf(s->reason, sizeof(s->reason), "tunnel closed");
    }
  }
  stream_maybe_finish(s);
}

int relay_stream_open(relay_tunnel_t *t, uint32_t id, void **ud)
{
  relay_stream_t *s = calloc(1, sizeof(*s));
  struct relay_stream_setup *setup = malloc(sizeof(*setup));
  if(!s || !setup) {
    free(s);
    free(setup);
    return BEACON_ENOMEM;
  }
  s->setup = setup;
  s->t = t;
  s->id = id;
  s->state = ST_TARGET;
  s->mux_live = 1;
  pump_init(&s->pump, id);
  s->unacked = t->confirm_connect;
  s->start_ms = uv_now(&t->w->loop);
  target_parser_init(&setup->tp);
  s->refs = 1; /* dropped when reaped; the target connection adds one */
  list_init(&s->reap_link);
  conn_deadline_init(&s->target_deadline);
  conn_deadline_start(t->conn, &s->target_deadline,
                      s->start_ms + t->w->r->cfg.target_timeout_ms);
  list_add(&t->streams, &s->link);
  t->refs++;
  t->streams_total++;
  atomic_fetch_add(&t->w->r->metrics.streams_open, 1);
  atomic_fetch_add(&t->w->r->metrics.streams_total, 1);
  *ud = s;
  return s->unacked ? MUX_ACCEPT_DEFER : 0;
}
