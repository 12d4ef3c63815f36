/*
 * relay_stream.c - the libuv adapter of one relay stream: the target
 * socket, the dial (dial.c, which applies the policy) and the target
 * line's deadline around the stream's sans-I/O core (stream_core.h),
 * which holds the protocol.
 *
 * The tunnel's mux and connection callbacks come here directly (the
 * tables in tunnel.c name these functions): each event goes down into
 * the core, and the core's actions come back as the ops below. Writes
 * to the target: uv_try_write, the rest in one queued write, completion
 * reported to the core, which then gives the window back.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "log/log.h"
#include "relay/addr_text.h"
#include "relay/prom.h"
#include "relay/relay_stream.h"
#include "relay/settings.h"

static relay_t *relay_of(relay_stream_t *s)
{
  return s->t->w->r;
}

static uint64_t now_of(relay_stream_t *s)
{
  return uv_now(&s->t->w->loop);
}

static uv_stream_t *target_of(relay_stream_t *s)
{
  return (uv_stream_t *)&s->conn->tcp;
}

/* After each event: the core's mux output is flushed this turn. */
static void after_event(relay_tunnel_t *t)
{
  if(t->shared.output) {
    t->shared.output = 0;
    t->host->output(t);
  }
}

static void log_done(relay_stream_t *s)
{
  const stream_core_t *c = &s->core;
  log_line_t l;
  log_level_t lvl = c->outcome != OUTCOME_OK ? LOG_WARN : LOG_INFO;
  if(!log_begin(&l, lvl, "stream_done"))
    return;
  log_u64(&l, "tunnel", s->t->id);
  log_u64(&l, "stream", c->id);
  log_str(&l, "subject", s->t->subject);
  log_str(&l, "target", c->target_text ? c->target_text : "-");
  log_str(&l, "resolved", c->resolved[0] ? c->resolved : "-");
  log_u64(&l, "bytes_up", c->bytes_up);
  log_u64(&l, "bytes_down", c->bytes_down);
  log_ms(&l, "duration", now_of(s) - s->start_ms);
  log_str(&l, "outcome", outcome_word(c->outcome));
  if(c->reason[0])
    log_str(&l, "reason", c->reason);
  log_end(&l);
}

