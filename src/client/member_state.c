/*
 * member_state.c - one member of hop 0's pool and its chain: its state
 * (what client_pool_snapshot() shows), starting its chain, and what
 * becomes of it when the chain comes up, gets Go Away, stalls, fails or
 * is replaced by a renewed one (docs/ARCHITECTURE.md "Relay pools").
 * Member state is written under tunnel->lock so that other threads can
 * read it.
 */
#include "client/member_state.h"

#include <stdio.h>
#include <string.h>

#include "client/chain.h"
#include "client/client_pool.h"
#include "client/renewal.h"
#include "log/log.h"

void client_member_note_failure(beacon_tunnel_t *t, client_req_t *req,
                                int member, const beacon_error_t *why)
{
  if(req->tried & (1u << member))
    return;
  req->tried |= 1u << member;
  req->last_err = *why;
  req->relay = t->members[member].name;
  size_t len = strlen(req->tried_log);
  snprintf(req->tried_log + len, sizeof(req->tried_log) - len, "%s%s",
           len ? "; " : "", why->message);
}

void client_members_arm(beacon_tunnel_t *t, uint64_t delay)
{
  if(!t->stopped && t->pool_service)
    uv_timer_start(&t->pool_timer, t->pool_service, delay, 0);
}

int client_warm_set_size(const beacon_tunnel_t *t)
{
  int n = t->cfg.pool_size > 0 ? t->cfg.pool_size : t->nmembers;
  return n < t->nmembers ? n : t->nmembers;
}

/* 1 when member i is among those a warm pool keeps connected. */
int client_in_warm_set(const beacon_tunnel_t *t, int i)
{
  if(!t->warm)
    return 0;
  for(int k = 0; k < client_warm_set_size(t); k++)
    if(t->order[k] == i)
      return 1;
  return 0;
}

void client_member_set_state(beacon_tunnel_t *t, client_member_t *m, int state,
                             const char *why)
{
  int old = m->state;
  pthread_mutex_lock(&t->lock);
  m->state = state;
  if(why)
    snprintf(m->last_error, sizeof(m->last_error), "%s", why);
  pthread_mutex_unlock(&t->lock);
  if(old == state || !t->cfg.log_pool || t->stopped)
    return;
  log_line_t l;
  int bad = state == MEMBER_DOWN || state == MEMBER_STALLED ||
            state == MEMBER_DRAINING;
  if(log_begin(&l, bad ? LOG_WARN : LOG_INFO, "relay_state")) {
    log_str(&l, "relay", m->name);
    log_str(&l, "from", client_member_state_name(old));
    log_str(&l, "to", client_member_state_name(state));
    if(why && state != MEMBER_UP && state != MEMBER_CONNECTING)
      log_str(&l, "reason", why);
    log_end(&l);
  }
}

void client_member_start(beacon_tunnel_t *t, int i)
{
  client_member_t *m = &t->members[i];
  if(m->chain || m->gone || t->stopped)
    return;
  client_chain_t *s = client_chain_new(t, i);
  if(!s) {
    client_member_set_state(t, m, MEMBER_DOWN, "out of memory");
    m->retry_at = client_member_now(t) + POOL_BACKOFF_BASE_MS;
    client_members_arm(t, POOL_BACKOFF_BASE_MS);
    return;
  }
  m->chain = s;
  m->retry_at = 0;
  client_member_set_state(t, m, MEMBER_CONNECTING, NULL);
}

int client_members_renew(beacon_tunnel_t *t, int i)
{
  client_member_t *m = &t->members[i];
  if(t->stopped || !m->chain || m->successor)
    return -1;
  client_chain_t *s = client_chain_new(t, i);
  if(!s)
    return -1;
  m->successor = s;
  return 0;
}

/* The member's chain is gone: a renewed chain under way takes its
 * place. 1 when it did. */
static int take_successor(beacon_tunnel_t *t, client_member_t *m)
{
  client_chain_t *s = m->successor;
  if(!s)
    return 0;
  m->successor = NULL;
  m->chain = s;
  m->up_since = client_member_now(t);
  client_member_set_state(
      t, m, s->state == CHAIN_UP ? MEMBER_UP : MEMBER_CONNECTING, NULL);
  client_members_arm(t, 0);
  return 1;
}

