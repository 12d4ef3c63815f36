/*
 * relay_tunnel.c - one controller tunnel: the accepted TCP socket and the
 * libuv adapter around its connection core (conn/conn.h), which holds
 * the TLS 1.3 session (docs/PROTOCOL.md "Transport: TLS 1.3 with mutual
 * authentication") and the yamux server session (docs/PROTOCOL.md
 * "Multiplexing: yamux, protocol version 0").
 *
 * Output is coalesced: callbacks only mark the tunnel dirty, and the
 * worker's check handle moves mux output through TLS into one uv_write
 * per tunnel per loop turn. The core encrypts no more mux output while
 * RELAY_TUNNEL_HIGH_WATER bytes of ciphertext wait on the socket, so a
 * slow controller fills the mux queue and the streams stop reading their
 * targets (docs/PROTOCOL.md "Relaying"). A tunnel whose queued writes make no
 * progress for
 * --write-timeout is closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "beacon/beacon.h"
#include "common/tunnel_socket.h"
#include "log/log.h"
#include "conn/conn_uv.h"
#include "relay/addr_text.h"
#include "relay/handshake.h"
#include "relay/prom.h"
#include "relay/reload.h"
#include "relay/relay_stream.h"
#include "relay/settings.h"
#include "relay/relay_tunnel.h"
#include "relay/tunnel_budget.h"

/* Write buffers a worker keeps for reuse (conn/conn_uv.h). */
#define WBUF_KEEP 8

static void tunnel_arm(relay_tunnel_t *t);
static void on_read(uv_stream_t *tcp, ssize_t nread, const uv_buf_t *buf);
static void tunnel_dirty(relay_tunnel_t *t);
static void tunnel_release(relay_tunnel_t *t);
static void tunnel_stream_gone(relay_tunnel_t *t);
static void tunnel_reap_soon(relay_tunnel_t *t);
static int tunnel_read_start(relay_tunnel_t *t);
static void tunnel_mem_resume(relay_tunnel_t *t);

/* What this tunnel's streams report to it (relay_stream.c calls no
 * function of this file). */
static const relay_stream_host_t stream_host = {
    .output = tunnel_dirty,
    .stream_gone = tunnel_stream_gone,
    .reap_soon = tunnel_reap_soon,
};

static relay_metrics_t *metrics_of(relay_tunnel_t *t)
{
  return &t->w->r->metrics;
}

static uint64_t now_of(relay_tunnel_t *t)
{
  return uv_now(&t->w->loop);
}

static void handle_closed(uv_handle_t *h)
{
  tunnel_release(h->data);
}

static void close_handles(relay_tunnel_t *t)
{
  t->closing = 1;
  if(uv_is_closing((uv_handle_t *)&t->tcp))
    return;
  uv_close((uv_handle_t *)&t->tcp, handle_closed);
  uv_close((uv_handle_t *)&t->timer, handle_closed);
}

static void tunnel_release(relay_tunnel_t *t)
{
  if(--t->refs > 0)
    return;
  relay_worker_t *w = t->w;
  if(relay_tunnel_mux(t)) {
    log_line_t l;
    uint64_t now = uv_now(&w->loop);
    if(log_begin(&l, LOG_INFO, "tunnel_down")) {
      log_u64(&l, "tunnel", t->id);
      log_str(&l, "peer", t->peer);
      log_str(&l, "subject", t->subject);
      log_ms(&l, "duration", now - t->start_ms);
      log_u64(&l, "streams", t->streams_total);
      if(t->streams_refused)
        log_u64(&l, "refused", t->streams_refused);
      log_u64(&l, "bytes_up", t->shared.bytes_up);
      log_u64(&l, "bytes_down", t->shared.bytes_down);
      log_str(&l, "reason",
              conn_close_reason_name(conn_close_reason(t->conn)));
      log_end(&l);
    }
  }
  conn_turn_unmark(&t->turn_item);
  if(t->hs_waiting)
    list_del(&t->hs_wait_link);
  list_del(&t->link);
  conn_free(t->conn);
  budget_tunnel_leave(&t->budget);   /* whatever it still held */
  resolve_group_release(t->lookups); /* lingers while c-ares holds some */
  relay_handshake_release(t);
  free(t->subject_own);
  free(t);
  w->host->tunnel_gone(w);
}

void relay_tunnel_init_cache(relay_worker_t *w)
{
  conn_wpool_init(&w->wpool, WBUF_KEEP);
}

void relay_tunnel_free_cache(relay_worker_t *w)
{
  conn_wpool_clear(&w->wpool);
}

