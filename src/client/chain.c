/*
 * chain.c - one chain: a connection through every hop of the relay chain
 * (docs/PROTOCOL.md "Chains of relays", docs/ARCHITECTURE.md "Chain"):
 * its life from the dial of hop 0 to its teardown, hop 0's socket, and
 * the one timer its hops' cores share.
 *
 * Hop 0 is TLS over a uv_tcp_t. Hop k+1 is TLS whose ciphertext is the
 * payload of a carrier stream of hop k's mux (carrier.c), opened with
 * hop k+1's address as its target line; each hop verifies its relay
 * against fleet-ca.crt with that relay's own host as the expected name
 * (chain_hop.c). The caller's streams (dialled_stream.c) live on the innermost
 * hop's mux. Output moves from the innermost hop outwards once per loop
 * turn (chain_output.c); ciphertext that makes no progress for the
 * keep-alive timeout ends the chain.
 *
 * Failures only mark the chain (client_chain_fail); the tunnel's
 * check handle then calls client_chain_service(), which tears it down
 * outside every mux callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "client/carrier.h"
#include "client/chain.h"
#include "client/chain_hop.h"
#include "client/chain_output.h"
#include "client/own_files.h"
#include "client/req.h"
#include "client/dialled_stream.h"
#include "common/tunnel_socket.h"

/* Hop 0 write buffers kept per chain for reuse (conn/conn_uv.h). */
#define WBUF_KEEP 4

/* ---- hop 0 transport -------------------------------------------------- */

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
  client_hop_input(&s->hops[0], (const uint8_t *)buf->base, (size_t)n);
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
  client_hop_start(&s->hops[0]);
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
    s->hops[i].s = s;
    s->hops[i].index = i;
  }
  uv_timer_init(&t->loop, &s->timer);
  s->timer.data = s;
  s->refs++;
  list_add(&t->chains, &s->link);

  s->state = CHAIN_CONNECTING;
  s->dial_deadline = client_chain_now(s) + (uint64_t)t->cfg.dial_ms;
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
    client_carrier_free(&h->carrier);
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

/* ---- timers ----------------------------------------------------------- */

static void on_timer(uv_timer_t *tm)
{
  client_chain_t *s = tm->data;
  uint64_t now = client_chain_now(s);
  if(s->state == CHAIN_FAILED)
    return;
  if(s->state == CHAIN_CONNECTING && now >= s->dial_deadline) {
    client_chain_fail(s, 0, BEACON_ETIMEDOUT, "connect timed out after %d ms",
                      s->t->cfg.dial_ms);
    return;
  }
  /* Handshake, keep-alive and write-stall deadlines: a hop that fails
   * them fails the chain through cb_handshake_failed or cb_close; the
   * innermost hop's core also runs its streams' open deadlines
   * (chain_hop.c cb_deadline). */
  for(int i = 0; i < s->nhops; i++) {
    client_hop_t *h = &s->hops[i];
    /* A closing hop whose last output stalls is given up on. */
    if(h->conn && conn_tick(h->conn, now) == CONN_TICK_DROP)
      client_chain_fail(s, i, BEACON_ETIMEDOUT, "write stalled while closing");
    if(s->state == CHAIN_FAILED)
      return;
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
  if(next == UINT64_MAX) {
    uv_timer_stop(&s->timer);
    return;
  }
  uint64_t now = client_chain_now(s);
  uv_timer_start(&s->timer, on_timer, next > now ? next - now : 0, 0);
}

void client_chain_service(client_chain_t *s)
{
  if(s->torn_down)
    return;
  if(s->state != CHAIN_FAILED)
    client_chain_flush(s);
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
