/*
 * resolve.c - c-ares on a libuv loop (resolve.h): the channel tells us
 * its sockets through ARES_OPT_SOCK_STATE_CB, each gets a uv_poll, and
 * one uv_timer follows ares_timeout(). A lookup is a query object the
 * c-ares callback reaches; cancelling only clears its callback, since
 * c-ares 1.18 has no per-query cancel, and the query is freed when
 * c-ares lets go of it (its answer, its own timeout, or the channel's
 * end once no live lookup is left on the loop).
 */
#include "dial/resolve.h"

#include <ares.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "beacon/beacon.h"
#include "dial/resolve_hosts.h"

typedef struct resolver resolver_t;

typedef struct resolve_sock {
  uv_poll_t poll;
  ares_socket_t fd;
  resolver_t *r;
  struct resolve_sock *next;
} resolve_sock_t;

struct resolver {
  uv_loop_t *loop;
  ares_channel channel;
  uv_timer_t timer;
  resolve_sock_t *socks;
  unsigned live;    /* lookups whose callback may still run */
  unsigned held;    /* queries c-ares holds, cancelled ones included */
  int starting;     /* inside ares_getaddrinfo(): answers wait a turn */
  int dying;        /* the channel is gone, handles closing */
  unsigned handles; /* open uv handles; the struct goes at 0 */
  resolve_query_t *ready_head, *ready_tail;
  resolve_hosts_t *hosts; /* the hosts file alone, past a cap */
  resolver_t *next;       /* in the registry */
};

struct resolve_query {
  resolver_t *r;
  resolve_group_t *group; /* held while c-ares holds the query */
  resolve_cb cb;          /* NULL once cancelled or called */
  void *ud;
  int in_ares;
  int status;
  size_t n;
  resolve_ip_t ips[RESOLVE_CACHE_MAX_ADDRS];
  char why[48];
  /* resolve_fresh(): cb is fresh_done, ud the query itself */
  resolve_answer_cb acb;
  void *aud;
  uint32_t ttl_s;
  dns_srv_t *srv; /* RESOLVE_SRV: DNS_SRV_MAX of them */
  size_t nsrv;
  resolve_query_t *next_ready;
  char name[];
};

/* One resolver per loop; the cache is process-wide,
 * since the relay's workers are threads with a loop each. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static resolver_t *registry;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static resolve_cache_t *cache;
static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc = -1;

static void library_init(void)
{
  ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

static uint64_t clock_ms(void)
{
  return uv_hrtime() / 1000000u;
}

/* ---- the cache ---- */

static int cache_lookup(resolve_query_t *q)
{
  int hit = 0;
  pthread_mutex_lock(&cache_lock);
  if(cache)
    hit = resolve_cache_get(cache, q->name, clock_ms(), q->ips,
                            RESOLVE_CACHE_MAX_ADDRS, &q->n, &q->status);
  pthread_mutex_unlock(&cache_lock);
  if(hit && q->status)
    snprintf(q->why, sizeof(q->why), "resolve: no such name");
  return hit;
}

static void cache_store(const resolve_query_t *q, uint64_t ttl_ms)
{
  pthread_mutex_lock(&cache_lock);
  if(!cache)
    cache = resolve_cache_new(RESOLVE_CACHE_NAMES);
  if(cache && q->status == 0)
    (void)resolve_cache_put(cache, q->name, clock_ms(), ttl_ms, q->ips, q->n);
  else if(cache)
    (void)resolve_cache_put_negative(cache, q->name, clock_ms(), q->status);
  pthread_mutex_unlock(&cache_lock);
}

/* ---- the channel's sockets and timer ---- */

static void resolver_free_if_done(resolver_t *r)
{
  if(r->dying && r->handles == 0)
    free(r);
}

static void handle_closed(uv_handle_t *h)
{
  resolver_t *r = h->data;
  r->handles--;
  resolver_free_if_done(r);
}

static void sock_closed(uv_handle_t *h)
{
  resolve_sock_t *s = (resolve_sock_t *)h;
  resolver_t *r = s->r;
  free(s);
  r->handles--;
  resolver_free_if_done(r);
}

static void settle(resolver_t *r);

