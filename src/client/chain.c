/*
 * chain.c - one chain: a connection through every hop of the relay chain
 * (docs/PROTOCOL.md "Chains of relays", docs/ARCHITECTURE.md "Chain").
 *
 * Hop 0 is TLS over a uv_tcp_t. Hop k+1 is TLS whose ciphertext is the
 * payload of a stream of hop k's mux, opened with hop k+1's address as
 * its target line; each hop verifies its relay against fleet-ca.crt with
 * that relay's own host as the expected name. The caller's streams
 * (stream.c) live on the innermost hop's mux.
 *
 * Each hop's TLS and mux run in a connection core (conn/conn.h), the
 * same as the relay's tunnels. Output moves from the innermost hop
 * outwards once per loop turn (chain_flush): mux output -> TLS ->
 * carrier stream of the previous hop (or the socket for hop 0). Each
 * step stops when the next one is full, so a slow relay link fills the
 * mux queues and the streams stop reading their local sockets
 * (docs/PROTOCOL.md "Relaying", on the controller side); ciphertext that makes
 * no progress for the keep-alive timeout ends the chain.
 *
 * Failures only mark the chain (client_chain_fail); the tunnel's
 * check handle then calls client_chain_service(), which tears it down
 * outside every mux callback.
 */
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/chain.h"
#include "client/own_files.h"
#include "client/req.h"
#include "client/dialled_stream.h"
#include "conn/conn_uv.h"
#include "common/tunnel_socket.h"

/* Hop 0 write buffers kept per chain for reuse (conn/conn_uv.h). */
#define WBUF_KEEP 4

static void chain_flush(client_chain_t *s);
static int write_socket(client_chain_t *s, client_hop_t *h);

static uint64_t now_ms(client_chain_t *s)
{
  return uv_now(&s->t->loop);
}

static const char *hop_name(client_chain_t *s, int hop, char *buf, size_t cap)
{
  const target_t *r = s->relay[hop];
  int v6 = r->kind == TARGET_IPV6;
  if(hop == 0)
    snprintf(buf, cap, "relay %s (hop 1/%d)", s->t->members[s->member].name,
             s->nhops);
  else
    snprintf(buf, cap, "relay %s%s%s:%u (hop %d/%d)", v6 ? "[" : "", r->host,
             v6 ? "]" : "", r->port, hop + 1, s->nhops);
  return buf;
}

void client_chain_fail(client_chain_t *s, int hop, int code, const char *fmt,
                       ...)
{
  if(s->state == CHAIN_FAILED)
    return;
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  if(hop >= 0) {
    char name[300];
    client_error_set(&s->err, code, hop, "%s: %s",
                     hop_name(s, hop, name, sizeof(name)), what);
  } else {
    client_error_set(&s->err, code, hop, "%s", what);
  }
  s->state = CHAIN_FAILED;
  /* No hop reads or sends any more; the streams end at teardown. */
  for(int i = 0; i < s->nhops; i++)
    if(s->hops[i].conn)
      conn_close(s->hops[i].conn, CONN_CLOSE_ABORT, now_ms(s));
  client_chain_changed(s);
  client_dirty(s->t);
}

static mux_t *hop_mux(const client_hop_t *h)
{
  return h->conn ? conn_mux(h->conn) : NULL;
}

/* ---- mux callbacks ---------------------------------------------------- */

static void hop_input(client_hop_t *h, const uint8_t *in, size_t len);
static void carrier_lost(client_hop_t *child, const char *how,
                         uint32_t reason);
static int hop_start_tls(client_hop_t *h);

static int cb_stream_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  return BEACON_EPROTO; /* the relay never opens streams in egress */
}

static void cb_stream_ack(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(sud && *(int *)sud == CLIENT_SUD_STREAM)
    client_stream_on_ack(sud);
}

