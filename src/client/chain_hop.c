/*
 * chain_hop.c - a chain's hops (chain_hop.h). Each hop's TLS and mux run
 * in a connection core (conn/conn.h), the same as the relay's tunnels.
 * Every hop but the innermost carries one stream, the next hop's
 * carrier (carrier.c); the innermost carries the caller's streams
 * (dialled_stream.c). Each kind has a mux callback table of its own, chosen
 * when the hop starts, so user data needs no tag. The streams' open
 * deadlines run on the innermost hop's core (conn_deadline_t): its
 * one timer serves them all.
 */
#include "client/chain_hop.h"

#include <string.h>

#include "client/carrier.h"
#include "client/chain_output.h"
#include "client/chain_state.h"
#include "client/dialled_stream.h"

/* ---- mux callbacks of every hop --------------------------------------- */

static int cb_stream_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  return BEACON_EPROTO; /* the relay never opens streams in egress */
}

static void cb_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  client_hop_t *h = ud;
  if(sud && h->index == h->s->nhops - 1)
    client_stream_on_writable(sud);
  client_dirty(h->s->t); /* a carrier's window opened: flush into it */
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
  uint64_t now = client_chain_now(s);
  if(h->index == s->nhops - 1)
    s->inner_pong_at = now;
  if(h->index)
    return;
  /* A ping sent before the relay stalled measured the stall. */
  if(now - rtt_ms < s->resumed_at)
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

/* ---- the innermost hop: the caller's streams -------------------------- */

static void cb_stream_ack(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(sud)
    client_stream_on_ack(sud);
}

static void cb_stream_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                           size_t n, void *ud)
{
  if(sud)
    client_stream_on_data(sud, d, n);
}

static void cb_stream_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(sud)
    client_stream_on_fin(sud);
}

static void cb_stream_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(sud)
    client_stream_on_reset(sud);
}

static void cb_stream_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(sud)
    client_stream_on_closed(sud);
}

static const mux_callbacks_t streams_mux_cbs = {
    .on_ping_ack = cb_ping_ack,
    .on_stream_open = cb_stream_open,
    .on_stream_ack = cb_stream_ack,
    .on_data = cb_stream_data,
    .on_fin = cb_stream_fin,
    .on_reset = cb_stream_reset,
    .on_writable = cb_writable,
    .on_stream_closed = cb_stream_closed,
    .on_go_away = cb_go_away,
};

/* ---- an outer hop: the next hop's carrier ----------------------------- */

static const mux_callbacks_t carrier_mux_cbs = {
    .on_ping_ack = cb_ping_ack,
    .on_stream_open = cb_stream_open,
    .on_data = client_carrier_on_data,
    .on_fin = client_carrier_on_fin,
    .on_reset = client_carrier_on_reset,
    .on_writable = cb_writable,
    .on_stream_closed = client_carrier_on_closed,
    .on_go_away = cb_go_away,
};

/* ---- hop connection callbacks ---------------------------------------- */

static void cb_handshake_failed(conn_t *c, int rc, const char *detail,
                                void *ud)
{
  client_hop_t *h = ud;
  client_chain_t *s = h->s;
  /* Our refusal of the relay's certificate leaves as an alert before the
   * socket closes, so the relay's log says why rather than "closed". */
  if(h->index == 0 && rc != BEACON_ETIMEDOUT)
    client_chain_write_socket(s);
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
    client_chain_ready(s);
    return;
  }
  /* The next hop rides a stream of this one (docs/PROTOCOL.md "Chains of
   * relays"). */
  client_hop_t *next = &s->hops[h->index + 1];
  int rc = client_carrier_open(next, conn_mux(c));
  if(rc) {
    client_chain_fail(s, h->index, rc,
                      "cannot open a stream to the next relay");
    return;
  }
  client_hop_start(next);
}

static void cb_recv_done(conn_t *c, void *ud)
{
  client_hop_t *h = ud;
  if(h->index == h->s->nhops - 1)
    h->s->proven = 1; /* plaintext came all the way through */
  else
    client_carrier_deliver(h);
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
  int ka = s->t->cfg.keepalive_timeout_ms;
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
                      "keep-alive: no answer to a ping within %d ms", ka);
    break;
  case CONN_CLOSE_WRITE_TIMEOUT:
    client_chain_fail(s, h->index, BEACON_ETIMEDOUT,
                      "write: no progress within %d ms", ka);
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