static void on_write(void *owner, size_t len, int status)
{
  relay_tunnel_t *t = owner;
  conn_write_done(t->conn, len, now_of(t));
  relay_tunnel_charge_tls(t);
  if(status < 0) {
    if(!relay_tunnel_closing(t))
      relay_tunnel_close(t, CONN_CLOSE_WRITE_ERROR);
    else
      close_handles(t);
    return;
  }
  if(relay_tunnel_up(t))
    tunnel_dirty(t);
}

/* Hands the core's pending ciphertext to the socket (conn/conn_uv.h). */
static int write_ciphertext(relay_tunnel_t *t)
{
  return conn_uv_write(t->conn, (uv_stream_t *)&t->tcp, &t->w->wpool, on_write,
                       t);
}

void relay_tunnel_flush(relay_tunnel_t *t)
{
  conn_turn_unmark(&t->turn_item);
  if(relay_tunnel_closing(t))
    return;
  if(conn_uv_flush(t->conn, (uv_stream_t *)&t->tcp, &t->w->wpool, on_write, t,
                   now_of(t))) {
    /* the core closed itself, or the socket refused the write */
    relay_tunnel_close(t, CONN_CLOSE_WRITE_ERROR);
    return;
  }
  relay_tunnel_charge_tls(t);
  tunnel_mem_resume(t);
  tunnel_arm(t);
}

static void tunnel_dirty(relay_tunnel_t *t)
{
  if(!relay_tunnel_closing(t))
    conn_turn_mark(&t->w->turn, &t->turn_item);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
  relay_tunnel_t *t = req->data;
  close_handles(t);
}

/* Ends the tunnel through its core, which aborts the streams at once
 * and then calls cb_close. */
void relay_tunnel_close(relay_tunnel_t *t, enum conn_close_reason why)
{
  if(relay_tunnel_closing(t))
    return;
  conn_close(t->conn, why, now_of(t));
}

/* The core ended: what is already queued for the controller (a Go Away,
 * an alert) is still sent, then the socket is shut down and closed,
 * bounded by --write-timeout (the core's closing deadline). */
static void cb_close(conn_t *c, enum conn_close_reason why, void *ud)
{
  relay_tunnel_t *t = ud;
  relay_handshake_leave(t);
  if(why == CONN_CLOSE_WRITE_TIMEOUT)
    atomic_fetch_add(&metrics_of(t)->write_timeouts, 1);
  else if(why == CONN_CLOSE_KEEPALIVE_TIMEOUT)
    atomic_fetch_add(&metrics_of(t)->keepalive_timeouts, 1);
  conn_turn_unmark(&t->turn_item);
  uv_read_stop((uv_stream_t *)&t->tcp);
  if(!conn_close_reason_is_hard(why) && !write_ciphertext(t)) {
    t->shutdown_req.data = t;
    if(!uv_shutdown(&t->shutdown_req, (uv_stream_t *)&t->tcp, on_shutdown)) {
      tunnel_arm(t);
      return;
    }
  }
  close_handles(t);
}

/* ---- timers ---- */

/* A paused tunnel reads nothing, so its controller's FIN would wait
 * behind the unread bytes for minutes while its streams hold their
 * share. Once a second it writes a ping (a closed socket answers data
 * with a reset) and asks the kernel whether the peer closed or reset. */
static void probe_paused(relay_tunnel_t *t)
{
  uv_os_fd_t fd;
  uint64_t now = now_of(t);
  if(now < t->paused_probe_ms || !relay_tunnel_up(t))
    return;
  t->paused_probe_ms = now + RELAY_PAUSED_PROBE_MS;
  if(!uv_fileno((uv_handle_t *)&t->tcp, &fd) &&
     tunnel_socket_peer_closed(fd)) {
    relay_tunnel_close(t, CONN_CLOSE_READ_ERROR);
    return;
  }
  /* Without memory for it, the next probe tries again. */
  if(!mux_ping(relay_tunnel_mux(t), now, NULL))
    tunnel_dirty(t);
}

static void on_timer(uv_timer_t *h)
{
  relay_tunnel_t *t = h->data;
  if(t->mem_paused && relay_tunnel_mux(t)) {
    mux_not_reading(relay_tunnel_mux(t), now_of(t)); /* answers wait */
    probe_paused(t);
  }
  if(conn_tick(t->conn, now_of(t)) == CONN_TICK_DROP) {
    close_handles(t);
    return;
  }
  if(uv_is_closing((uv_handle_t *)&t->timer))
    return;
  /* After a keep-alive tick the mux may have a ping to send. */
  if(relay_tunnel_up(t))
    tunnel_dirty(t);
  tunnel_mem_resume(t);
  tunnel_arm(t);
}

