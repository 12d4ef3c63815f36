/*
 * worker.c - one worker thread (docs/ARCHITECTURE.md "Threads"): its
 * libuv loop, its listening socket, the end of each loop turn (accepts,
 * reaping, then the flush of marked tunnels: conn/conn_turn.h), refusing a
 * connection there is no memory for, and the drain (worker.h).
 */
#include "relay/worker.h"

#include <stdlib.h>

#include "log/log.h"
#include "relay/addr_text.h"
#include "relay/handshake.h"
#include "relay/listener.h"
#include "relay/settings.h"
#include "relay/revocation.h"
#include "relay/relay_tunnel.h"
#include "relay/tunnel_drain.h"

/* Connections accepted per loop turn, at most (plus one from the turn's
 * check): a flood waits in the listen backlog, where it costs the
 * workers nothing, while established tunnels keep their turns. */
#define RELAY_ACCEPT_BURST 16

static void worker_check_stop(relay_worker_t *w);
static void worker_refuse(relay_worker_t *w);

static void on_accept_retry(uv_timer_t *h)
{
  /* Nothing: waking the loop runs its turn, which looks for room. */
}

/* The connection libuv holds for us (its listener paused since) is
 * accepted now if the handshake budget has room, which resumes the
 * listener; else it waits, and the retry timer wakes the loop to look
 * again without keeping it busy. */
static void accept_if_room(relay_worker_t *w)
{
  if(!relay_handshake_room(w)) {
    if(!uv_is_active((uv_handle_t *)&w->accept_timer))
      uv_timer_start(&w->accept_timer, on_accept_retry, RELAY_ACCEPT_RETRY_MS,
                     RELAY_ACCEPT_RETRY_MS);
    return;
  }
  uv_timer_stop(&w->accept_timer);
  w->accept_deferred = 0;
  w->accepts_this_turn = 1;
  relay_tunnel_accept(w);
}

/* The end of each turn (conn/conn_turn.h), before the marked tunnels
 * are flushed. */
static void worker_turn_before(conn_turn_t *turn)
{
  relay_worker_t *w = turn->ud;
  w->accepts_this_turn = 0;
  relay_tunnel_new_turn(w);
  if(w->accept_deferred && !w->draining)
    accept_if_room(w);
  relay_tunnel_reap_streams(w);
}

static int worker_turn_more(conn_turn_t *turn)
{
  relay_worker_t *w = turn->ud;
  return !list_empty(&w->reap) || !list_empty(&w->hs_waiting);
}

static void worker_turn_flush(conn_turn_t *turn, conn_turn_item_t *item)
{
  relay_tunnel_flush(LIST_CONTAINER(item, relay_tunnel_t, turn_item));
}

static void worker_output(relay_worker_t *w)
{
  if(!w->stopping)
    conn_turn_wake(&w->turn);
}

static void on_connection(uv_stream_t *server, int status)
{
  relay_worker_t *w = server->data;
  if(status < 0) {
    log_line_t l;
    if(log_begin(&l, LOG_WARN, "accept_failed")) {
      log_str(&l, "error", uv_strerror(status));
      log_end(&l);
    }
    return;
  }
  if(w->accepts_this_turn >= RELAY_ACCEPT_BURST) {
    /* Left unaccepted, the connection pauses the listener until the
     * check accepts it; the idle handle keeps this turn from blocking. */
    w->accept_deferred = 1;
    worker_output(w);
    return;
  }
  if(!relay_handshake_room(w)) {
    /* It would only be refused: it waits for room (accept_if_room). */
    w->accept_deferred = 1;
    accept_if_room(w);
    return;
  }
  w->accepts_this_turn++;
  relay_tunnel_accept(w);
}

static void noop_closed(uv_handle_t *h)
{
}

static void refuse_closed(uv_handle_t *h)
{
  relay_worker_t *w = h->data;
  w->refuse_busy = 0;
  /* The connection refused meanwhile is still pending in libuv, which
   * paused the listener until it is accepted. */
  if(w->refuse_waiting && !w->draining) {
    w->refuse_waiting = 0;
    worker_refuse(w);
  }
}

