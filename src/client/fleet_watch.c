/*
 * fleet_watch.c - fleet discovery for hop 0's pool (fleet_watch.h).
 *
 * Every pool name is a source. A lookup's answer is compared with the
 * source's members (fleet_compare): a member no longer named is
 * removed like a relay that sent Go Away (its chain takes no new
 * streams and ends after its last one, so no stream is dropped); a new
 * one gets a member of its own, which a warm pool connects at once. The
 * next lookup comes after the TTL, clamped (fleet_next_lookup_ms).
 *
 * A name's first address stays with the member that dialled the name
 * before the first answer ("host:port"); others are named
 * "host:port/address" and verified against the same name. An SRV
 * record's member is "target:port", verified against the target.
 */
#include "client/fleet_watch.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "client/fleet.h"
#include "client/member_state.h"
#include "dial/resolve.h"
#include "log/log.h"

/* Bounds that let the compiler see every name fits. */
#define HOST_MAX TARGET_MAX_LINE
#define ADDR_MAX (INET6_ADDRSTRLEN - 1)

static void lookup(client_source_t *src);

static uint32_t rand_of(void *ud)
{
  return client_rand(ud);
}

/* 1 when no chain (current, renewed or draining) refers to member i. */
static int slot_free(const beacon_tunnel_t *t, int i)
{
  const client_member_t *m = &t->members[i];
  if(!m->gone || m->chain || m->successor)
    return 0;
  for(const list_link_t *n = t->chains.next; n != &t->chains; n = n->next)
    if(LIST_CONTAINER(n, client_chain_t, link)->member == i)
      return 0;
  return 1;
}

static void on_fleet_timer(uv_timer_t *tm);

/* The timer at the earliest lookup due, none in flight counting. */
static void fleet_arm(beacon_tunnel_t *t)
{
  uint64_t next = UINT64_MAX;
  for(int k = 0; k < t->nsources; k++)
    if(!t->sources[k].q && t->sources[k].next_at < next)
      next = t->sources[k].next_at;
  if(t->stopped || next == UINT64_MAX)
    return;
  uint64_t now = client_member_now(t);
  uv_timer_start(&t->fleet_timer, on_fleet_timer, next > now ? next - now : 1,
                 0);
}

static void on_fleet_timer(uv_timer_t *tm)
{
  beacon_tunnel_t *t = tm->data;
  uint64_t now = client_member_now(t);
  for(int k = 0; k < t->nsources && !t->stopped; k++)
    if(!t->sources[k].q && t->sources[k].next_at <= now)
      lookup(&t->sources[k]);
  fleet_arm(t);
}

/* What member m is, in an answer's terms. */
static void member_addr(const client_member_t *m, fleet_addr_t *a)
{
  memset(a, 0, sizeof(*a));
  snprintf(a->host, sizeof(a->host), "%.*s", HOST_MAX, m->dial.host);
  a->port = m->dial.port;
}

/* Member i is no longer named: no new streams, the live ones finish on
 * its chain, which then ends (a Go Away of our own). */
static void member_remove(beacon_tunnel_t *t, int i)
{
  client_member_t *m = &t->members[i];
  client_chain_t *chains[2] = {m->chain, m->successor};
  client_member_set_state(t, m, MEMBER_DRAINING, "no longer in DNS");
  pthread_mutex_lock(&t->lock);
  m->gone = 1;
  m->chain = m->successor = NULL;
  pthread_mutex_unlock(&t->lock);
  /* The slot may go to another name's member later. */
  for(int k = 0; k < t->nsources; k++)
    if(t->sources[k].member == i)
      t->sources[k].member = -1;
  for(int k = 0; k < 2; k++)
    if(chains[k])
      chains[k]->going_away = 1; /* chain.c ends it after its streams */
  if(t->cfg.log_pool)
    log_msg(LOG_INFO, "relay_removed",
            "%s: no longer in DNS: no new streams, live ones finish", m->name);
  client_dirty(t);
}

/* A slot for a new member: a removed one nothing refers to any more,
 * else a new one; -1 when the pool is full. */
static int member_slot(beacon_tunnel_t *t)
{
  for(int i = 0; i < t->nmembers; i++)
    if(slot_free(t, i))
      return i;
  if(t->nmembers >= POOL_MAX_MEMBERS)
    return -1;
  t->order[t->nmembers] = t->nmembers;
  return t->nmembers;
}