/* A tunnel paused over its memory share reads again once its share
 * allows (its targets took bytes, or other tunnels gave some back). */
static void tunnel_mem_resume(relay_tunnel_t *t)
{
  if(!t->mem_paused || relay_tunnel_closing(t) || !relay_tunnel_read_size(t))
    return;
  t->mem_paused = 0;
  if(tunnel_read_start(t))
    relay_tunnel_close(t, CONN_CLOSE_READ_ERROR);
}

static void tunnel_arm(relay_tunnel_t *t)
{
  uint64_t now = now_of(t);
  uint64_t dl = conn_next_deadline(t->conn);
  if(t->mem_paused && dl > now + RELAY_MEM_RETRY_MS)
    dl = now + RELAY_MEM_RETRY_MS; /* others may give memory back */
  if(dl == UINT64_MAX) {
    uv_timer_stop(&t->timer);
    return;
  }
  uv_timer_start(&t->timer, on_timer, dl > now ? dl - now : 0, 0);
}

/* ---- mux callbacks ---- */

static int cb_open(mux_t *m, uint32_t id, void **ud, void *tud)
{
  relay_tunnel_t *t = tud;
  if(!relay_tunnel_up(t) || t->w->draining)
    return BEACON_EGOAWAY;
  t->shared.mux = m;
  if(budget_admit_stream(&t->budget)) {
    relay_tunnel_log_refused(t, id, outcome_word(OUTCOME_RESOURCE), 1);
    return relay_tunnel_refuse_resource(t, id);
  }
  int rc = relay_stream_open(t, id, ud);
  if(rc < 0 || !*ud)
    budget_stream_done(&t->budget); /* no on_stream_closed with it */
  return rc;
}

static void cb_go_away(mux_t *m, uint32_t code, void *tud)
{
  relay_tunnel_t *t = tud;
  log_line_t l;
  if(log_begin(&l, LOG_DEBUG, "go_away_received")) {
    log_u64(&l, "tunnel", t->id);
    log_u64(&l, "code", code);
    log_end(&l);
  }
}

/* The session reset a stream the controller opened. */
static void cb_refused(mux_t *m, uint32_t id, int why, void *tud)
{
  relay_tunnel_t *t = tud;
  if(why > 0 && why <= MUX_REFUSED_OUTPUT_FULL)
    atomic_fetch_add(&metrics_of(t)->streams_refused[why], 1);
  relay_tunnel_log_refused(t, id, mux_refusal_name(why), 0);
}

static const mux_callbacks_t mux_cbs = {
    .on_stream_open = cb_open,
    /* A stream's events go straight to it (relay_stream.c). */
    .on_data = relay_stream_on_data,
    .on_fin = relay_stream_on_fin,
    .on_reset = relay_stream_on_reset,
    .on_writable = relay_stream_on_writable,
    .on_stream_closed = relay_stream_on_closed,
    .on_go_away = cb_go_away,
    .on_stream_refused = cb_refused,
};

/* ---- connection callbacks ---- */

static void cb_handshake_failed(conn_t *c, int rc, const char *detail,
                                void *ud)
{
  relay_handshake_failed(ud, rc, detail);
}

/* The handshake completed: is this controller let in? */
static int cb_handshake(conn_t *c, void *ud)
{
  relay_tunnel_t *t = ud;
  tls_conn_t *tls = conn_tls(c);
  t->shared.confirm_connect = tls_conn_beacon_alpn(tls);
  char subject[256];
  if(!tls_conn_peer_subject(tls, subject, sizeof(subject)) &&
     (t->subject_own = strdup(subject)))
    t->subject = t->subject_own;
  else
    t->subject = "?";
  if(tls_conn_peer_spki_sha256(tls, t->spki))
    t->spki[0] = 0;
  /* --allow-client, then a --max-tunnels slot */
  if(relay_handshake_admit_tunnel(t))
    return -1;
  /* Only now does the tunnel take a share of the budgets, before its
   * mux exists and charges them. */
  budget_tunnel_join(&t->w->r->budget, &t->budget);
  return 0;
}

