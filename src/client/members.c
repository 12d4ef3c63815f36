/*
 * members.c - hop 0's relay pool inside a tunnel (members.h,
 * docs/ARCHITECTURE.md "Relay pools").
 *
 * Each member of hop 0's pool has at most one chain. A request goes to
 * a usable member (chain up, no Go Away, not stalled) picked by
 * pool_choose(); when none is usable it waits on t->pending while
 * members are started one after another, CLIENT_MEMBER_STAGGER_MS
 * apart (the first chain up takes every waiting request). A request
 * that fails before its relay acknowledged the stream moves to a member
 * it has not tried yet, within its own deadline.
 *
 * A warm pool (beacon forward, or a tunnel's second dial) keeps a chain
 * to each of the first pool_size members in random order; a failed one
 * reconnects after pool_backoff_delay() (member_state.c).
 */
#include "client/members.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/chain.h"
#include "client/fleet_watch.h"
#include "client/member_state.h"
#include "client/req.h"
#include "log/log.h"

/* How often a warm pool measures each member's round trip. */
#define POOL_PROBE_MS 2000

static uint32_t rand_of(void *ud)
{
  return client_rand(ud);
}

/* What a member the request did not try is doing: one still in its
 * handshake is named too, so "none took the stream in time" says where
 * the time went. */
static const char *untried_state(const client_member_t *m)
{
  switch(m->state) {
  case MEMBER_CONNECTING:
    return "still connecting (its TLS handshake has not finished)";
  case MEMBER_UP:
    return "up, but busy";
  case MEMBER_STALLED:
    return "stalled (a stream open got no answer)";
  case MEMBER_DRAINING:
    return "going away";
  case MEMBER_DOWN:
    return m->last_error[0] ? m->last_error : "down";
  default:
    return "not connected";
  }
}

/* Members not removed by fleet discovery, as a mask, and how many. */
static uint32_t live_mask(const beacon_tunnel_t *t, int *count)
{
  uint32_t mask = 0;
  int n = 0;
  for(int i = 0; i < t->nmembers; i++)
    if(!t->members[i].gone) {
      mask |= 1u << i;
      n++;
    }
  if(count)
    *count = n;
  return mask;
}

static int live_count(const beacon_tunnel_t *t)
{
  int n;
  (void)live_mask(t, &n);
  return n;
}

/* The request's final error: the only member's own words, or every
 * member tried and why it failed, and what the others are doing. */
static void finish_failed(beacon_tunnel_t *t, client_req_t *req, int code,
                          const beacon_error_t *last, const char *why)
{
  beacon_error_t e;
  if(!last && req->last_err.code)
    last = &req->last_err;
  int live = live_count(t);
  for(int i = 0; i < t->nmembers && !req->relay && live == 1; i++)
    if(!t->members[i].gone)
      req->relay = t->members[i].name; /* the log names the relay */
  if(live == 1 && last) {
    e = *last;
  } else {
    char others[400] = "";
    size_t len = 0;
    for(int i = 0; i < t->nmembers && len < sizeof(others); i++)
      if(!(req->tried & (1u << i)) && !t->members[i].gone)
        len += (size_t)snprintf(others + len, sizeof(others) - len, "%s%s: %s",
                                len || req->tried_log[0] ? "; " : "",
                                t->members[i].name,
                                untried_state(&t->members[i]));
    client_error_set(&e, code, last ? last->hop : 0, "%s%s%s%s", why,
                     req->tried_log[0] || others[0] ? ": " : "",
                     req->tried_log, others);
  }
  client_req_fail(t, req, code, &e);
}

/* Every live member failed the request. None live (an SRV name not
 * answered yet) is not "all tried": the request waits for its
 * deadline. */
static int all_tried(const beacon_tunnel_t *t, const client_req_t *req)
{
  uint32_t live = live_mask(t, NULL);
  return live && (req->tried & live) == live;
}

/* Places req on a usable member it has not tried; 0 when there is
 * none. */
static int place(beacon_tunnel_t *t, client_req_t *req)
{
  pool_candidate_t c[POOL_MAX_MEMBERS];
  int untried = 0;
  for(int i = 0; i < t->nmembers; i++) {
    client_member_t *m = &t->members[i];
    client_chain_t *s = m->chain;
    int fresh = !(req->tried & (1u << i)) && !m->gone;
    untried += fresh;
    c[i].priority = m->priority;
    c[i].weight = m->weight;
    c[i].usable =
        fresh && s && s->state == CHAIN_UP && !s->going_away && !s->stalled;
    c[i].streams = c[i].usable ? mux_stream_count(client_chain_mux(s)) : 0;
    c[i].rtt_ms = c[i].usable ? s->rtt_ms : 0;
  }
  int i = pool_choose(c, t->nmembers, client_rand(t), client_rand(t));
  if(i < 0)
    return 0;
  /* With another member to go to, a silent one costs at most
   * CLIENT_MEMBER_OPEN_MS of the caller's time. */
  uint64_t d = req->deadline;
  if(untried > 1 && client_member_now(t) + CLIENT_MEMBER_OPEN_MS < d)
    d = client_member_now(t) + CLIENT_MEMBER_OPEN_MS;
  req->attempt_deadline = d;
  client_chain_submit(t->members[i].chain, req);
  return 1;
}