/* A stream's open deadline passed on the innermost hop (dialled_stream.c
 * started it; it stops once the relay answers). */
static void cb_deadline(conn_t *c, conn_deadline_t *d, uint64_t now, void *ud)
{
  client_hop_t *h = ud;
  client_chain_t *s = h->s;
  client_stream_t *p = LIST_CONTAINER(d, client_stream_t, open_deadline);
  if(!p->req)
    return;
  /* A relay that sent nothing since the stream was opened or last
   * probed (a ping went with each) is stalled: no new streams until it
   * speaks. */
  if(!s->stalled && s->last_input < p->probed_at) {
    s->stalled = 1;
    client_chain_changed(s);
  }
  client_stream_open_expired(p, now, s->inner_pong_at >= p->probed_at);
  client_dirty(s->t);
}

static const conn_callbacks_t conn_cbs = {
    .on_handshake_failed = cb_handshake_failed,
    .on_up = cb_up,
    .on_recv_done = cb_recv_done,
    .on_mux_error = cb_mux_error,
    .on_close = cb_close,
    .on_deadline = cb_deadline,
};

static void hop_config(client_hop_t *h, conn_config_t *cc)
{
  const beacon_config_t *c = &h->s->t->cfg;
  conn_config_default(cc);
  cc->handshake_timeout_ms = (uint64_t)c->handshake_ms;
  /* A write stuck that long is as dead as an unanswered ping. */
  cc->write_timeout_ms =
      c->keepalive_ms ? (uint64_t)c->keepalive_timeout_ms : 0;
  /* Hop 0 queues on its socket; an inner hop encrypts one slice at a
   * time into its carrier stream. */
  cc->high_water = h->index ? CLIENT_CHUNK : CLIENT_HIGH_WATER;
  cc->near_high_water = h->index ? 0 : CLIENT_NEAR_HIGH_WATER;
  cc->flush_slice = CLIENT_CHUNK;
  cc->plain_cap = CLIENT_PLAIN;
  cc->keep_mux_on_close = 1; /* teardown ends the streams */
  cc->mux.is_client = 1;
  cc->mux.keepalive_ms = (uint64_t)c->keepalive_ms;
  cc->mux.keepalive_timeout_ms = (uint64_t)c->keepalive_timeout_ms;
  cc->mux.window_budget = c->window_budget;
  cc->mux.max_window = 0; /* the default cap, or 256 KiB fixed */
}

int client_hop_start(client_hop_t *h)
{
  client_chain_t *s = h->s;
  conn_config_t cc;
  hop_config(h, &cc);
  tls_ctx_t *ctx = s->t->host->ctx_get(s->t);
  if(h->index == 0) { /* what rotation.c renews */
    s->cert_not_before = (int64_t)tls_ctx_cert_not_before(ctx);
    s->cert_not_after = (int64_t)tls_ctx_cert_not_after(ctx);
  }
  const mux_callbacks_t *mux_cbs =
      h->index == s->nhops - 1 ? &streams_mux_cbs : &carrier_mux_cbs;
  h->conn = conn_new(&cc, ctx, s->relay[h->index]->host, &conn_cbs, mux_cbs, h,
                     client_chain_now(s));
  tls_ctx_unref(ctx); /* the connection holds its own */
  if(!h->conn) {
    client_chain_fail(s, h->index, BEACON_ENOMEM,
                      "out of memory (or TLS could not start)");
    return BEACON_ENOMEM;
  }
  client_dirty(s->t);
  return 0;
}

void client_hop_input(client_hop_t *h, const uint8_t *in, size_t len)
{
  client_chain_t *s = h->s;
  if(s->state == CHAIN_FAILED || !h->conn)
    return;
  uint64_t now = client_chain_now(s);
  s->last_input = now;
  if(s->stalled) { /* it answers again */
    s->stalled = 0;
    s->resumed_at = now;
    client_chain_changed(s);
  }
  conn_feed(h->conn, in, len, now);
  client_dirty(s->t);
}