static void cb_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t n, void *ud)
{
  if(!sud)
    return;
  if(*(int *)sud == CLIENT_SUD_STREAM) {
    client_stream_on_data(sud, d, n);
    return;
  }
  /* A carrier: the next hop's ciphertext, consumed at once (the next
   * hop's own windows bound what it buffers). */
  hop_input(sud, d, n);
  if(mux_stream_consumed(m, id, n))
    carrier_lost(sud, "stalled (window update failed)", 0);
}

/* The carrier of child ended (how); reason is the beacon/1 code of the
 * previous hop's refusal, if it gave one: a relay that confirms
 * connects says why it could not reach the next relay, as it does for
 * a target (docs/PROTOCOL.md "Refusal codes"). */
static void carrier_lost(client_hop_t *child, const char *how, uint32_t reason)
{
  client_chain_t *s = child->s;
  if(s->state == CHAIN_FAILED)
    return;
  int prev = child->index - 1;
  char pname[300];
  hop_name(s, prev, pname, sizeof(pname));
  if(!child->up && reason)
    client_chain_fail(
        s, child->index, BEACON_EREFUSED,
        "unreachable through %s, which could not connect to "
        "it: %s (%s)",
        pname, beacon_strerror(outcome_code(outcome_from_reason(reason))),
        outcome_reason_name(reason));
  else if(!child->up)
    client_chain_fail(s, child->index, BEACON_EREFUSED,
                      "unreachable through %s (stream %s: refused, "
                      "unreachable or denied by its policy)",
                      pname, how);
  else
    client_chain_fail(s, child->index, BEACON_ERESET,
                      "connection lost (stream through %s %s)", pname, how);
}

static void cb_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(!sud)
    return;
  if(*(int *)sud == CLIENT_SUD_STREAM)
    client_stream_on_fin(sud);
  else
    carrier_lost(sud, "closed", 0);
}

static void cb_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(!sud)
    return;
  if(*(int *)sud == CLIENT_SUD_STREAM)
    client_stream_on_reset(sud);
  else
    carrier_lost(sud, "reset", mux_reset_code(m));
}

static void cb_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  client_hop_t *h = ud;
  if(sud && *(int *)sud == CLIENT_SUD_STREAM)
    client_stream_on_writable(sud);
  client_dirty(h->s->t);
}

static void cb_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(!sud)
    return;
  if(*(int *)sud == CLIENT_SUD_STREAM) {
    client_stream_on_closed(sud);
    return;
  }
  client_hop_t *child = sud;
  child->carrier_sid = 0;
  carrier_lost(child, "closed", 0);
}

static void cb_go_away(mux_t *m, uint32_t code, void *ud)
{
  client_hop_t *h = ud;
  client_chain_t *s = h->s;
  /* No new streams on this chain; live ones finish. The next dial
   * starts a fresh chain. */
  if(!s->going_away) {
    s->going_away = 1;
    client_chain_changed(s);
  }
  client_dirty(s->t);
}

static void cb_ping_ack(mux_t *m, uint32_t opaque, uint64_t rtt_ms, void *ud)
{
  client_hop_t *h = ud;
  client_chain_t *s = h->s;
  if(h->index == s->nhops - 1)
    s->inner_pong_at = now_ms(s);
  if(h->index)
    return;
  /* A ping sent before the relay stalled measured the stall. */
  if(now_ms(s) - rtt_ms < s->resumed_at)
    return;
  if(!rtt_ms)
    rtt_ms = 1;
  /* One late answer (a busy relay, a descheduled process) moves the
   * estimate at most fourfold; a lasting change still shows in a few. */
  uint64_t cap = 4 * (s->rtt_ms > 10 ? s->rtt_ms : 10);
  if(s->rtt_ms && rtt_ms > cap)
    rtt_ms = cap;
  s->rtt_ms = s->rtt_ms ? (3 * s->rtt_ms + rtt_ms + 2) / 4 : rtt_ms;
}