/* Warm members without a chain whose backoff ended connect again; *next
 * is lowered to the earliest backoff still running. */
static void warm_reconnect(beacon_tunnel_t *t, uint64_t now, uint64_t *next)
{
  for(int k = 0; k < client_warm_set_size(t) && t->warm; k++) {
    int i = t->order[k];
    client_member_t *m = &t->members[i];
    if(m->chain || m->gone)
      continue;
    if(m->retry_at <= now) {
      if(m->state == MEMBER_DOWN) {
        pthread_mutex_lock(&t->lock);
        m->reconnects++;
        pthread_mutex_unlock(&t->lock);
      }
      client_member_start(t, i);
    } else if(m->retry_at < *next) {
      *next = m->retry_at;
    }
  }
}

/* Waiting requests: placed, timed out or failed. Returns the oldest one
 * still waiting (NULL when none); *next is lowered to its deadlines. */
static client_req_t *serve_pending(beacon_tunnel_t *t, uint64_t now,
                                   uint64_t *next)
{
  list_link_t *n = t->pending.next;
  client_req_t *first = NULL;
  while(n != &t->pending) {
    list_link_t *after = n->next;
    client_req_t *req = LIST_CONTAINER(n, client_req_t, link);
    if(all_tried(t, req) && req->may_retry_same && !req->retried) {
      req->retried = 1;
      req->tried = 0;
    }
    list_del(n);
    if(all_tried(t, req)) {
      finish_failed(t, req,
                    req->last_err.code ? req->last_err.code : BEACON_EIO, NULL,
                    "every relay failed");
    } else if(live_count(t) != 1 && now >= req->deadline) {
      finish_failed(t, req, BEACON_ETIMEDOUT, NULL,
                    live_count(t) ? "no relay of the pool took the stream "
                                    "in time"
                                  : "no relay of the pool is known yet (its "
                                    "DNS names gave no member)");
    } else if(!place(t, req)) {
      list_add(after, n); /* back where it was */
      if(!first)
        first = req;
      if(live_count(t) != 1 && req->deadline < *next)
        *next = req->deadline;
    }
    n = after;
  }
  return first;
}

/* Starts the next member the oldest waiting request has not tried,
 * unless one started less than a stagger ago is still connecting (Happy
 * Eyeballs over relays); *next is lowered to the next stagger. */
static void hunt_member(beacon_tunnel_t *t, const client_req_t *first,
                        uint64_t now, uint64_t *next)
{
  int connecting = 0, startable = -1;
  for(int k = 0; k < t->nmembers; k++) {
    int i = t->order[k];
    const client_chain_t *s = t->members[i].chain;
    if((first->tried & (1u << i)) || t->members[i].gone)
      continue;
    connecting += s && s->state < CHAIN_UP;
    /* SRV: a lower priority is tried first */
    if(!s && (startable < 0 ||
              t->members[i].priority < t->members[startable].priority))
      startable = i;
  }
  if(startable >= 0 &&
     (!connecting || now >= t->last_hunt + CLIENT_MEMBER_STAGGER_MS)) {
    client_member_start(t, startable);
    t->last_hunt = now;
    startable = -1;
    for(int i = 0; i < t->nmembers && startable < 0; i++)
      if(!t->members[i].chain && !(first->tried & (1u << i)) &&
         !t->members[i].gone)
        startable = i;
  }
  /* another attempt in parallel once this one had its head start */
  if(startable >= 0 && t->last_hunt + CLIENT_MEMBER_STAGGER_MS < *next)
    *next = t->last_hunt + CLIENT_MEMBER_STAGGER_MS;
}

/* What client_pool_snapshot() shows, then a fresh round trip now and
 * then for every live member, so that the choice follows the path, not
 * a sample from long ago. */
static void publish_and_probe(beacon_tunnel_t *t, uint64_t now)
{
  uint32_t streams[POOL_MAX_MEMBERS] = {0};
  /* A chain that stopped being its member's (Go Away, the stream cap)
   * still carries its live streams through that relay. */
  for(list_link_t *n = t->chains.next; n != &t->chains; n = n->next) {
    const client_chain_t *s = LIST_CONTAINER(n, client_chain_t, link);
    mux_t *mux = s->state == CHAIN_UP ? client_chain_mux(s) : NULL;
    if(mux && s->member >= 0 && s->member < t->nmembers)
      streams[s->member] += mux_stream_count(mux);
  }
  pthread_mutex_lock(&t->lock);
  for(int i = 0; i < t->nmembers; i++) {
    client_member_t *m = &t->members[i];
    client_chain_t *s = m->chain;
    m->streams = streams[i];
    m->rtt_ms = s && s->state == CHAIN_UP ? s->rtt_ms : 0;
  }
  pthread_mutex_unlock(&t->lock);
  for(int i = 0; i < t->nmembers; i++) {
    client_chain_t *s = t->members[i].chain;
    if(s && s->state == CHAIN_UP && now >= s->probed_at + POOL_PROBE_MS) {
      s->probed_at = now;
      mux_t *m = conn_mux(s->hops[0].conn);
      mux_now(m, now); /* the ping's send time */
      mux_measure_rtt(m);
      client_dirty(t);
    }
  }
}