/* A renewed chain came up (it takes the member's new streams and the
 * old chain drains) or failed (the old one stays; a later tick tries
 * again). */
static void successor_changed(beacon_tunnel_t *t, client_member_t *m,
                              client_chain_t *s)
{
  if(s->torn_down || s->state == CHAIN_FAILED || s->going_away) {
    m->successor = NULL;
    m->renew_retry_at = client_member_now(t) + RENEWAL_RETRY_MS;
    if(!t->stopped && t->cfg.log_pool)
      log_msg(LOG_WARN, "tunnel_renew_failed",
              "%s: %s (the current tunnel stays)", m->name,
              s->err.message[0] ? s->err.message : "Go Away");
    return;
  }
  if(s->state != CHAIN_UP)
    return;
  client_chain_t *old = m->chain;
  m->successor = NULL;
  m->chain = s;
  if(old) {
    old->retired = 1;
    old->going_away = 1; /* ends after its last stream (chain.c) */
  }
  if(t->cfg.log_pool)
    log_msg(LOG_INFO, "tunnel_renewed",
            "%s: new streams take the renewed tunnel; the old one drains",
            m->name);
  client_member_set_state(t, m, MEMBER_UP, NULL);
  client_members_arm(t, 0);
  client_dirty(t);
}

/* The member's chain failed: it is down until it reconnects (warm) or
 * a request starts it again. */
static void member_lost(beacon_tunnel_t *t, client_member_t *m,
                        client_chain_t *s)
{
  uint64_t now = client_member_now(t);
  int was_up = m->state == MEMBER_UP || m->state == MEMBER_STALLED ||
               m->state == MEMBER_DRAINING;
  m->chain = NULL;
  if(take_successor(t, m))
    return;
  if(was_up && now >= m->up_since + POOL_BACKOFF_RESET_MS)
    m->attempt = 0; /* it had stayed up: start the schedule again */
  uint64_t delay = pool_backoff_delay(m->attempt, POOL_BACKOFF_BASE_MS,
                                      POOL_BACKOFF_CAP_MS, client_rand(t));
  pthread_mutex_lock(&t->lock);
  if(m->attempt < 31)
    m->attempt++;
  pthread_mutex_unlock(&t->lock);
  m->retry_at = now + delay;
  const char *why = s->err.message[0] ? s->err.message : "closed";
  client_member_set_state(t, m, MEMBER_DOWN, why);
  /* Requests waiting for a member: this one is no longer coming. */
  for(list_link_t *n = t->pending.next; n != &t->pending; n = n->next) {
    client_req_t *req = LIST_CONTAINER(n, client_req_t, link);
    if(!was_up)
      client_member_note_failure(t, req, s->member, &s->err);
  }
  if(client_in_warm_set(t, s->member) || !list_empty(&t->pending))
    client_members_arm(t, 0);
}

void client_members_chain_changed(beacon_tunnel_t *t, client_chain_t *s)
{
  client_member_t *m = &t->members[s->member];
  if(m->successor == s) {
    successor_changed(t, m, s);
    return;
  }
  if(m->chain != s)
    return; /* not (or no longer) the member's chain */
  if(s->torn_down || s->state == CHAIN_FAILED) {
    member_lost(t, m, s);
    return;
  }
  if(s->going_away) {
    /* The chain finishes its live streams on its own; the member may
     * connect again at once (a relay that is only shedding load takes
     * it, a stopping one refuses and the backoff starts). */
    client_member_set_state(t, m, MEMBER_DRAINING, "the relay sent Go Away");
    if(client_member_now(t) >= m->up_since + POOL_BACKOFF_RESET_MS) {
      pthread_mutex_lock(&t->lock);
      m->attempt = 0;
      pthread_mutex_unlock(&t->lock);
    }
    m->chain = NULL;
    if(take_successor(t, m))
      return;
    m->retry_at = client_member_now(t);
    client_members_arm(t, 0);
  } else if(s->stalled) {
    client_member_set_state(t, m, MEMBER_STALLED,
                            "a stream open got no answer");
  } else if(s->state == CHAIN_UP) {
    if(m->state == MEMBER_CONNECTING)
      m->up_since = client_member_now(t);
    client_member_set_state(t, m, MEMBER_UP, NULL);
    /* The first chain up takes the waiting requests. */
    client_members_arm(t, 0);
  }
}