static void worker_refuse(relay_worker_t *w)
{
  if(w->refuse_busy) {
    w->refuse_waiting = 1;
    return;
  }
  w->refuse_busy = 1;
  w->refuse.data = w;
  char peer[64] = "?";
  int rc = uv_tcp_init(&w->loop, &w->refuse);
  if(!rc)
    rc = uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&w->refuse);
  if(!rc) {
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if(!uv_tcp_getpeername(&w->refuse, (struct sockaddr *)&ss, &sl))
      relay_addr_format((struct sockaddr *)&ss, peer, sizeof(peer));
  }
  atomic_fetch_add(&w->r->metrics.tunnels_refused_nomem, 1);
  log_line_t l;
  if(log_begin(&l, LOG_WARN, "tunnel_refused")) {
    log_str(&l, "peer", peer);
    log_str(&l, "reason", "out_of_memory");
    if(rc)
      log_str(&l, "error", uv_strerror(rc));
    log_end(&l);
  }
  uv_close((uv_handle_t *)&w->refuse, refuse_closed);
}

static void worker_check_stop(relay_worker_t *w)
{
  if(!w->draining || w->ntunnels || w->stopping)
    return;
  w->stopping = 1;
  uv_close((uv_handle_t *)&w->wake, noop_closed);
  uv_close((uv_handle_t *)&w->drain_timer, noop_closed);
  uv_close((uv_handle_t *)&w->accept_timer, noop_closed);
  conn_turn_close(&w->turn, noop_closed);
  relay_cert_timer_close(w, noop_closed);
}

static void worker_tunnel_gone(relay_worker_t *w)
{
  w->ntunnels--;
  worker_check_stop(w);
}

static void on_drain_timeout(uv_timer_t *h)
{
  relay_worker_t *w = h->data;
  list_link_t *l = w->tunnels.next;
  while(l != &w->tunnels) {
    relay_tunnel_t *t = LIST_CONTAINER(l, relay_tunnel_t, link);
    l = l->next; /* closing never unlinks synchronously */
    relay_tunnel_close(t, CONN_CLOSE_DRAIN_TIMEOUT);
  }
}

static void worker_drain(relay_worker_t *w)
{
  if(w->draining)
    return;
  w->draining = 1;
  uv_close((uv_handle_t *)&w->listener, noop_closed);
  uv_timer_stop(&w->accept_timer);
  list_link_t *l = w->tunnels.next;
  while(l != &w->tunnels) {
    relay_tunnel_t *t = LIST_CONTAINER(l, relay_tunnel_t, link);
    l = l->next;
    relay_tunnel_drain(t);
  }
  relay_settings_t *s = relay_settings_get(w->r);
  uv_timer_start(&w->drain_timer, on_drain_timeout, s->cfg.drain_timeout_ms,
                 0);
  relay_settings_put(s);
  worker_check_stop(w);
}

static void on_wake(uv_async_t *h)
{
  relay_worker_t *w = h->data;
  relay_worker_recheck(w); /* after a reload: revoked, not allowed */
  if(atomic_load(&w->r->draining))
    worker_drain(w);
}

static void worker_main(void *arg)
{
  relay_worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  relay_tunnel_free_cache(w);
  atomic_fetch_add(&w->r->workers_done, 1);
  uv_async_send(&w->r->done_async);
}

/* What this worker's tunnels report to it (relay_tunnel.c calls no function
 * of this file). */
static const relay_tunnel_host_t tunnel_host = {
    .output = worker_output,
    .tunnel_up = relay_tunnel_live,
    .tunnel_gone = worker_tunnel_gone,
    .refuse = worker_refuse,
};

static int worker_init(relay_worker_t *w)
{
  int err = uv_loop_init(&w->loop);
  if(err)
    return err;
  w->host = &tunnel_host;
  list_init(&w->tunnels);
  relay_tunnel_init_cache(w);
  list_init(&w->reap);
  list_init(&w->hs_waiting);
  list_init(&w->handshaking);
  list_init(&w->hs_silent);
  uv_tcp_init(&w->loop, &w->listener);
  w->listener.data = w;
  err = uv_tcp_open(&w->listener, w->fd);
  if(!err)
    err = uv_listen((uv_stream_t *)&w->listener, RELAY_LISTEN_BACKLOG,
                    on_connection);
  if(err)
    return err;
  w->fd = -1; /* owned by the handle now */
  uv_async_init(&w->loop, &w->wake, on_wake);
  uv_timer_init(&w->loop, &w->drain_timer);
  uv_timer_init(&w->loop, &w->accept_timer);
  w->wake.data = w->drain_timer.data = w->accept_timer.data = w;
  if((err = conn_turn_init(&w->turn, &w->loop, worker_turn_flush, w)))
    return err;
  w->turn.before = worker_turn_before;
  w->turn.more = worker_turn_more;
  relay_cert_timer_init(w);
  w->recheck_seen = atomic_load(&w->r->recheck_gen);
  return 0;
}

int relay_worker_start(relay_worker_t *w)
{
  int err = worker_init(w);
  if(!err)
    err = uv_thread_create(&w->thread, worker_main, w);
  return err;
}