static void on_poll(uv_poll_t *h, int status, int events)
{
  resolve_sock_t *s = (resolve_sock_t *)h;
  resolver_t *r = s->r;
  /* An error goes to c-ares as readiness: its read or write fails and
   * it moves the query on. */
  int rd = status < 0 || (events & UV_READABLE);
  int wr = status < 0 || (events & UV_WRITABLE);
  ares_process_fd(r->channel, rd ? s->fd : ARES_SOCKET_BAD,
                  wr ? s->fd : ARES_SOCKET_BAD);
  settle(r);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable,
                          int writable)
{
  resolver_t *r = data;
  resolve_sock_t **pp = &r->socks;
  while(*pp && (*pp)->fd != fd)
    pp = &(*pp)->next;
  resolve_sock_t *s = *pp;
  if(!readable && !writable) {
    if(s) { /* c-ares closes fd after this: stop polling it now */
      *pp = s->next;
      uv_close((uv_handle_t *)&s->poll, sock_closed);
    }
    return;
  }
  if(!s) {
    s = calloc(1, sizeof(*s));
    /* Without a poll the query runs into c-ares's own timeout. */
    if(!s)
      return;
    if(uv_poll_init_socket(r->loop, &s->poll, fd)) {
      free(s);
      return;
    }
    s->fd = fd;
    s->r = r;
    s->next = r->socks;
    r->socks = s;
    r->handles++;
  }
  uv_poll_start(&s->poll,
                (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                on_poll);
}

/* Channel options: hosts file first, then DNS; c-ares's retries capped
 * (resolv.conf's smaller timeout and attempts win). */
static int channel_init(resolver_t *r)
{
  struct ares_options o;
  memset(&o, 0, sizeof(o));
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;
  o.sock_state_cb = on_sock_state;
  o.sock_state_cb_data = r;
  o.lookups = (char *)"fb";
  if(ares_init_options(&r->channel, &o, mask) != ARES_SUCCESS)
    return BEACON_EIO;
  struct ares_options saved;
  int smask = 0;
  if(ares_save_options(r->channel, &saved, &smask) != ARES_SUCCESS)
    return 0; /* c-ares's defaults: still bounded */
  int try_ms = saved.timeout;
  if(!(smask & ARES_OPT_TIMEOUTMS))
    try_ms *= 1000;
  int tries = saved.tries;
  ares_destroy_options(&saved);
  if(try_ms > 0 && try_ms <= RESOLVE_TRY_MS && tries > 0 &&
     tries <= RESOLVE_TRIES)
    return 0;
  ares_destroy(r->channel);
  o.timeout = try_ms > 0 && try_ms < RESOLVE_TRY_MS ? try_ms : RESOLVE_TRY_MS;
  o.tries = tries > 0 && tries < RESOLVE_TRIES ? tries : RESOLVE_TRIES;
  mask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  if(ares_init_options(&r->channel, &o, mask) != ARES_SUCCESS)
    return BEACON_EIO;
  return 0;
}

static resolver_t *resolver_for(uv_loop_t *loop)
{
  pthread_mutex_lock(&registry_lock);
  resolver_t *r = registry;
  while(r && r->loop != loop)
    r = r->next;
  pthread_mutex_unlock(&registry_lock);
  if(r)
    return r;
  pthread_once(&ares_once, library_init);
  if(ares_init_rc != ARES_SUCCESS)
    return NULL;
  r = calloc(1, sizeof(*r));
  if(!r)
    return NULL;
  r->loop = loop;
  if(channel_init(r)) {
    free(r);
    return NULL;
  }
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  r->handles = 1;
  pthread_mutex_lock(&registry_lock);
  r->next = registry;
  registry = r;
  pthread_mutex_unlock(&registry_lock);
  return r;
}

/* No live lookup is left: the channel goes with every query c-ares still
 * holds (all cancelled, freed by their callbacks), then the handles. */
static void resolver_destroy(resolver_t *r)
{
  r->dying = 1;
  pthread_mutex_lock(&registry_lock);
  resolver_t **pp = &registry;
  while(*pp && *pp != r)
    pp = &(*pp)->next;
  if(*pp)
    *pp = r->next;
  pthread_mutex_unlock(&registry_lock);
  ares_destroy(r->channel); /* closes its sockets: on_sock_state */
  resolve_hosts_free(r->hosts);
  r->hosts = NULL;
  while(r->socks) {
    resolve_sock_t *s = r->socks;
    r->socks = s->next;
    uv_close((uv_handle_t *)&s->poll, sock_closed);
  }
  uv_close((uv_handle_t *)&r->timer, handle_closed);
}

/* ---- lookups ---- */

static void query_free(resolve_query_t *q)
{
  free(q->srv);
  free(q);
}

static void deliver(resolve_query_t *q)
{
  resolve_cb cb = q->cb;
  if(cb) {
    q->cb = NULL;
    q->r->live--;
    cb(q->ud, q->status, q->ips, q->n, q->why);
  }
  if(!q->in_ares)
    query_free(q);
}

static void on_timer(uv_timer_t *h);

/* Re-arms the timer: at once for answers waiting a turn or an idle
 * channel, else at c-ares's next timeout. Safe from any callback. */
static void rearm(resolver_t *r)
{
  if(r->dying)
    return;
  struct timeval tv;
  struct timeval *tp = ares_timeout(r->channel, NULL, &tv);
  if(r->ready_head || r->live == 0)
    uv_timer_start(&r->timer, on_timer, 0, 0);
  else if(tp)
    uv_timer_start(
        &r->timer, on_timer,
        (uint64_t)tp->tv_sec * 1000 + ((uint64_t)tp->tv_usec + 999) / 1000, 0);
  else
    uv_timer_stop(&r->timer);
}

/* From the top of a loop callback only: c-ares is not running. */
static void settle(resolver_t *r)
{
  if(r->dying)
    return;
  if(r->live == 0 && !r->ready_head)
    resolver_destroy(r);
  else
    rearm(r);
}

static void on_timer(uv_timer_t *h)
{
  resolver_t *r = h->data;
  while(r->ready_head) {
    resolve_query_t *q = r->ready_head;
    r->ready_head = q->next_ready;
    if(!r->ready_head)
      r->ready_tail = NULL;
    deliver(q);
  }
  if(r->live)
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  settle(r);
}

static void make_ready(resolve_query_t *q)
{
  resolver_t *r = q->r;
  q->next_ready = NULL;
  if(r->ready_tail)
    r->ready_tail->next_ready = q;
  else
    r->ready_head = q;
  r->ready_tail = q;
}

/* The addresses of an answer and their smallest TTL (milliseconds). */
static uint64_t take_answer(resolve_query_t *q,
                            const struct ares_addrinfo *res)
{
  int64_t ttl = -1;
  for(const struct ares_addrinfo_node *ai = res ? res->nodes : NULL; ai;
      ai = ai->ai_next) {
    if(q->n >= RESOLVE_CACHE_MAX_ADDRS)
      break;
    resolve_ip_t *ip = &q->ips[q->n];
    if(ai->ai_family == AF_INET) {
      memcpy(ip->addr, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr,
             4);
    } else if(ai->ai_family == AF_INET6) {
      memcpy(ip->addr, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
             16);
    } else {
      continue;
    }
    ip->family = ai->ai_family;
    q->n++;
    if(ttl < 0 || ai->ai_ttl < ttl)
      ttl = ai->ai_ttl < 0 ? 0 : ai->ai_ttl;
  }
  return ttl > 0 ? (uint64_t)ttl * 1000 : 0;
}

/* c-ares let go of q: its group slot and the loop's. */
static void released(resolve_query_t *q)
{
  q->in_ares = 0;
  q->r->held--;
  if(q->group) {
    q->group->active--;
    resolve_group_unref(q->group);
    q->group = NULL;
  }
}

/* c-ares's status as ours, the answer cached (not a fresh one's), and
 * the callback run; found: the records taken from the answer. */
static void conclude(resolve_query_t *q, int status, size_t found,
                     uint64_t ttl_ms)
{
  q->ttl_s = (uint32_t)(ttl_ms / 1000);
  if(status == ARES_SUCCESS && found) {
    if(!q->acb)
      cache_store(q, ttl_ms);
  } else if(status == ARES_SUCCESS || status == ARES_ENOTFOUND ||
            status == ARES_ENODATA) {
    q->status = BEACON_ENOTFOUND;
    snprintf(q->why, sizeof(q->why), "resolve: no such name");
    if(!q->acb)
      cache_store(q, 0);
  } else if(status == ARES_ETIMEOUT) {
    q->status = BEACON_ETIMEDOUT;
    snprintf(q->why, sizeof(q->why), "resolve: timeout");
  } else {
    q->status = status == ARES_ENOMEM ? BEACON_ENOMEM : BEACON_ENOTFOUND;
    snprintf(q->why, sizeof(q->why), "resolve: %s", ares_strerror(status));
  }
  if(q->r->starting)
    make_ready(q); /* answered from the hosts file inside start */
  else
    deliver(q);
}

static void on_answer(void *arg, int status, int timeouts,
                      struct ares_addrinfo *res)
{
  resolve_query_t *q = arg;
  (void)timeouts;
  released(q);
  uint64_t ttl_ms = 0;
  if(q->cb && status == ARES_SUCCESS)
    ttl_ms = take_answer(q, res);
  if(res)
    ares_freeaddrinfo(res);
  if(!q->cb) { /* cancelled: only c-ares held it */
    query_free(q);
    return;
  }
  conclude(q, status, q->n, ttl_ms);
}

static void on_srv_answer(void *arg, int status, int timeouts,
                          unsigned char *abuf, int alen)
{
  resolve_query_t *q = arg;
  (void)timeouts;
  released(q);
  if(!q->cb) {
    query_free(q);
    return;
  }
  uint32_t ttl_s = 0;
  if(status == ARES_SUCCESS) {
    int rc = dns_srv_parse(abuf, alen > 0 ? (size_t)alen : 0, q->srv,
                           DNS_SRV_MAX, &q->nsrv, &ttl_s);
    status = rc == 0                  ? ARES_SUCCESS
             : rc == BEACON_ENOTFOUND ? ARES_ENODATA
             : rc == BEACON_ENOMEM    ? ARES_ENOMEM
                                      : ARES_EBADRESP;
  }
  conclude(q, status, q->nsrv, (uint64_t)ttl_s * 1000);
}

/* The hosts file alone, without a query, read once for both families:
 * what a tunnel whose budget is spent may still reach. 1 when the name
 * is there. */
static int hosts_lookup(resolve_query_t *q)
{
  q->n = resolve_hosts_lookup(&q->r->hosts, q->name, q->ips,
                              RESOLVE_CACHE_MAX_ADDRS);
  return q->n > 0;
}

int resolve_start(uv_loop_t *loop, const char *name, resolve_group_t *g,
                  resolve_cb cb, void *ud, resolve_query_t **out)
{
  size_t len = strlen(name);
  resolve_query_t *q = calloc(1, sizeof(*q) + len + 1);
  if(!q)
    return BEACON_ENOMEM;
  memcpy(q->name, name, len + 1);
  q->cb = cb;
  q->ud = ud;
  resolver_t *r = resolver_for(loop);
  if(!r) {
    free(q);
    return BEACON_EIO;
  }
  q->r = r;
  if(cache_lookup(q)) {
    r->live++;
    make_ready(q);
    rearm(r);
    *out = q;
    return 0;
  }
  if((g && g->limit && g->active >= g->limit) ||
     r->held >= RESOLVE_LOOP_MAX_LOOKUPS) {
    if(hosts_lookup(q)) { /* no query: no slot needed */
      r->live++;
      make_ready(q);
      rearm(r);
      *out = q;
      return 0;
    }
    free(q);
    rearm(r); /* a channel made for this lookup goes next turn */
    return BEACON_ELIMIT;
  }
  if(g) {
    g->active++;
    g->refs++;
    q->group = g;
  }
  r->live++;
  r->held++;
  q->in_ares = 1;
  struct ares_addrinfo_hints hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  r->starting++;
  ares_getaddrinfo(r->channel, q->name, NULL, &hints, on_answer, q);
  r->starting--;
  rearm(r);
  *out = q;
  return 0;
}

void resolve_cancel(resolve_query_t *q)
{
  if(!q || !q->cb)
    return;
  resolver_t *r = q->r;
  q->cb = NULL;
  r->live--;
  /* Not freed here: c-ares or the ready list still points at it. */
  rearm(r);
}

/* resolve_fresh()'s answer, handed on whole. */
static void fresh_done(void *ud, int status, const resolve_ip_t *ips, size_t n,
                       const char *why)
{
  resolve_query_t *q = ud;
  resolve_answer_t a = {status, why, q->ttl_s, ips, n, q->srv, q->nsrv};
  q->acb(q->aud, &a);
}

int resolve_fresh(uv_loop_t *loop, const char *name, int kind,
                  resolve_answer_cb cb, void *ud, resolve_query_t **out)
{
  size_t len = strlen(name);
  resolve_query_t *q = calloc(1, sizeof(*q) + len + 1);
  if(!q)
    return BEACON_ENOMEM;
  memcpy(q->name, name, len + 1);
  if(kind == RESOLVE_SRV && !(q->srv = calloc(DNS_SRV_MAX, sizeof(*q->srv)))) {
    free(q);
    return BEACON_ENOMEM;
  }
  q->cb = fresh_done;
  q->ud = q;
  q->acb = cb;
  q->aud = ud;
  resolver_t *r = resolver_for(loop);
  if(!r || r->held >= RESOLVE_LOOP_MAX_LOOKUPS) {
    query_free(q);
    if(r)
      rearm(r);
    return r ? BEACON_ELIMIT : BEACON_EIO;
  }
  q->r = r;
  r->live++;
  r->held++;
  q->in_ares = 1;
  r->starting++;
  if(kind == RESOLVE_SRV) {
    ares_query(r->channel, q->name, 1 /* IN */, DNS_TYPE_SRV, on_srv_answer,
               q);
  } else {
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    ares_getaddrinfo(r->channel, q->name, NULL, &hints, on_answer, q);
  }
  r->starting--;
  rearm(r);
  *out = q;
  return 0;
}
