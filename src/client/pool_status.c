/*
 * pool_status.c - what the beacon command sets and reads of hop 0's
 * pool (client_pool.h): its size, warming it, and a snapshot of its
 * members taken under the tunnel's lock.
 */
#include "client/client_pool.h"
#include "client/client_int.h"

#include <stdio.h>

const char *client_member_state_name(int state)
{
  static const char *const names[] = {"idle",    "connecting", "up",
                                      "stalled", "draining",   "down"};
  return state >= 0 && state <= MEMBER_DOWN ? names[state] : "unknown";
}

void client_config_set_pool(beacon_config_t *cfg, int pool_size, int log)
{
  if(!cfg)
    return;
  cfg->pool_size = pool_size > 0 ? pool_size : 0;
  cfg->log_pool = log;
}

void client_tunnel_warm(beacon_tunnel_t *t)
{
  pthread_mutex_lock(&t->lock);
  t->want_warm = 1;
  pthread_mutex_unlock(&t->lock);
  uv_async_send(&t->async);
}

int client_pool_snapshot(beacon_tunnel_t *t, client_member_info_t *out,
                         int cap)
{
  pthread_mutex_lock(&t->lock);
  int n = 0;
  for(int i = 0; i < t->nmembers; i++) {
    const client_member_t *m = &t->members[i];
    if(m->gone)
      continue; /* removed by fleet discovery: its streams are ending */
    if(n >= cap) {
      n++;
      continue;
    }
    client_member_info_t *o = &out[n++];
    snprintf(o->name, sizeof(o->name), "%s", m->name);
    o->state = m->state;
    o->attempt = m->attempt;
    o->rtt_ms = m->rtt_ms;
    o->streams = m->streams;
    o->failovers = m->failovers;
    o->reconnects = m->reconnects;
  }
  pthread_mutex_unlock(&t->lock);
  return n;
}

int client_pool_health(const client_member_info_t *m, int n)
{
  int up = 0, bad = 0;
  for(int i = 0; i < n; i++) {
    up += m[i].state == MEMBER_UP;
    bad += m[i].state == MEMBER_DOWN || m[i].state == MEMBER_STALLED ||
           m[i].state == MEMBER_DRAINING ||
           (m[i].state == MEMBER_CONNECTING && m[i].attempt > 0);
  }
  if(!up)
    return POOL_DOWN; /* not yet connected counts: nothing can be had */
  return bad ? POOL_DEGRADED : POOL_OK;
}