static void stream_release(relay_stream_t *s)
{
  if(--s->refs > 0)
    return;
  relay_tunnel_t *t = s->t;
  log_done(s);
  stream_core_free(&s->core);
  list_del(&s->link);
  relay_settings_put(s->settings);
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

/* ---- the core's ops ---- */

/* The stream is over: the target connection closes; the stream is
 * freed once it closed and the worker reaped it (never while a caller
 * still uses it). */
static void op_finished(void *ud)
{
  relay_stream_t *s = ud;
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

static void on_up_written(void *owner, size_t len, int status)
{
  relay_stream_t *s = owner;
  if(status == UV_ECANCELED || s->core.state == STREAM_DONE)
    return;
  if(status < 0) {
    char why[64];
    snprintf(why, sizeof(why), "target write: %s", uv_err_name(status));
    stream_core_on_target_error(&s->core, why);
  } else {
    stream_core_on_target_written(&s->core, len, now_of(s));
  }
  after_event(s->t);
}

/* What the socket takes now, the rest copied into one queued write
 * (conn/conn_uv.h). */
static int64_t op_write(void *ud, const stream_core_iov_t *iov, unsigned n,
                        char *why, size_t why_len)
{
  relay_stream_t *s = ud;
  uv_buf_t b[STREAM_GATHER_MAX];
  for(unsigned i = 0; i < n; i++)
    b[i] = uv_buf_init((char *)iov[i].p, (unsigned)iov[i].n);
  int64_t done = conn_uv_send(&s->up, b, n);
  if(done == UV_ENOMEM)
    snprintf(why, why_len, "out of memory");
  else if(done < 0)
    snprintf(why, why_len, "target write: %s", uv_err_name((int)done));
  return done < 0 ? -1 : done;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
  relay_stream_t *s = req->data;
  if(status && status != UV_ECANCELED && status != UV_ENOTCONN &&
     s->core.state != STREAM_DONE)
    stream_core_on_target_error(&s->core, "target shutdown failed");
  else
    stream_core_on_target_shut(&s->core);
  after_event(s->t);
}

static int op_shut_write(void *ud)
{
  relay_stream_t *s = ud;
  s->shutdown_req.data = s;
  /* libuv runs it after the queued writes: FIN follows all the data. */
  return uv_shutdown(&s->shutdown_req, target_of(s), on_shutdown);
}

static void on_target_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *buf)
{
  dial_conn_t *c = h->data;
  relay_stream_t *s = c->owner;
  buf->base = (char *)s->t->w->tbuf;
  buf->len = stream_core_read_size(&s->core, sizeof(s->t->w->tbuf));
}

static void on_target_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
  dial_conn_t *c = h->data;
  relay_stream_t *s = c->owner;
  if(s->core.state == STREAM_DONE || nread == 0)
    return;
  if(nread > 0) {
    stream_core_on_target_read(&s->core, (const uint8_t *)buf->base,
                               (size_t)nread);
  } else if(nread == UV_ENOBUFS) {
    /* on_target_alloc gave no buffer: the mux takes nothing now. */
    stream_core_on_target_full(&s->core);
  } else if(nread == UV_EOF) {
    stream_core_on_target_eof(&s->core);
  } else {
    char why[64];
    uv_read_stop(h);
    snprintf(why, sizeof(why), "target read: %s", uv_err_name((int)nread));
    stream_core_on_target_error(&s->core, why);
  }
  after_event(s->t);
}

static int op_read(void *ud, int on)
{
  relay_stream_t *s = ud;
  if(!on)
    return uv_read_stop(target_of(s));
  return uv_read_start(target_of(s), on_target_alloc, on_target_read);
}

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

static void log_open(relay_stream_t *s)
{
  log_line_t l;
  if(log_begin(&l, LOG_DEBUG, "stream_open")) {
    log_u64(&l, "tunnel", s->t->id);
    log_u64(&l, "stream", s->core.id);
    log_str(&l, "target", s->core.target_text ? s->core.target_text : "-");
    log_str(&l, "resolved", s->core.resolved);
    log_end(&l);
  }
}

static void on_dialled(void *ud, int status, int os_err, dial_conn_t *conn,
                       const struct sockaddr *peer, const char *why)
{
  relay_stream_t *s = ud;
  char resolved[64] = "";
  s->dial = NULL;
  relay_prom_target_connect(relay_of(s),
                            outcome_classify(status, os_err, OUTCOME_AT_DIAL),
                            uv_hrtime() - s->dial_start_ns);
  if(!status) {
    s->conn = conn;
    conn_uv_sender_init(&s->up, target_of(s), on_up_written, s);
    conn->owner = s;
    conn->on_closed = conn_closed;
    conn->tcp.data = conn;
    s->refs++;
    relay_addr_format(peer, resolved, sizeof(resolved));
    uv_tcp_nodelay(&conn->tcp, 1);
  }
  stream_core_on_dialled(&s->core, status, os_err, resolved, why, now_of(s));
  if(s->core.state == STREAM_OPEN)
    log_open(s);
  after_event(s->t);
}

static int op_dial(void *ud, const target_t *tgt)
{
  relay_stream_t *s = ud;
  /* Judged by the settings of now, kept to the stream's end: a reload
   * changes the next stream's verdict, not this one's. */
  if(!s->settings)
    s->settings = relay_settings_get(relay_of(s));
  const policy_t *pol = s->settings->policy;
  conn_deadline_stop(&s->target_deadline);
  s->dial_start_ns = uv_hrtime();
  /* The tunnel's lookup group caps its lookups in flight (docs/SECURITY.md
   * "Name lookups"): over it the dial fails at once, refused relay_limit. */
  s->dial = dial_start_group(&s->t->w->loop, s->t->lookups, tgt,
                             s->settings->cfg.dial_timeout_ms, policy_allows,
                             (void *)pol, on_dialled, s);
  return s->dial ? 0 : BEACON_ENOMEM;
}