static void member_add(beacon_tunnel_t *t, int k, const fleet_addr_t *a)
{
  client_source_t *src = &t->sources[k];
  int i = member_slot(t);
  if(i < 0) {
    log_msg(LOG_WARN, "relay_not_added", "%s:%u: the pool holds %d members",
            a->host, a->port, POOL_MAX_MEMBERS);
    return;
  }
  client_member_t n;
  memset(&n, 0, sizeof(n));
  n.source = k;
  n.priority = a->priority;
  n.weight = a->weight;
  if(pool_is_srv(&src->name)) {
    n.relay.kind = TARGET_DNS;
    n.relay.port = a->port;
    snprintf(n.relay.host, sizeof(n.relay.host), "%.*s", HOST_MAX, a->host);
    n.dial = n.relay;
    snprintf(n.name, sizeof(n.name), "%.*s:%u", HOST_MAX, a->host, a->port);
  } else {
    n.relay = src->name;
    n.dial = src->name;
    n.dial.kind = strchr(a->host, ':') ? TARGET_IPV6 : TARGET_IPV4;
    snprintf(n.dial.host, sizeof(n.dial.host), "%.*s", ADDR_MAX, a->host);
    snprintf(n.name, sizeof(n.name), "%.*s:%u/%.*s", HOST_MAX - 8,
             src->name.host, src->name.port, ADDR_MAX, a->host);
  }
  pthread_mutex_lock(&t->lock);
  t->members[i] = n;
  if(i == t->nmembers)
    t->nmembers++;
  pthread_mutex_unlock(&t->lock);
  /* A reused slot: no request waiting counts it as tried. */
  for(list_link_t *l = t->pending.next; l != &t->pending; l = l->next)
    LIST_CONTAINER(l, client_req_t, link)->tried &= ~(1u << i);
  if(t->cfg.log_pool)
    log_msg(LOG_INFO, "relay_added", "%s: found in DNS", n.name);
}

/* Before the first answer the name's member dials the name itself: it
 * takes the answer's first address no member holds. */
static void settle_name_member(beacon_tunnel_t *t, client_source_t *src,
                               const fleet_addr_t *ans, int nans)
{
  if(src->member < 0)
    return;
  client_member_t *m = &t->members[src->member];
  if(m->gone || m->dial.kind != TARGET_DNS)
    return;
  for(int j = 0; j < nans; j++) {
    int held = 0;
    for(int i = 0; i < t->nmembers; i++)
      held |= !t->members[i].gone && t->members[i].dial.port == ans[j].port &&
              !strcmp(t->members[i].dial.host, ans[j].host);
    if(held)
      continue;
    pthread_mutex_lock(&t->lock);
    m->dial.kind = strchr(ans[j].host, ':') ? TARGET_IPV6 : TARGET_IPV4;
    snprintf(m->dial.host, sizeof(m->dial.host), "%.*s", ADDR_MAX,
             ans[j].host);
    pthread_mutex_unlock(&t->lock);
    return;
  }
}

/* The answer's entries as fleet_addr_t; how many. */
static int answer_addrs(const client_source_t *src, const resolve_answer_t *a,
                        fleet_addr_t *out)
{
  int n = 0;
  for(size_t j = 0; j < a->nsrv && n < POOL_MAX_MEMBERS; j++, n++) {
    memset(&out[n], 0, sizeof(out[n]));
    snprintf(out[n].host, sizeof(out[n].host), "%.*s", HOST_MAX,
             a->srv[j].host);
    out[n].port = a->srv[j].port;
    out[n].priority = a->srv[j].priority;
    out[n].weight = a->srv[j].weight;
  }
  for(size_t j = 0; j < a->n && n < POOL_MAX_MEMBERS; j++, n++) {
    memset(&out[n], 0, sizeof(out[n]));
    if(!inet_ntop(a->ips[j].family, a->ips[j].addr, out[n].host,
                  sizeof(out[n].host)))
      n--;
    else
      out[n].port = src->name.port;
  }
  return n;
}

/* The source's members follow the answer; 1 when some changed. */
static int apply(beacon_tunnel_t *t, int k, const fleet_addr_t *ans, int nans)
{
  client_source_t *src = &t->sources[k];
  settle_name_member(t, src, ans, nans);
  int idx[POOL_MAX_MEMBERS], ncur = 0;
  fleet_addr_t cur[POOL_MAX_MEMBERS];
  for(int i = 0; i < t->nmembers; i++)
    if(t->members[i].source == k && !t->members[i].gone) {
      member_addr(&t->members[i], &cur[ncur]);
      idx[ncur++] = i;
    }
  int keep[POOL_MAX_MEMBERS], fresh[POOL_MAX_MEMBERS];
  if(!fleet_compare(cur, ncur, ans, nans, keep, fresh))
    return 0;
  for(int c = 0; c < ncur; c++)
    if(!keep[c])
      member_remove(t, idx[c]);
  for(int j = 0; j < nans; j++)
    if(fresh[j])
      member_add(t, k, &ans[j]);
  return 1;
}