static const mux_callbacks_t mux_cbs = {
    .on_ping_ack = cb_ping_ack,
    .on_stream_open = cb_stream_open,
    .on_stream_ack = cb_stream_ack,
    .on_data = cb_data,
    .on_fin = cb_fin,
    .on_reset = cb_reset,
    .on_writable = cb_writable,
    .on_stream_closed = cb_closed,
    .on_go_away = cb_go_away,
};

/* ---- hops ------------------------------------------------------------- */

static void chain_ready(client_chain_t *s)
{
  s->state = CHAIN_UP;
  client_chain_changed(s);
  while(!list_empty(&s->waiting)) {
    list_link_t *n = s->waiting.next;
    list_del(n);
    client_req_t *req = LIST_CONTAINER(n, client_req_t, link);
    client_chain_submit(s, req);
  }
}

/* ---- hop connection callbacks ---------------------------------------- */

static void cb_handshake_failed(conn_t *c, int rc, const char *detail,
                                void *ud)
{
  client_hop_t *h = ud;
  client_chain_t *s = h->s;
  /* Our refusal of the relay's certificate leaves as an alert before the
   * socket closes, so the relay's log says why rather than "closed". */
  if(h->index == 0 && rc != BEACON_ETIMEDOUT)
    (void)write_socket(s, h);
  if(rc == BEACON_ETIMEDOUT)
    client_chain_fail(s, h->index, BEACON_ETIMEDOUT,
                      "TLS handshake timed out after %d ms",
                      s->t->cfg.handshake_ms);
  else if(rc == BEACON_ENOMEM)
    client_chain_fail(s, h->index, BEACON_ENOMEM, "out of memory");
  else
    /* The TLS layer's own text already says "TLS handshake failed: ..."
     * for OpenSSL errors, or names what answered instead of a relay; a
     * verdict on a certificate does neither. */
    client_chain_fail(s, h->index, rc, "%s%s",
                      detail && (!strncmp(detail, "TLS ", 4) ||
                                 !strncmp(detail, "not a beacon", 12))
                          ? ""
                          : "TLS handshake failed: ",
                      detail ? detail : "");
}

static void cb_up(conn_t *c, void *ud)
{
  client_hop_t *h = ud;
  client_chain_t *s = h->s;
  h->up = 1;
  if(h->index == s->nhops - 1) {
    chain_ready(s);
    return;
  }
  /* The next hop rides a stream of this one (docs/PROTOCOL.md "Chains of
   * relays"). */
  client_hop_t *next = &s->hops[h->index + 1];
  mux_t *m = conn_mux(c);
  char line[TARGET_MAX_LINE + 4];
  int len = target_format(s->relay[next->index], line, sizeof(line));
  int64_t id = mux_open(m, next);
  if(len < 0 || id <= 0) {
    client_chain_fail(s, h->index, id < 0 ? (int)id : BEACON_EINVAL,
                      "cannot open a stream to the next relay");
    return;
  }
  next->carrier_sid = (uint32_t)id;
  if(mux_stream_write(m, next->carrier_sid, (const uint8_t *)line,
                      (size_t)len) != len) {
    client_chain_fail(s, h->index, BEACON_EIO,
                      "cannot write the next relay's target line");
    return;
  }
  hop_start_tls(next);
}

static void cb_recv_done(conn_t *c, void *ud)
{
  client_hop_t *h = ud;
  if(h->index == h->s->nhops - 1)
    h->s->proven = 1; /* plaintext came all the way through */
}

static void cb_mux_error(conn_t *c, int rc, void *ud)
{
  client_hop_t *h = ud;
  client_chain_fail(h->s, h->index, rc, "yamux: %s", beacon_strerror(rc));
}

