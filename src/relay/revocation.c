/*
 * revocation.c - live tunnels re-checked after a reload (revocation.h):
 * the control loop bumped r->recheck_gen and woke the workers
 * (recheck.h); each verifies its own tunnels on its own thread
 * (tls/peer_cert.h) against the context now in use, which holds the new
 * CRLs and CA file.
 */
#include "relay/revocation.h"

#include "relay/settings.h"

#include <stdio.h>

#include "log/log.h"
#include "relay/cert_deadline.h"
#include "relay/handshake.h"
#include "relay/reload.h"
#include "relay/settings.h"
#include "relay/stream_end.h"
#include "relay/relay_tunnel.h"
#include "relay/tunnel_drain.h"
#include "tls/peer_cert.h"

/* Every stream of t reset with `revoked` (0 to a peer without beacon/1,
 * which reads no reason), acknowledged or not. */
static void reset_streams(relay_tunnel_t *t)
{
  uint32_t code = t->shared.confirm_connect ? OUTCOME_REASON_REVOKED : 0;
  for(list_link_t *l = t->streams.next; l != &t->streams; l = l->next) {
    relay_stream_t *s = LIST_CONTAINER(l, relay_stream_t, link);
    /* A finished stream only waits for its reap: this does nothing. */
    stream_core_abort_code(&s->core, OUTCOME_REVOKED, "revoked", code);
  }
}

static void tunnel_revoke(relay_tunnel_t *t, enum relay_cert_end why,
                          const char *detail)
{
  char serial[80];
  if(tls_conn_peer_serial(conn_tls(t->conn), serial, sizeof(serial)))
    snprintf(serial, sizeof(serial), "?");
  log_line_t l;
  if(log_begin(&l, LOG_WARN, "tunnel_revoked")) {
    log_u64(&l, "tunnel", t->id);
    log_str(&l, "peer", t->peer);
    log_str(&l, "subject", t->subject);
    log_str(&l, "serial", serial);
    log_str(&l, "spki", t->spki);
    log_str(&l, "reason", relay_cert_end_name(why));
    log_str(&l, "error", detail);
    log_u64(&l, "streams", t->streams_total);
    log_end(&l);
  }
  if(!t->cert_draining)
    relay_cert_end_count(t, (int)why);
  t->cert_draining = (int)why + 1;
  mux_t *m = relay_tunnel_mux(t);
  if(!mux_is_going_away(m)) {
    /* Without memory for it the close below still ends the tunnel. */
    int rc = mux_go_away(m, MUX_GO_AWAY_NORMAL);
    (void)rc;
  }
  reset_streams(t);
  /* The Go Away and the resets are flushed, then the socket closes. */
  relay_tunnel_close(t, CONN_CLOSE_REVOKED);
}

/* t against ctx and --allow-client: ends it when it no longer passes. */
static void tunnel_recheck(relay_tunnel_t *t, const tls_ctx_t *ctx,
                           const relay_config_t *cfg)
{
  char why[160];
  enum tls_peer_verdict v =
      tls_conn_peer_recheck(conn_tls(t->conn), ctx, why, sizeof(why));
  if(v == TLS_PEER_REVOKED)
    tunnel_revoke(t, RELAY_CERT_END_REVOKED, why);
  else if(v == TLS_PEER_UNTRUSTED)
    tunnel_revoke(t, RELAY_CERT_END_UNTRUSTED, why);
  else if(!relay_client_allowed(t, cfg))
    tunnel_revoke(t, RELAY_CERT_END_NOT_ALLOWED,
                  "client not allowed by --allow-client");
  else if(v == TLS_PEER_UNDECIDED) {
    /* New handshakes fail and say why; a live tunnel is kept. */
    log_line_t l;
    if(log_begin(&l, LOG_WARN, "tunnel_recheck_undecided")) {
      log_u64(&l, "tunnel", t->id);
      log_str(&l, "subject", t->subject);
      log_str(&l, "error", why);
      log_str(&l, "action", "kept");
      log_end(&l);
    }
  }
}

/* A pass is done: logged, and the deadlines looked at again. */
static void recheck_done(relay_worker_t *w, uint64_t gen)
{
  w->recheck_seen = gen;
  log_line_t l;
  if(log_begin(&l, LOG_DEBUG, "tunnels_rechecked")) {
    log_u64(&l, "worker", w->index);
    log_u64(&l, "tunnels", w->rechecked);
    log_u64(&l, "ended", w->recheck_ended);
    log_end(&l);
  }
  w->rechecked = w->recheck_ended = 0;
  relay_cert_sweep(w); /* the relay's own notAfter may have moved */
}

void relay_worker_recheck(relay_worker_t *w)
{
  uint64_t gen = atomic_load(&w->r->recheck_gen);
  if(gen == w->recheck_seen || w->stopping)
    return;
  tls_ctx_t *ctx = relay_ctx_get(w->r);
  relay_settings_t *set = relay_settings_get(w->r); /* a reload's, if any */
  uint64_t start = uv_hrtime();
  unsigned batch = 0;
  int more = 0;
  list_link_t *l = w->tunnels.next;
  while(l != &w->tunnels) {
    relay_tunnel_t *t = LIST_CONTAINER(l, relay_tunnel_t, link);
    l = l->next; /* closing never unlinks synchronously */
    /* A handshake in flight is checked once it is up. */
    if(!relay_tunnel_up(t) || t->recheck_gen == gen)
      continue;
    if(batch && uv_hrtime() - start >= RELAY_RECHECK_SLICE_NS) {
      more = 1;
      break;
    }
    batch++;
    t->recheck_gen = gen;
    tunnel_recheck(t, ctx, &set->cfg);
    w->recheck_ended += !relay_tunnel_up(t);
  }
  relay_settings_put(set);
  tls_ctx_unref(ctx);
  w->rechecked += batch;
  if(more)
    uv_async_send(&w->wake); /* the rest on the next loop turn */
  else
    recheck_done(w, gen);
}

void relay_tunnel_live(relay_tunnel_t *t)
{
  /* A handshake that began before a reload was verified against the
   * files of before: the new ones decide. */
  tls_ctx_t *ctx = relay_ctx_get(t->w->r);
  relay_settings_t *set = relay_settings_get(t->w->r);
  t->recheck_gen = atomic_load(&t->w->r->recheck_gen);
  if(!tls_conn_made_from(conn_tls(t->conn), ctx))
    tunnel_recheck(t, ctx, &set->cfg);
  relay_settings_put(set);
  tls_ctx_unref(ctx);
  if(relay_tunnel_up(t))
    relay_tunnel_cert_up(t);
}