/* A mux call on a live stream failed (out of memory for its frame). */
static void op_mux_failed(void *ud, const char *call, int rc)
{
  relay_stream_t *s = ud;
  log_line_t l;
  if(!log_begin(&l, LOG_WARN, "stream_mux_failed"))
    return;
  log_u64(&l, "tunnel", s->t->id);
  log_u64(&l, "stream", s->core.id);
  log_str(&l, "call", call);
  log_str(&l, "error", beacon_strerror(rc));
  log_end(&l);
}

static const stream_core_ops_t ops = {
    .dial = op_dial,
    .write = op_write,
    .shut_write = op_shut_write,
    .read = op_read,
    .finished = op_finished,
    .mux_failed = op_mux_failed,
};

/* ---- the tunnel's mux and connection events ---- */

void relay_stream_on_data(mux_t *m, uint32_t id, void *sud, const uint8_t *p,
                          size_t n, void *tud)
{
  relay_stream_t *s = sud;
  if(!s)
    return;
  /* Inside mux_recv the payload points into the tunnel's plaintext:
   * gathered, written by relay_stream_recv_done. */
  stream_core_on_data(&s->core, p, n, conn_in_recv(s->t->conn), now_of(s));
}

void relay_stream_on_fin(mux_t *m, uint32_t id, void *sud, void *tud)
{
  relay_stream_t *s = sud;
  if(s)
    stream_core_on_fin(&s->core, now_of(s));
}

void relay_stream_on_reset(mux_t *m, uint32_t id, void *sud, void *tud)
{
  relay_stream_t *s = sud;
  if(s)
    stream_core_on_reset(&s->core);
}

void relay_stream_on_writable(mux_t *m, uint32_t id, void *sud, void *tud)
{
  relay_stream_t *s = sud;
  if(!s)
    return;
  stream_core_on_writable(&s->core);
  after_event(s->t);
}

void relay_stream_on_closed(mux_t *m, uint32_t id, void *sud, void *tud)
{
  relay_stream_t *s = sud;
  if(!s)
    return;
  /* the target socket budget_admit_stream() took in on_stream_open */
  budget_stream_done(&s->t->budget);
  stream_core_on_closed(&s->core, relay_tunnel_closing(s->t));
}

void relay_stream_recv_done(conn_t *c, void *tud)
{
  relay_tunnel_t *t = tud;
  stream_gather_flush(&t->w->gather, uv_now(&t->w->loop));
}

void relay_stream_on_deadline(conn_t *c, conn_deadline_t *d, uint64_t now,
                              void *tud)
{
  relay_stream_t *s = LIST_CONTAINER(d, relay_stream_t, target_deadline);
  stream_core_tick(&s->core, now);
  after_event(s->t);
}

int relay_stream_open(relay_tunnel_t *t, uint32_t id, void **ud)
{
  relay_stream_t *s = calloc(1, sizeof(*s));
  if(!s)
    return BEACON_ENOMEM;
  s->t = t;
  s->start_ms = uv_now(&t->w->loop);
  int rc = stream_core_init(&s->core, &t->shared, id, &ops, s, s->start_ms);
  if(rc < 0) {
    free(s);
    return rc;
  }
  s->refs = 1; /* dropped when reaped; the target connection adds one */
  list_init(&s->reap_link);
  conn_deadline_init(&s->target_deadline);
  conn_deadline_start(t->conn, &s->target_deadline, s->core.deadline);
  list_add(&t->streams, &s->link);
  t->refs++;
  t->streams_total++;
  *ud = s;
  return rc;
}