/* The core ended the hop (failures it reported first are kept). */
static void cb_close(conn_t *c, enum conn_close_reason why, void *ud)
{
  client_hop_t *h = ud;
  client_chain_t *s = h->s;
  switch(why) {
  case CONN_CLOSE_NOTIFY:
    client_chain_fail(s, h->index, BEACON_ECLOSED,
                      "the relay closed the tunnel");
    break;
  case CONN_CLOSE_TLS_ERROR:
    /* In TLS 1.3 the relay checks our certificate after our side of
     * the handshake is done: its refusal arrives here as an alert. */
    client_chain_fail(s, h->index, BEACON_ETLS, "TLS: %s",
                      tls_conn_error(conn_tls(c)));
    break;
  case CONN_CLOSE_KEEPALIVE_TIMEOUT:
    client_chain_fail(s, h->index, BEACON_ETIMEDOUT,
                      "keep-alive: no answer to a ping within %d ms",
                      s->t->cfg.keepalive_timeout_ms);
    break;
  case CONN_CLOSE_WRITE_TIMEOUT:
    client_chain_fail(s, h->index, BEACON_ETIMEDOUT,
                      "write: no progress within %d ms",
                      s->t->cfg.keepalive_timeout_ms);
    break;
  case CONN_CLOSE_OUT_OF_MEMORY:
    client_chain_fail(s, h->index, BEACON_ENOMEM, "out of memory");
    break;
  default:
    client_chain_fail(s, h->index, BEACON_EIO, "%s",
                      conn_close_reason_name(why));
    break;
  }
}

static const conn_callbacks_t conn_cbs = {
    .on_handshake_failed = cb_handshake_failed,
    .on_up = cb_up,
    .on_recv_done = cb_recv_done,
    .on_mux_error = cb_mux_error,
    .on_close = cb_close,
};

static int hop_start_tls(client_hop_t *h)
{
  client_chain_t *s = h->s;
  const beacon_config_t *c = &s->t->cfg;
  conn_config_t cc;
  conn_config_default(&cc);
  cc.handshake_timeout_ms = (uint64_t)c->handshake_ms;
  /* A write stuck that long is as dead as an unanswered ping. */
  cc.write_timeout_ms =
      c->keepalive_ms ? (uint64_t)c->keepalive_timeout_ms : 0;
  /* Hop 0 queues on its socket; an inner hop encrypts one slice at a
   * time into its carrier stream. */
  cc.high_water = h->index ? CLIENT_CHUNK : CLIENT_HIGH_WATER;
  cc.near_high_water = h->index ? 0 : CLIENT_NEAR_HIGH_WATER;
  cc.flush_slice = CLIENT_CHUNK;
  cc.plain_cap = CLIENT_PLAIN;
  cc.keep_mux_on_close = 1; /* teardown ends the streams */
  cc.mux.is_client = 1;
  cc.mux.keepalive_ms = (uint64_t)c->keepalive_ms;
  cc.mux.keepalive_timeout_ms = (uint64_t)c->keepalive_timeout_ms;
  cc.mux.window_budget = c->window_budget;
  cc.mux.max_window = 0; /* the default cap, or 256 KiB fixed */
  tls_ctx_t *ctx = s->t->host->ctx_get(s->t);
  if(h->index == 0) { /* what rotation.c renews */
    s->cert_not_before = (int64_t)tls_ctx_cert_not_before(ctx);
    s->cert_not_after = (int64_t)tls_ctx_cert_not_after(ctx);
  }
  h->conn = conn_new(&cc, ctx, s->relay[h->index]->host, &conn_cbs, &mux_cbs,
                     h, now_ms(s));
  tls_ctx_unref(ctx); /* the connection holds its own */
  if(!h->conn) {
    client_chain_fail(s, h->index, BEACON_ENOMEM,
                      "out of memory (or TLS could not start)");
    return BEACON_ENOMEM;
  }
  client_dirty(s->t);
  return 0;
}