static void on_answer(void *ud, const resolve_answer_t *a)
{
  client_source_t *src = ud;
  beacon_tunnel_t *t = src->t;
  int k = (int)(src - t->sources);
  src->q = NULL;
  fleet_addr_t ans[POOL_MAX_MEMBERS];
  int nans = a->status ? 0 : answer_addrs(src, a, ans);
  /* SRV priority and weight may change on members that stay */
  for(int i = 0; i < t->nmembers; i++)
    for(int j = 0; j < nans && pool_is_srv(&src->name); j++)
      if(t->members[i].source == k && !t->members[i].gone &&
         t->members[i].dial.port == ans[j].port &&
         !strcmp(t->members[i].dial.host, ans[j].host)) {
        t->members[i].priority = ans[j].priority;
        t->members[i].weight = ans[j].weight;
      }
  if(nans && apply(t, k, ans, nans)) {
    pool_shuffle(t->order, t->nmembers, rand_of, t);
    pthread_mutex_lock(&t->lock);
    int want_warm = t->want_warm;
    pthread_mutex_unlock(&t->lock);
    if(want_warm)
      t->warm = 1; /* the pool's service connects the new members */
    client_members_arm(t, 1);
  } else if(a->status && t->cfg.log_pool) {
    log_msg(LOG_WARN, "relay_lookup_failed", "%s: %s (the members stay)",
            src->name.host, a->why ? a->why : "failed");
  }
  src->next_at = client_member_now(t) +
                 fleet_next_lookup_ms(nans > 0, a->ttl_s, FLEET_TTL_FLOOR_S,
                                      FLEET_TTL_CEILING_S);
  fleet_arm(t);
}

static void lookup(client_source_t *src)
{
  beacon_tunnel_t *t = src->t;
  int kind = pool_is_srv(&src->name) ? RESOLVE_SRV : RESOLVE_ADDRESSES;
  resolve_query_t *q = NULL;
  if(resolve_fresh(&t->loop, src->name.host, kind, on_answer, src, &q)) {
    src->next_at =
        client_member_now(t) +
        fleet_next_lookup_ms(0, 0, FLEET_TTL_FLOOR_S, FLEET_TTL_CEILING_S);
    return;
  }
  src->q = q;
}

int client_fleet_has_srv(const beacon_tunnel_t *t)
{
  for(int k = 0; k < t->nsources; k++)
    if(pool_is_srv(&t->sources[k].name))
      return 1;
  return 0;
}

void client_fleet_init(beacon_tunnel_t *t)
{
  const client_hop_pool_t *p = &t->cfg.relays[0];
  uv_timer_init(&t->loop, &t->fleet_timer);
  t->fleet_timer.data = t;
  t->nmembers = 0;
  for(int i = 0; i < p->n; i++) {
    const target_t *r = &p->members[i];
    int member = -1;
    if(!pool_is_srv(r)) {
      member = t->nmembers++;
      client_member_t *m = &t->members[member];
      int v6 = r->kind == TARGET_IPV6;
      snprintf(m->name, sizeof(m->name), "%s%s%s:%u", v6 ? "[" : "", r->host,
               v6 ? "]" : "", r->port);
      m->relay = *r;
      m->dial = *r;
      m->source = -1;
      t->order[member] = member;
    }
    if(r->kind != TARGET_DNS)
      continue;
    client_source_t *src = &t->sources[t->nsources];
    src->t = t;
    src->name = *r;
    src->member = member;
    if(member >= 0)
      t->members[member].source = t->nsources;
    t->nsources++;
  }
  for(int k = 0; k < t->nsources; k++)
    lookup(&t->sources[k]);
  fleet_arm(t);
}

static void close_noop(uv_handle_t *h)
{
  (void)h;
}

void client_fleet_stop(beacon_tunnel_t *t)
{
  for(int k = 0; k < t->nsources; k++)
    if(t->sources[k].q) {
      resolve_cancel(t->sources[k].q);
      t->sources[k].q = NULL;
    }
  uv_close((uv_handle_t *)&t->fleet_timer, close_noop);
}
