/*
 * tunnel_drain.c - a tunnel never outlives a certificate
 * (tunnel_drain.h, docs/SECURITY.md "Certificate lifetimes"): the worker
 * applies cert_deadline.h to each of its tunnels, at the earliest
 * deadline among them and at least every CERT_DEADLINE_LOOK_MS.
 */
#include "relay/tunnel_drain.h"

#include <time.h>

#include "log/log.h"
#include "relay/cert_deadline.h"
#include "relay/relay_tunnel.h"

int64_t relay_wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_cert_timer(uv_timer_t *h)
{
  relay_cert_sweep(h->data);
}

void relay_cert_timer_init(relay_worker_t *w)
{
  uv_timer_init(&w->loop, &w->cert_timer);
  w->cert_timer.data = w;
  atomic_init(&w->cert_min, 0);
  /* The first look refreshes the metrics' view even with no tunnel. */
  uv_timer_start(&w->cert_timer, on_cert_timer, CERT_DEADLINE_LOOK_MS, 0);
}

void relay_cert_timer_close(relay_worker_t *w, uv_close_cb cb)
{
  uv_close((uv_handle_t *)&w->cert_timer, cb);
}

void relay_cert_end_count(relay_tunnel_t *t, int why)
{
  if(why >= 0 && why < RELAY_CERT_END_COUNT)
    atomic_fetch_add(&t->w->r->metrics.tunnels_cert_ended[why], 1);
}

static void log_cert_end(relay_tunnel_t *t, const cert_deadline_t *d,
                         const char *step)
{
  log_line_t l;
  if(!log_begin(&l, LOG_WARN, "tunnel_cert_drain"))
    return;
  log_u64(&l, "tunnel", t->id);
  log_str(&l, "peer", t->peer);
  log_str(&l, "subject", t->subject);
  log_str(&l, "reason", relay_cert_end_name(d->why));
  log_str(&l, "step", step);
  if(d->why == RELAY_CERT_END_OWN_EXPIRING)
    log_time(&l, "relay_not_after",
             (d->close_at == INT64_MAX ? 0 : d->close_at) / 1000);
  else
    log_time(&l, "not_after", t->cert_not_after / 1000);
  log_end(&l);
}

/* Applies t's deadline at now; returns when to look at t again. */
static int64_t tunnel_step(relay_tunnel_t *t, int64_t own, int64_t now)
{
  if(!relay_tunnel_up(t))
    return INT64_MAX;
  uint64_t grace = t->w->r->cfg.drain_grace_ms;
  cert_deadline_t d = cert_deadline_of(t->cert_not_after, own, grace);
  enum cert_deadline_step step = cert_deadline_step(&d, now, t->cert_draining);
  if(step != CERT_DEADLINE_WAIT && !t->cert_draining)
    relay_cert_end_count(t, (int)d.why);
  if(step == CERT_DEADLINE_CLOSE) {
    log_cert_end(t, &d, "close");
    relay_tunnel_close(t, CONN_CLOSE_CERT_EXPIRED);
    return INT64_MAX;
  }
  if(step == CERT_DEADLINE_GO_AWAY) {
    t->cert_draining = (int)d.why + 1;
    log_cert_end(t, &d, "go_away");
    relay_tunnel_drain(t); /* closes now when it has no stream */
  }
  return relay_tunnel_up(t) ? cert_deadline_next(&d, t->cert_draining)
                            : INT64_MAX;
}

static void arm(relay_worker_t *w, int64_t next, int64_t now)
{
  if(w->stopping || uv_is_closing((uv_handle_t *)&w->cert_timer))
    return;
  uv_timer_start(&w->cert_timer, on_cert_timer,
                 cert_deadline_delay_ms(next, now), 0);
}

void relay_cert_sweep(relay_worker_t *w)
{
  if(w->stopping)
    return;
  int64_t now = relay_wall_ms(), next = INT64_MAX, min = 0;
  int64_t own = atomic_load(&w->r->own_not_after);
  list_link_t *l = w->tunnels.next;
  while(l != &w->tunnels) {
    relay_tunnel_t *t = LIST_CONTAINER(l, relay_tunnel_t, link);
    l = l->next; /* closing never unlinks synchronously */
    /* A SIGTERM drain has its own timeout (worker.c). */
    int64_t n = w->draining ? INT64_MAX : tunnel_step(t, own, now);
    if(n < next)
      next = n;
    if(relay_tunnel_up(t) && t->cert_not_after &&
       (!min || t->cert_not_after < min))
      min = t->cert_not_after;
  }
  atomic_store(&w->cert_min, min);
  arm(w, next, now);
}

void relay_tunnel_cert_up(relay_tunnel_t *t)
{
  relay_worker_t *w = t->w;
  t->cert_not_after =
      (int64_t)tls_conn_peer_not_after(conn_tls(t->conn)) * 1000;
  int64_t min = atomic_load(&w->cert_min);
  if(t->cert_not_after && (!min || t->cert_not_after < min))
    atomic_store(&w->cert_min, t->cert_not_after);
  int64_t now = relay_wall_ms();
  int64_t next = tunnel_step(t, atomic_load(&w->r->own_not_after), now);
  if(next != INT64_MAX &&
     cert_deadline_delay_ms(next, now) < uv_timer_get_due_in(&w->cert_timer))
    arm(w, next, now);
}