/* Ciphertext arrived for hop h (from the socket or its carrier). */
static void hop_input(client_hop_t *h, const uint8_t *in, size_t len)
{
  client_chain_t *s = h->s;
  if(s->state == CHAIN_FAILED || !h->conn)
    return;
  if(h->index == 0) {
    s->last_input = now_ms(s);
    if(s->stalled) { /* it answers again */
      s->stalled = 0;
      s->resumed_at = now_ms(s);
      client_chain_changed(s);
    }
  }
  conn_feed(h->conn, in, len, now_ms(s));
  client_dirty(s->t);
}

/* ---- hop 0 transport -------------------------------------------------- */

static void on_tcp_write(void *owner, size_t len, int status)
{
  client_chain_t *s = owner;
  if(s->hops[0].conn) /* NULL after teardown: the write was cancelled */
    conn_write_done(s->hops[0].conn, len, now_ms(s));
  if(status < 0 && status != UV_ECANCELED)
    client_chain_fail(s, 0, BEACON_EIO, "write: %s", uv_strerror(status));
  client_dirty(s->t);
}

/* Hop 0's socket is a dial_conn_t: its handle's data is the connection,
 * whose owner is the chain. */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  client_chain_t *s = ((dial_conn_t *)h->data)->owner;
  *buf = uv_buf_init((char *)s->rbuf, sizeof(s->rbuf));
}

static void on_tcp_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
  client_chain_t *s = ((dial_conn_t *)st->data)->owner;
  if(n == 0 || s->state == CHAIN_FAILED)
    return;
  if(n < 0) {
    if(n == UV_EOF && !s->hops[0].up)
      client_chain_fail(s, 0, BEACON_ETLS,
                        "the relay closed the connection during the "
                        "TLS handshake");
    else if(n == UV_EOF && !s->proven)
      /* A relay that refuses a verified controller (--allow-client)
       * closes right after the handshake, before saying anything. */
      client_chain_fail(s, 0, BEACON_ECLOSED,
                        "the relay closed the connection right after the "
                        "TLS handshake (is this controller allowed by "
                        "its --allow-client?)");
    else if(n == UV_EOF)
      client_chain_fail(s, 0, BEACON_ECLOSED,
                        "the relay closed the connection");
    else
      client_chain_fail(s, 0, BEACON_EIO, "read: %s", uv_strerror((int)n));
    return;
  }
  hop_input(&s->hops[0], (const uint8_t *)buf->base, (size_t)n);
}

static void handle_closed(uv_handle_t *h)
{
  client_chain_release(h->data);
}

static void sock_closed(dial_conn_t *c)
{
  client_chain_release(c->owner);
}

/* Hop 0's relay answered on one of its addresses (Happy Eyeballs over
 * all of them, dial/dial.h), or none did. */
static void on_dialled(void *ud, int status, int os_err, dial_conn_t *c,
                       const struct sockaddr *peer, const char *why)
{
  client_chain_t *s = ud;
  (void)os_err;
  (void)peer;
  s->dial = NULL;
  if(status) {
    if(s->state != CHAIN_FAILED)
      client_chain_fail(
          s, 0, status, "%s: %s",
          status == BEACON_ENOTFOUND ? "cannot resolve" : "connect", why);
    client_chain_release(s);
    return;
  }
  c->owner = s;
  c->on_closed = sock_closed;
  s->sock = c; /* the dial's reference is now the socket's */
  if(s->state == CHAIN_FAILED) {
    dial_conn_close(c);
    return;
  }
  s->state = CHAIN_HANDSHAKE;
  uv_os_fd_t fd;
  if(uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
    (void)tunnel_socket_tune(fd, s->t->cfg.congestion);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_tcp_read);
  hop_start_tls(&s->hops[0]);
  client_dirty(s->t);
}

/* ---- lifecycle -------------------------------------------------------- */

/* 1 (and the chain failed with ECONFIG) when the controller's own
 * certificate is expired or not valid yet. */
