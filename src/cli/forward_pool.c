/*
 * forward_pool.c - the relay pool's metrics and /healthz of `beacon
 * forward` (cli/forward_pool.h). Every scrape takes one snapshot of the
 * pool under the tunnel's lock (client_pool_snapshot) on the metrics
 * thread; nothing here touches the tunnel's loop.
 */
#include "cli/forward_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cli/forward_metrics.h"
#include "client/client_pool.h"

static struct {
  beacon_tunnel_t *tunnel;
  int n;
  char names[POOL_MAX_MEMBERS][CLIENT_MEMBER_NAME_MAX];
  const char *labels[POOL_MAX_MEMBERS];
  metric_t state, up, rtt, streams, failovers, reconnects;
  metric_t tunnel_up, tunnel_reconnects;
  pthread_mutex_t lock; /* scrapes of several families at once */
} fp = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Refreshes every family of the pool from one snapshot. */
static void collect(metric_t *m)
{
  (void)m;
  client_member_info_t info[POOL_MAX_MEMBERS];
  pthread_mutex_lock(&fp.lock);
  int n = client_pool_snapshot(fp.tunnel, info, POOL_MAX_MEMBERS);
  if(n > POOL_MAX_MEMBERS)
    n = POOL_MAX_MEMBERS;
  /* Fleet discovery adds and removes members: the rows follow. */
  for(int i = 0; i < n; i++)
    if(strcmp(fp.names[i], info[i].name))
      memcpy(fp.names[i], info[i].name, sizeof(fp.names[i]));
  if(n != fp.n) {
    metric_t *labelled[] = {&fp.state,   &fp.up,        &fp.rtt,
                            &fp.streams, &fp.failovers, &fp.reconnects};
    for(size_t k = 0; k < sizeof(labelled) / sizeof(labelled[0]); k++)
      labelled[k]->nvalues = (size_t)n;
    fp.n = n;
  }
  int any_up = 0;
  uint64_t reconnects = 0;
  for(int i = 0; i < n; i++) {
    metric_set(&fp.state, (size_t)i, info[i].state);
    metric_set(&fp.up, (size_t)i, info[i].state == MEMBER_UP);
    metric_set(&fp.rtt, (size_t)i, (int64_t)info[i].rtt_ms);
    metric_set(&fp.streams, (size_t)i, info[i].streams);
    /* counters only go up: move them by what the snapshot adds */
    uint64_t f = metric_get(&fp.failovers, (size_t)i);
    if(info[i].failovers > f)
      metric_add(&fp.failovers, (size_t)i, info[i].failovers - f);
    uint64_t r = metric_get(&fp.reconnects, (size_t)i);
    if(info[i].reconnects > r)
      metric_add(&fp.reconnects, (size_t)i, info[i].reconnects - r);
    any_up |= info[i].state == MEMBER_UP;
    reconnects += info[i].reconnects;
  }
  metric_set(&fp.tunnel_up, 0, any_up);
  uint64_t tr = metric_get(&fp.tunnel_reconnects, 0);
  if(reconnects > tr)
    metric_add(&fp.tunnel_reconnects, 0, reconnects - tr);
  pthread_mutex_unlock(&fp.lock);
}

static void family(metric_t *f, metric_type_t type, const char *name,
                   const char *help, int labelled)
{
  /* Room for every member fleet discovery may add, rows for those
   * there are. */
  metric_init(f, type, name, help, labelled ? "relay" : NULL,
              labelled ? fp.labels : NULL, labelled ? POOL_MAX_MEMBERS : 0);
  if(labelled)
    f->nvalues = (size_t)fp.n;
  f->collect = collect;
  forward_metrics_register(f);
}

/* ok: every member up (or not tried yet); degraded: some are down;
 * down: none can be had. */
static int health(void *ud, const char **body)
{
  (void)ud;
  client_member_info_t info[POOL_MAX_MEMBERS];
  int n = client_pool_snapshot(fp.tunnel, info, POOL_MAX_MEMBERS);
  if(n > POOL_MAX_MEMBERS)
    n = POOL_MAX_MEMBERS;
  switch(client_pool_health(info, n)) {
  case POOL_OK:
    *body = "ok\n";
    return 200;
  case POOL_DEGRADED:
    *body = "degraded\n";
    return 200;
  default:
    *body = "down\n";
    return 503;
  }
}

void forward_pool_metrics_setup(beacon_tunnel_t *t)
{
  client_member_info_t info[POOL_MAX_MEMBERS];
  fp.tunnel = t;
  fp.n = client_pool_snapshot(t, info, POOL_MAX_MEMBERS);
  if(fp.n > POOL_MAX_MEMBERS)
    fp.n = POOL_MAX_MEMBERS;
  for(int i = 0; i < POOL_MAX_MEMBERS; i++) {
    if(i < fp.n)
      memcpy(fp.names[i], info[i].name, sizeof(fp.names[i]));
    fp.labels[i] = fp.names[i];
  }
  family(&fp.state, METRIC_GAUGE, "beacon_relay_state",
         "First-hop relay state: 0 idle, 1 connecting, 2 up, 3 stalled, "
         "4 draining, 5 down.",
         1);
  family(&fp.up, METRIC_GAUGE, "beacon_relay_up",
         "1 when the first-hop relay takes new streams.", 1);
  family(&fp.rtt, METRIC_GAUGE, "beacon_relay_rtt_seconds",
         "Smoothed keep-alive ping round trip to the relay.", 1);
  fp.rtt.decimals = 3; /* cells hold milliseconds */
  family(&fp.streams, METRIC_GAUGE, "beacon_relay_streams_open",
         "Streams open through the relay now.", 1);
  family(&fp.failovers, METRIC_COUNTER, "beacon_relay_failovers_total",
         "Dials moved to another relay after this one failed them.", 1);
  family(&fp.reconnects, METRIC_COUNTER, "beacon_relay_reconnects_total",
         "Reconnects to the relay after it failed.", 1);
  family(&fp.tunnel_up, METRIC_GAUGE, "beacon_tunnel_up",
         "1 when some first-hop relay is up.", 0);
  family(&fp.tunnel_reconnects, METRIC_COUNTER,
         "beacon_tunnel_reconnects_total",
         "Reconnects to any first-hop relay after a failure.", 0);
  forward_metrics_set_health(health, NULL);
}