static void cb_up(conn_t *c, void *ud)
{
  relay_tunnel_t *t = ud;
  relay_t *r = t->w->r;
  t->start_ms = uv_now(&t->w->loop);
  t->shared.mux = conn_mux(c);
  atomic_fetch_add(&r->metrics.tunnels_total, 1);
  log_line_t l;
  if(log_begin(&l, LOG_INFO, "tunnel_up")) {
    log_u64(&l, "tunnel", t->id);
    log_str(&l, "peer", t->peer);
    log_str(&l, "subject", t->subject);
    log_str(&l, "spki", t->spki);
    log_str(&l, "tls", tls_conn_version(conn_tls(c)));
    log_str(&l, "alpn", t->shared.confirm_connect ? TLS_ALPN_BEACON : "-");
    log_end(&l);
  }
  relay_client_cert_check(r, (int64_t)tls_conn_peer_not_before(conn_tls(c)),
                          (int64_t)tls_conn_peer_not_after(conn_tls(c)),
                          t->peer, t->subject, t->spki);
  t->w->host->tunnel_up(t); /* may end it: revoked meanwhile */
  if(t->w->draining)
    relay_tunnel_drain(t);
}

static void cb_mux_error(conn_t *c, int rc, void *ud)
{
  relay_tunnel_t *t = ud;
  if(rc == BEACON_EPROTO)
    atomic_fetch_add(&metrics_of(t)->protocol_errors, 1);
  log_line_t l;
  if(log_begin(&l, LOG_WARN, "protocol_error")) {
    log_u64(&l, "tunnel", t->id);
    log_str(&l, "peer", t->peer);
    log_str(&l, "error", beacon_strerror(rc));
    log_end(&l);
  }
}

static const conn_callbacks_t conn_cbs = {
    .on_handshake = cb_handshake,
    .on_handshake_failed = cb_handshake_failed,
    .on_up = cb_up,
    /* The pieces of one mux_recv() are written together. */
    .on_recv_done = relay_stream_recv_done,
    .on_mux_error = cb_mux_error,
    .on_close = cb_close,
    /* A stream's target line is late. */
    .on_deadline = relay_stream_on_deadline,
};

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *buf)
{
  relay_tunnel_t *t = h->data;
  if(!relay_handshake_may_read(t)) {
    *buf = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS: wait */
    return;
  }
  size_t n = relay_tunnel_read_size(t); /* 0: over its memory share */
  *buf = uv_buf_init(n ? (char *)t->w->rbuf : NULL, (unsigned)n);
}

static int tunnel_read_start(relay_tunnel_t *t)
{
  return uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read);
}

void relay_tunnel_new_turn(relay_worker_t *w)
{
  relay_handshake_new_turn(w, tunnel_read_start);
}

static void on_read(uv_stream_t *tcp, ssize_t nread, const uv_buf_t *buf)
{
  relay_tunnel_t *t = tcp->data;
  if(nread == 0 || relay_tunnel_closing(t))
    return;
  if(nread == UV_ENOBUFS) {
    uv_read_stop(tcp);
    if(conn_state(t->conn) == CONN_HANDSHAKE) {
      relay_handshake_wait(t);
      return;
    }
    t->mem_paused = 1; /* tunnel_mem_resume, at a flush or the timer */
    t->paused_probe_ms = now_of(t) + RELAY_PAUSED_PROBE_MS;
    tunnel_arm(t);
    return;
  }
  relay_handshake_read(t);
  if(nread > 0 && relay_handshake_peer_gone(t))
    nread = UV_EOF; /* no key exchange, no signature for a peer gone */
  if(nread < 0) {
    if(conn_state(t->conn) == CONN_HANDSHAKE) {
      atomic_fetch_add(&metrics_of(t)->hs_fail_tls, 1);
      relay_handshake_failed_io(
          t,
          nread == UV_EOF ? "client closed the connection during the "
                            "handshake"
                          : "read error during the handshake",
          nread == UV_EOF ? NULL : uv_strerror((int)nread));
    }
    relay_tunnel_close(t, nread == UV_EOF ? CONN_CLOSE_EOF
                                          : CONN_CLOSE_READ_ERROR);
    return;
  }
  conn_feed(t->conn, (const uint8_t *)buf->base, (size_t)nread, now_of(t));
  tunnel_dirty(t); /* no-op once closing */
}

void relay_tunnel_drain(relay_tunnel_t *t)
{
  if(relay_tunnel_closing(t))
    return;
  if(conn_state(t->conn) == CONN_HANDSHAKE) {
    relay_tunnel_close(t, CONN_CLOSE_DRAIN);
    return;
  }
  mux_t *m = conn_mux(t->conn);
  if(!mux_is_going_away(m)) {
    int rc = mux_go_away(m, MUX_GO_AWAY_NORMAL);
    /* Without the Go Away the controller may still open streams: they
     * are refused (cb_open) and the drain timeout bounds the rest. */
    if(rc) {
      log_line_t l;
      if(log_begin(&l, LOG_WARN, "go_away_failed")) {
        log_u64(&l, "tunnel", t->id);
        log_str(&l, "error", beacon_strerror(rc));
        log_end(&l);
      }
    }
  }
  if(list_empty(&t->streams))
    relay_tunnel_close(t, CONN_CLOSE_DRAIN);
  else
    tunnel_dirty(t);
}