static int own_certificate_invalid(client_chain_t *s)
{
  tls_ctx_t *ctx = s->t->host->ctx_get(s->t);
  time_t nb = tls_ctx_cert_not_before(ctx), na = tls_ctx_cert_not_after(ctx);
  time_t now = time(NULL);
  tls_ctx_unref(ctx);
  time_t when = (nb && now < nb) ? nb : (na && now > na) ? na : 0;
  if(!when)
    return 0;
  char date[32];
  struct tm tm;
  gmtime_r(&when, &tm);
  strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
  client_chain_fail(s, -1, BEACON_ECONFIG,
                    "our own certificate (%s) %s %s: renew it", s->t->cfg.cert,
                    when == nb ? "is not valid before" : "expired on", date);
  return 1;
}

/* A long-lived tunnel repeats cert_expiring at most once a day, when it
 * connects again. */
static void own_certificate_expiring(beacon_tunnel_t *t)
{
  time_t now = time(NULL);
  int64_t last = atomic_load(&t->expiry_warned);
  if(now - last < 86400 ||
     !atomic_compare_exchange_strong(&t->expiry_warned, &last, (int64_t)now))
    return;
  tls_ctx_t *ctx = t->host->ctx_get(t);
  client_own_cert_expiring(&t->cfg, ctx, now);
  tls_ctx_unref(ctx);
}

client_chain_t *client_chain_new(beacon_tunnel_t *t, int member)
{
  client_chain_t *s = calloc(1, sizeof(*s));
  if(!s)
    return NULL;
  s->t = t;
  s->id = ++t->next_chain;
  s->nhops = t->cfg.nrelays;
  s->member = member;
  /* Hop 0's member is the pool's choice; an inner hop's pool is reached
   * through it, one member picked at random per chain. */
  s->relay[0] = &t->members[member].relay;
  s->dial0 = &t->members[member].dial;
  for(int i = 1; i < s->nhops; i++) {
    const client_hop_pool_t *p = &t->cfg.relays[i];
    s->relay[i] = &p->members[client_rand(t) % (uint32_t)p->n];
  }
  s->refs = 1;
  list_init(&s->waiting);
  conn_wpool_init(&s->wpool, WBUF_KEEP);
  list_init(&s->streams);
  for(int i = 0; i < s->nhops; i++) {
    s->hops[i].kind = CLIENT_SUD_HOP;
    s->hops[i].s = s;
    s->hops[i].index = i;
  }
  uv_timer_init(&t->loop, &s->timer);
  s->timer.data = s;
  s->refs++;
  list_add(&t->chains, &s->link);

  s->state = CHAIN_CONNECTING;
  s->dial_deadline = now_ms(s) + (uint64_t)t->cfg.dial_ms;
  /* A relay would refuse our own certificate out of its validity with
   * an alert that does not say whose: say it here, before dialling. */
  if(own_certificate_invalid(s)) {
    client_dirty(t);
    return s;
  }
  own_certificate_expiring(t);
  /* The chain's own timer ends the dial with its message; the dial's
   * timeout is a safety net behind it. */
  s->dial = dial_start(&t->loop, s->dial0, (uint64_t)t->cfg.dial_ms + 1000,
                       NULL, NULL, on_dialled, s);
  if(s->dial)
    s->refs++;
  else
    client_chain_fail(s, 0, BEACON_ENOMEM,
                      "cannot resolve: out of memory or no resolver");
  client_dirty(t);
  return s;
}

void client_chain_release(client_chain_t *s)
{
  if(--s->refs > 0)
    return;
  conn_wpool_clear(&s->wpool);
  free(s);
}

void client_chain_submit(client_chain_t *s, client_req_t *req)
{
  if(s->state != CHAIN_UP) {
    list_add(&s->waiting, &req->link);
    client_dirty(s->t);
    return;
  }
  client_stream_t *p = client_stream_open(s, req);
  if(!p) {
    /* mux_open refused (Go Away, stream cap): this chain takes no new
     * streams and ends after its last one; a fresh one may take it
     * (the pool decides). */
    beacon_error_t e;
    client_error_set(&e, BEACON_ELIMIT, s->nhops - 1,
                     "cannot open a stream on the tunnel");
    s->going_away = 1;
    s->t->host->failover(s->t, req, s, &e);
  }
  client_dirty(s->t);
}