/* Warm members reconnected; waiting requests placed, timed out or
 * failed; members started for the rest; counters published; timer
 * re-armed. */
static void pool_service(beacon_tunnel_t *t)
{
  if(t->stopped)
    return;
  uint64_t now = client_member_now(t);
  uint64_t next = UINT64_MAX;
  warm_reconnect(t, now, &next);
  const client_req_t *first = serve_pending(t, now, &next);
  if(first)
    hunt_member(t, first, now, &next);
  publish_and_probe(t, now);
  if(t->warm && now + 1000 < next)
    next = now + 1000; /* keeps the published counters fresh */
  /* never 0 from here: a timer re-armed at 0 in its own callback runs
   * again in the same turn */
  if(next != UINT64_MAX)
    client_members_arm(t, next > now ? next - now : 1);
}

static void on_pool_timer(uv_timer_t *tm)
{
  pool_service(tm->data);
}

void client_members_warm(beacon_tunnel_t *t)
{
  if(t->warm)
    return;
  t->warm = 1;
  pool_service(t);
}

void client_members_dispatch(beacon_tunnel_t *t, client_req_t *req)
{
  if(t->stopped) {
    beacon_error_t e;
    client_error_set(&e, BEACON_ECLOSED, -1, "tunnel is closing");
    client_req_fail(t, req, BEACON_ECLOSED, &e);
    return;
  }
  if(!req->deadline) {
    req->deadline = client_member_now(t) + (uint64_t)req->open_ms;
    /* A pool tunnel that dials more than once is long-lived: warm it (a
     * single relay is warmed only when asked: client_tunnel_warm). */
    if(++t->dials == 2 && (t->nmembers >= 2 || client_fleet_has_srv(t)))
      client_members_warm(t);
  }
  if(place(t, req))
    return;
  list_add(&t->pending, &req->link);
  client_members_arm(t, 0);
}

void client_members_failover(beacon_tunnel_t *t, client_req_t *req,
                             client_chain_t *from, const beacon_error_t *why)
{
  client_member_t *fm = &t->members[from->member];
  if(why->code == BEACON_ELIMIT && fm->chain == from && !t->stopped &&
     !req->retried) {
    /* The member's connection is full (stream cap), not failing: it
     * finishes its streams on its own while a second connection to the
     * same relay becomes the member's. */
    req->retried = 1;
    fm->chain = NULL;
    client_member_start(t, from->member);
    list_add(&t->pending, &req->link);
    client_members_arm(t, 0);
    return;
  }
  client_member_note_failure(t, req, from->member, why);
  if(t->stopped) {
    client_req_fail(t, req, why->code, why);
    return;
  }
  if(all_tried(t, req) && !(req->may_retry_same && !req->retried)) {
    finish_failed(t, req, why->code, why, "every relay failed");
    return;
  }
  if(client_member_now(t) >= req->deadline) {
    finish_failed(t, req, why->code, why,
                  live_count(t) != 1 ? "no relay of the pool took the stream "
                                       "in time"
                                     : "");
    return;
  }
  if(!all_tried(t, req)) {
    client_member_t *m = &t->members[from->member];
    pthread_mutex_lock(&t->lock);
    m->failovers++;
    pthread_mutex_unlock(&t->lock);
    if(t->cfg.log_pool)
      log_msg(LOG_INFO, "relay_failover", "%.*s: from %s: %s",
              (int)req->line_len - 1, req->line, m->name, why->message);
  }
  list_add(&t->pending, &req->link);
  client_members_arm(t, 0);
}

void client_members_init(beacon_tunnel_t *t)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t->rng =
      (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16 ^ (uint32_t)(uintptr_t)t;
  if(!t->rng)
    t->rng = 1;
  list_init(&t->pending);
  uv_timer_init(&t->loop, &t->pool_timer);
  t->pool_timer.data = t;
  t->pool_service = on_pool_timer;
  client_fleet_init(t); /* the members; answers come on later turns */
  pool_shuffle(t->order, t->nmembers, rand_of, t);
}

static void close_noop(uv_handle_t *h)
{
  (void)h;
}

void client_members_stop(beacon_tunnel_t *t)
{
  while(!list_empty(&t->pending)) {
    list_link_t *n = t->pending.next;
    list_del(n);
    beacon_error_t e;
    client_error_set(&e, BEACON_ECLOSED, -1, "tunnel is closing");
    client_req_fail(t, LIST_CONTAINER(n, client_req_t, link), BEACON_ECLOSED,
                    &e);
  }
  client_fleet_stop(t);
  uv_close((uv_handle_t *)&t->pool_timer, close_noop);
}
