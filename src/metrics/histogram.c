/*
 * histogram.c - histogram families (metrics.h): fixed bounds, per-bucket
 * atomic counts; rendered by registry.c with the other types.
 */
#include "metrics/metrics.h"

#include "beacon/beacon.h"

int metric_histogram_init(metric_histogram_t *h, const char *name,
                          const char *help, const char *label,
                          const char *const *values, size_t nvalues,
                          const uint64_t *bounds, size_t nbounds,
                          unsigned decimals)
{
  if(!h || !bounds || !nbounds)
    return BEACON_EINVAL;
  if(nbounds > METRICS_MAX_BUCKETS)
    return BEACON_ELIMIT;
  for(size_t i = 1; i < nbounds; i++)
    if(bounds[i] <= bounds[i - 1])
      return BEACON_EINVAL;
  int rc = metric_init(&h->base, METRIC_COUNTER, name, help, label, values,
                       nvalues);
  if(rc)
    return rc;
  h->base.type = METRIC_HISTOGRAM;
  h->base.decimals = decimals;
  h->bounds = bounds;
  h->nbounds = nbounds;
  for(size_t v = 0; v < METRICS_MAX_VALUES; v++) {
    for(size_t b = 0; b <= METRICS_MAX_BUCKETS; b++)
      atomic_init(&h->bucket[v][b], 0);
    atomic_init(&h->sum[v], 0);
  }
  return 0;
}

void metric_observe(metric_histogram_t *h, size_t idx, uint64_t v)
{
  if(idx >= h->base.nvalues)
    return;
  size_t b = 0;
  while(b < h->nbounds && v > h->bounds[b])
    b++;
  atomic_fetch_add_explicit(&h->bucket[idx][b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum[idx], v, memory_order_relaxed);
}

uint64_t metric_histogram_count(const metric_histogram_t *h, size_t idx)
{
  uint64_t n = 0;
  if(idx >= h->base.nvalues)
    return 0;
  for(size_t b = 0; b <= h->nbounds; b++)
    n += atomic_load_explicit((atomic_uint_least64_t *)&h->bucket[idx][b],
                              memory_order_relaxed);
  return n;
}