/* A request whose chain died before its stream was acknowledged: the
 * pool moves it on. If this chain had worked, the same relay may get
 * one more try (a relay restart shows only when we use the old
 * connection). */
static void req_lost(client_chain_t *s, client_req_t *req)
{
  if(s->proven && !req->retried)
    req->may_retry_same = 1;
  s->t->host->failover(s->t, req, s, &s->err);
}

static void chain_teardown(client_chain_t *s)
{
  s->torn_down = 1;
  client_chain_changed(s);
  if(s->err.code == 0)
    client_error_set(&s->err, BEACON_ECLOSED, -1, "tunnel closed");
  while(!list_empty(&s->streams)) {
    client_stream_t *p =
        LIST_CONTAINER(s->streams.next, client_stream_t, link);
    client_req_t *req = client_stream_take_req(p);
    if(req)
      req_lost(s, req);
    else
      client_stream_abort(p);
  }
  while(!list_empty(&s->waiting)) {
    list_link_t *n = s->waiting.next;
    list_del(n);
    req_lost(s, LIST_CONTAINER(n, client_req_t, link));
  }
  for(int i = s->nhops - 1; i >= 0; i--) {
    client_hop_t *h = &s->hops[i];
    conn_free(h->conn); /* the mux without callbacks */
    h->conn = NULL;
  }
  if(s->dial) {
    dial_cancel(s->dial); /* no callback after this: its reference goes */
    s->dial = NULL;
    client_chain_release(s);
  }
  list_del(&s->link);
  if(s->sock)
    dial_conn_close(s->sock);
  uv_close((uv_handle_t *)&s->timer, handle_closed);
  client_chain_release(s);
}

/* ---- output ----------------------------------------------------------- */

/* Pending ciphertext of hop 0 to the socket: straight from the TLS queue
 * while libuv queues nothing (no copy), the rest in one queued write. */
/* Hands hop 0's pending ciphertext to the socket (conn/conn_uv.h). */
static int write_socket(client_chain_t *s, client_hop_t *h)
{
  if(!s->sock || s->state < CHAIN_HANDSHAKE)
    return 0;
  return conn_uv_write(h->conn, (uv_stream_t *)&s->sock->tcp, &s->wpool,
                       on_tcp_write, s);
}

static void flush_outer(client_chain_t *s, client_hop_t *h)
{
  size_t before;
  do {
    before = conn_unencrypted(h->conn);
    if(conn_flush(h->conn, now_ms(s)) || s->state == CHAIN_FAILED)
      return;
    if(write_socket(s, h)) {
      client_chain_fail(s, 0, BEACON_EIO, "cannot write to the relay");
      return;
    }
    /* all taken at once: no write completion will call us again */
  } while(!conn_waiting(h->conn) && conn_unencrypted(h->conn) &&
          conn_unencrypted(h->conn) < before);
}

/* Hop k > 0: ciphertext goes from the TLS queue into the carrier stream
 * of hop k-1, as much as its window takes; the rest stays queued. */
static void flush_inner(client_chain_t *s, client_hop_t *h)
{
  mux_t *pm = hop_mux(&s->hops[h->index - 1]);
  if(!pm || !h->carrier_sid)
    return;
  while(s->state != CHAIN_FAILED) {
    const uint8_t *p;
    size_t n = conn_pending(h->conn, &p);
    if(!n) {
      /* one slice: high_water is CLIENT_CHUNK for inner hops */
      if(conn_flush(h->conn, now_ms(s)) || !conn_pending(h->conn, &p))
        return;
      continue;
    }
    if(n > CLIENT_CHUNK)
      n = CLIENT_CHUNK;
    int64_t w = mux_stream_write(pm, h->carrier_sid, p, n);
    if(w < 0) {
      carrier_lost(h, "closed", 0);
      return;
    }
    conn_advance(h->conn, (size_t)w);
    if((size_t)w < n)
      return; /* on_writable of the carrier brings us back */
  }
}

