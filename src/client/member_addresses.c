/*
 * member_addresses.c - a member named by a host name with several
 * addresses becomes one member per address (member_addresses.h).
 */
#include "client/member_addresses.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/member_state.h"
#include "log/log.h"

/* ---- a name with several addresses ----------------------------------- */

static uint32_t rand_of(void *ud)
{
  return client_rand(ud);
}

/* Each address of a member's name beyond the first becomes a member of
 * its own, verified against the same name; the first stays with the
 * member, which dials it from now on. */
static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res)
{
  beacon_tunnel_t *t = req->data;
  client_member_t *m = NULL;
  for(int i = 0; i < t->nmembers && !m; i++)
    if(t->members[i].resolve == req)
      m = &t->members[i];
  if(m)
    m->resolve = NULL;
  free(req);
  if(!m || status || t->stopped) {
    uv_freeaddrinfo(res);
    return;
  }
  int added = 0;
  int first = 1;
  for(struct addrinfo *ai = res; ai && t->nmembers < POOL_MAX_MEMBERS;
      ai = ai->ai_next) {
    char ip[INET6_ADDRSTRLEN];
    target_t dial = m->relay;
    if(ai->ai_family == AF_INET) {
      uv_ip4_name((const struct sockaddr_in *)ai->ai_addr, ip, sizeof(ip));
      dial.kind = TARGET_IPV4;
    } else if(ai->ai_family == AF_INET6) {
      uv_ip6_name((const struct sockaddr_in6 *)ai->ai_addr, ip, sizeof(ip));
      dial.kind = TARGET_IPV6;
    } else {
      continue;
    }
    snprintf(dial.host, sizeof(dial.host), "%s", ip);
    int dup = 0;
    for(int i = 0; i < t->nmembers; i++)
      dup |= t->members[i].dial.port == dial.port &&
             !strcmp(t->members[i].dial.host, dial.host);
    if(dup)
      continue;
    if(first) {
      first = 0;
      pthread_mutex_lock(&t->lock);
      m->dial = dial;
      pthread_mutex_unlock(&t->lock);
      continue;
    }
    client_member_t *n = &t->members[t->nmembers];
    memset(n, 0, sizeof(*n));
    n->relay = m->relay;
    n->dial = dial;
    snprintf(n->name, sizeof(n->name), "%.*s/%s", TARGET_MAX_LINE + 3, m->name,
             ip);
    t->order[t->nmembers] = t->nmembers;
    pthread_mutex_lock(&t->lock);
    t->nmembers++;
    pthread_mutex_unlock(&t->lock);
    added++;
  }
  uv_freeaddrinfo(res);
  if(added) {
    pool_shuffle(t->order, t->nmembers, rand_of, t);
    if(t->cfg.log_pool)
      log_msg(LOG_INFO, "relay_addresses", "%s: %d more member(s)", m->name,
              added);
    /* A pool of one asked to be warm is a pool now. */
    pthread_mutex_lock(&t->lock);
    int want_warm = t->want_warm;
    pthread_mutex_unlock(&t->lock);
    if(want_warm)
      t->warm = 1; /* the pool's timer connects the new members */
    client_members_arm(t, 1);
  }
}

void client_member_addresses_start(beacon_tunnel_t *t)
{
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  int n = t->nmembers;
  for(int i = 0; i < n; i++) {
    client_member_t *m = &t->members[i];
    if(m->relay.kind != TARGET_DNS)
      continue;
    m->resolve = malloc(sizeof(*m->resolve));
    if(!m->resolve)
      continue;
    m->resolve->data = t;
    if(uv_getaddrinfo(&t->loop, m->resolve, on_resolved, m->relay.host, NULL,
                      &hints)) {
      free(m->resolve);
      m->resolve = NULL;
    }
  }
}

void client_member_addresses_stop(beacon_tunnel_t *t)
{
  for(int i = 0; i < t->nmembers; i++)
    if(t->members[i].resolve)
      uv_cancel((uv_req_t *)t->members[i].resolve); /* on_resolved frees */
}
