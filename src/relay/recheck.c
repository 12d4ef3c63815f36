/*
 * recheck.c - the control loop's side of re-checking live tunnels
 * (recheck.h): r->recheck_gen goes up and every worker is woken; each
 * compares it with the generation it last checked (revocation.c).
 */
#include "relay/recheck.h"

#include <stddef.h>

#include "relay/prom.h"
#include "tls/crl_dates.h"

/* The earliest controller notAfter over every worker, when scraped. */
static void collect_tunnel_cert_min(metric_t *m)
{
  relay_t *r =
      (relay_t *)((char *)m - offsetof(relay_t, prom.tunnel_cert_min));
  int64_t min = 0;
  for(unsigned i = 0; i < r->started; i++) {
    int64_t v = atomic_load(&r->workers[i].cert_min);
    if(v && (!min || v < min))
      min = v;
  }
  metric_set(m, 0, min / 1000);
}

void relay_recheck_init(relay_t *r)
{
  relay_prom_cert_lifetimes(&r->prom, &r->metrics, collect_tunnel_cert_min);
  relay_recheck_tunnels(r);
}

void relay_recheck_tunnels(relay_t *r)
{
  /* Only this loop replaces r->ctx, but workers read it: locked. */
  uv_mutex_lock(&r->ctx_lock);
  int64_t own = (int64_t)tls_ctx_cert_not_after(r->ctx);
  int64_t crl_next = tls_ctx_crl_next_update(r->ctx);
  uv_mutex_unlock(&r->ctx_lock);
  atomic_store(&r->own_not_after, own * 1000);
  metric_set(&r->prom.crl_next_update, 0, crl_next);
  atomic_fetch_add(&r->recheck_gen, 1);
  for(unsigned i = 0; i < r->started; i++)
    uv_async_send(&r->workers[i].wake);
}