static void chain_flush(client_chain_t *s)
{
  for(int i = s->nhops - 1; i >= 0 && s->state != CHAIN_FAILED; i--) {
    client_hop_t *h = &s->hops[i];
    if(!h->conn)
      continue;
    if(i == 0)
      flush_outer(s, h);
    else
      flush_inner(s, h);
  }
}

/* ---- timers ----------------------------------------------------------- */

static void on_timer(uv_timer_t *tm)
{
  client_chain_t *s = tm->data;
  uint64_t now = now_ms(s);
  if(s->state == CHAIN_FAILED)
    return;
  if(s->state == CHAIN_CONNECTING && now >= s->dial_deadline) {
    client_chain_fail(s, 0, BEACON_ETIMEDOUT, "connect timed out after %d ms",
                      s->t->cfg.dial_ms);
    return;
  }
  /* Handshake, keep-alive and write-stall deadlines: a hop that fails
   * them fails the chain through cb_handshake_failed or cb_close. */
  for(int i = 0; i < s->nhops; i++) {
    client_hop_t *h = &s->hops[i];
    /* A closing hop whose last output stalls is given up on. */
    if(h->conn && conn_tick(h->conn, now) == CONN_TICK_DROP)
      client_chain_fail(s, i, BEACON_ETIMEDOUT, "write stalled while closing");
    if(s->state == CHAIN_FAILED)
      return;
  }
  list_link_t *n = s->streams.next;
  while(n != &s->streams) {
    list_link_t *next = n->next;
    client_stream_t *p = LIST_CONTAINER(n, client_stream_t, link);
    if(p->req && now >= p->open_deadline) {
      /* A relay that sent nothing since the stream was opened (and a
       * ping went with it) is stalled: no new streams until it speaks. */
      if(!s->stalled && s->last_input < p->opened_at) {
        s->stalled = 1;
        client_chain_changed(s);
      }
      client_stream_open_expired(p, now, s->inner_pong_at >= p->opened_at);
    }
    n = next;
  }
  client_dirty(s->t);
}

static void chain_arm(client_chain_t *s)
{
  uint64_t next = UINT64_MAX;
  if(s->state == CHAIN_CONNECTING)
    next = s->dial_deadline;
  for(int i = 0; i < s->nhops; i++) {
    client_hop_t *h = &s->hops[i];
    if(h->conn) {
      uint64_t d = conn_next_deadline(h->conn);
      if(d < next)
        next = d;
    }
  }
  for(list_link_t *n = s->streams.next; n != &s->streams; n = n->next) {
    client_stream_t *p = LIST_CONTAINER(n, client_stream_t, link);
    if(p->req && p->open_deadline < next)
      next = p->open_deadline;
  }
  if(next == UINT64_MAX) {
    uv_timer_stop(&s->timer);
    return;
  }
  uint64_t now = now_ms(s);
  uv_timer_start(&s->timer, on_timer, next > now ? next - now : 0, 0);
}

void client_chain_service(client_chain_t *s)
{
  if(s->torn_down)
    return;
  if(s->state != CHAIN_FAILED)
    chain_flush(s);
  /* A chain that got Go Away ends once its streams are done. */
  if(s->state != CHAIN_FAILED && s->going_away && list_empty(&s->streams) &&
     list_empty(&s->waiting))
    client_chain_fail(s, -1, BEACON_EGOAWAY, "%s",
                      s->retired ? "renewed: the old tunnel is done"
                                 : "the relay is going away");
  if(s->state == CHAIN_FAILED) {
    chain_teardown(s);
    return;
  }
  chain_arm(s);
}