static void tunnel_reap_soon(relay_tunnel_t *t)
{
  t->w->host->output(t->w);
}

void relay_tunnel_reap_streams(relay_worker_t *w)
{
  relay_stream_reap(w);
}

/* A stream was freed: a draining tunnel closes after its last one. */
static void tunnel_stream_gone(relay_tunnel_t *t)
{
  if((t->w->draining || t->cert_draining) && relay_tunnel_up(t) &&
     list_empty(&t->streams))
    relay_tunnel_drain(t);
  tunnel_release(t);
}

/* What t's stream cores share (stream_core.h); the mux follows in
 * cb_open. */
static void tunnel_init_shared(relay_tunnel_t *t)
{
  relay_t *r = t->w->r;
  relay_settings_t *set = relay_settings_get(r); /* a reload's, if any */
  t->shared.metrics = &r->metrics;
  t->shared.target_timeout_ms = set->cfg.target_timeout_ms;
  t->shared.max_dials = set->cfg.max_dials_per_tunnel;
  relay_settings_put(set);
  t->shared.gather = &t->w->gather;
  t->quota = relay_tunnel_quota(t);
  t->shared.quota = &t->quota;
}

/* A tunnel for the connection waiting on w's listener, counted by its
 * worker (not yet accepted). NULL when out of memory. */
static relay_tunnel_t *tunnel_new(relay_worker_t *w)
{
  relay_tunnel_t *t = fault_calloc("relay_tunnel", 1, sizeof(*t));
  if(!t || !(t->lookups = resolve_group_new(RELAY_LOOKUPS_PER_TUNNEL))) {
    free(t);
    return NULL;
  }
  t->w = w;
  t->host = &stream_host;
  t->subject = "";
  tunnel_init_shared(t);
  list_init(&t->streams);
  list_init(&t->link);
  conn_turn_item_init(&t->turn_item);
  uv_tcp_init(&w->loop, &t->tcp);
  uv_timer_init(&w->loop, &t->timer);
  t->tcp.data = t;
  t->timer.data = t;
  t->refs = 2;
  t->id = atomic_fetch_add(&w->r->next_tunnel_id, 1) + 1;
  t->start_ms = uv_now(&w->loop);
  list_add(&w->tunnels, &t->link);
  w->ntunnels++;
  snprintf(t->peer, sizeof(t->peer), "?");
  return t;
}

/* The connection core with its TLS server session, reading. 0 or -1. */
static int tunnel_start_tls(relay_tunnel_t *t, uint64_t handshake_timeout_ms)
{
  conn_config_t cc;
  relay_handshake_conn_config(t->w, handshake_timeout_ms, &cc);
  cc.mux.ledger = relay_tunnel_ledger(t);
  struct tls_ctx *ctx = relay_ctx_get(t->w->r);
  t->conn = conn_new(&cc, ctx, NULL, &conn_cbs, &mux_cbs, t, t->start_ms);
  tls_ctx_unref(ctx);
  if(!t->conn)
    return -1;
  uv_os_fd_t fd;
  if(uv_fileno((uv_handle_t *)&t->tcp, &fd) == 0)
    (void)tunnel_socket_tune(fd, t->w->r->cfg.congestion);
  return uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read) ? -1 : 0;
}

/* Accepts the connection waiting on w's listener: into the handshake
 * budget (docs/SECURITY.md "Pre-authentication budget"), then TLS. The
 * --max-tunnels slot is taken once the handshake is done. */
void relay_tunnel_accept(relay_worker_t *w)
{
  relay_tunnel_t *t = tunnel_new(w);
  if(!t) {
    w->host->refuse(w);
    return;
  }
  uint64_t timeout_ms = 0;
  if(uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&t->tcp) ||
     relay_handshake_admit(t, &timeout_ms) ||
     tunnel_start_tls(t, timeout_ms)) {
    close_handles(t);
    return;
  }
  log_line_t l;
  if(log_begin(&l, LOG_DEBUG, "tunnel_accepted")) {
    log_u64(&l, "tunnel", t->id);
    log_str(&l, "peer", t->peer);
    log_ms(&l, "handshake_timeout", timeout_ms);
    log_end(&l);
  }
  tunnel_arm(t);
}
