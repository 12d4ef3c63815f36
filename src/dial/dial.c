/*
 * dial.c - resolve a host without blocking the loop (resolve.h: c-ares
 * on the loop; IP literals are parsed inline) and connect
 * with Happy Eyeballs (RFC 8305 style, docs/PROTOCOL.md "Relaying"): the
 * resolved addresses the caller allows are interleaved by family, a new
 * attempt starts every 250 ms or as soon as the previous one fails, the
 * first connection wins and the others are cancelled, all within the
 * dial timeout. The relay judges every address actually dialled by its
 * policy (docs/ARCHITECTURE.md "Deny by default"): a name resolving to
 * 127.0.0.1 is refused unless allowed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "beacon/beacon.h"
#include "common/addr.h"
#include "common/error.h"
#include "dial/dial.h"
#include "dial/resolve.h"

#define HE_DELAY_MS 250 /* RFC 8305 "Connection Attempt Delay" */
#define DIAL_MAX_ADDRS 16

struct dial {
  uv_loop_t *loop;
  resolve_query_t *query; /* the name lookup, until it answers */
  uv_timer_t deadline;
  uv_timer_t stagger;
  int refs; /* timers, attempts */
  int finished;
  int cancelled;
  dial_cb cb;
  void *ud;
  dial_allow_fn allow;
  void *allow_ud;
  uint16_t port;
  struct sockaddr_storage addrs[DIAL_MAX_ADDRS];
  int naddrs;
  int next;
  /* att[i] is the attempt on addrs[i] (i < next); conn is NULL once it
   * failed, was closed or handed over. The request lives here, not in
   * the connection: the dial outlives every attempt but the winner,
   * whose request has completed. */
  struct dial_attempt {
    dial_conn_t *conn;
    uv_connect_t req;
  } att[DIAL_MAX_ADDRS];
  int last_err; /* uv error of the last failed attempt */
  int lit_rc;   /* no lookup: the verdict, acted on next turn */
  char why[96];
};

static void dial_unref(dial_t *d)
{
  if(--d->refs == 0)
    free(d);
}

static void timer_closed(uv_handle_t *h)
{
  dial_unref(h->data);
}

static void conn_closed(uv_handle_t *h)
{
  dial_conn_t *c = h->data;
  if(c->on_closed)
    c->on_closed(c);
  free(c);
}

void dial_conn_close(dial_conn_t *c)
{
  if(!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void attempt_closed(dial_conn_t *c)
{
  dial_unref(c->owner);
}

/* Ends the dial: every attempt but the winner is closed, the callback
 * runs once (unless cancelled), the struct goes when its handles do. */
static void dial_finish(dial_t *d, int status, dial_conn_t *win)
{
  if(d->finished)
    return;
  d->finished = 1;
  resolve_cancel(d->query); /* its answer would come too late */
  d->query = NULL;
  uv_timer_stop(&d->deadline);
  uv_timer_stop(&d->stagger);
  const struct sockaddr *peer = NULL;
  for(int i = 0; i < d->next; i++) {
    dial_conn_t *c = d->att[i].conn;
    if(c && c == win)
      peer = (const struct sockaddr *)&d->addrs[i];
    else if(c)
      dial_conn_close(c);
    d->att[i].conn = NULL;
  }
  if(win) {
    /* The winner now belongs to the caller. */
    win->owner = NULL;
    win->on_closed = NULL;
    d->refs--; /* the timers, closed below, still hold the dial */
  }
  uv_close((uv_handle_t *)&d->deadline, timer_closed);
  uv_close((uv_handle_t *)&d->stagger, timer_closed);
  if(!d->cancelled)
    d->cb(d->ud, status, status ? d->last_err : 0, win, peer,
          status ? d->why : "");
}

static int map_uv_err(dial_t *d, int err)
{
  d->last_err = err;
  switch(err) {
  case UV_ECONNREFUSED:
    snprintf(d->why, sizeof(d->why), "refused");
    break;
  case UV_ETIMEDOUT:
    snprintf(d->why, sizeof(d->why), "timeout");
    break;
  case UV_EHOSTUNREACH:
  case UV_ENETUNREACH:
    snprintf(d->why, sizeof(d->why), "unreachable (%s)", uv_err_name(err));
    break;
  default:
    snprintf(d->why, sizeof(d->why), "%s", uv_err_name(err));
  }
  return error_from_os(err);
}

static int live_attempts(const dial_t *d)
{
  int n = 0;
  for(int i = 0; i < d->next; i++)
    if(d->att[i].conn)
      n++;
  return n;
}

static void start_next(dial_t *d);

static void on_connect(uv_connect_t *req, int status)
{
  dial_conn_t *c = req->data;
  dial_t *d = c->owner;
  if(status == UV_ECANCELED || uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  if(!d || d->finished)
    return;
  if(status == 0) {
    dial_finish(d, 0, c);
    return;
  }
  int code = map_uv_err(d, status);
  for(int i = 0; i < d->next; i++)
    if(d->att[i].conn == c)
      d->att[i].conn = NULL;
  dial_conn_close(c);
  /* A failure starts the next attempt at once (RFC 8305 §5). */
  uv_timer_stop(&d->stagger);
  start_next(d);
  if(!d->finished && !live_attempts(d) && d->next >= d->naddrs)
    dial_finish(d, code, NULL);
}

static void on_stagger(uv_timer_t *h)
{
  start_next(h->data);
}

static void on_deadline(uv_timer_t *h)
{
  dial_t *d = h->data;
  snprintf(d->why, sizeof(d->why), "timeout");
  dial_finish(d, BEACON_ETIMEDOUT, NULL);
}

/* Starts the next address's attempt, skipping ones that fail at once. */
static void start_next(dial_t *d)
{
  while(!d->finished && d->next < d->naddrs) {
    int ai = d->next++;
    struct sockaddr *sa = (struct sockaddr *)&d->addrs[ai];
    dial_conn_t *c = calloc(1, sizeof(*c));
    if(!c) {
      snprintf(d->why, sizeof(d->why), "out of memory");
      dial_finish(d, BEACON_ENOMEM, NULL);
      return;
    }
    int err = uv_tcp_init(d->loop, &c->tcp);
    if(err) {
      free(c);
      map_uv_err(d, err);
      continue;
    }
    c->tcp.data = c;
    c->owner = d;
    c->on_closed = attempt_closed;
    d->refs++;
    d->att[ai].conn = c;
    d->att[ai].req.data = c;
    err = uv_tcp_connect(&d->att[ai].req, &c->tcp, sa, on_connect);
    if(err) {
      map_uv_err(d, err);
      d->att[ai].conn = NULL;
      dial_conn_close(c);
      continue;
    }
    if(d->next < d->naddrs)
      uv_timer_start(&d->stagger, on_stagger, HE_DELAY_MS, 0);
    return;
  }
  if(!d->finished && !live_attempts(d)) {
    int code = d->last_err ? map_uv_err(d, d->last_err) : BEACON_EIO;
    dial_finish(d, code, NULL);
  }
}

static int same_addr(const struct sockaddr_storage *a,
                     const struct sockaddr *b)
{
  if(a->ss_family != b->sa_family)
    return 0;
  if(b->sa_family == AF_INET)
    return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                   &((const struct sockaddr_in *)b)->sin_addr, 4);
  return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                 &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

/* Keeps the allowed addresses, deduplicated, interleaved by family
 * starting with the family of the first answer (RFC 8305 §4). */
static int collect(dial_t *d, const struct addrinfo *res)
{
  struct sockaddr_storage fam[2][DIAL_MAX_ADDRS];
  int n[2] = {0, 0};
  int first = -1;
  const char *refused = NULL;
  for(const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int f;
    if(ai->ai_family == AF_INET)
      f = 0;
    else if(ai->ai_family == AF_INET6)
      f = 1;
    else
      continue;
    const char *why = NULL;
    if(d->allow && !d->allow(d->allow_ud, ai->ai_addr, d->port, &why)) {
      if(!refused)
        refused = why ? why : "refused";
      continue;
    }
    int dup = 0;
    for(int i = 0; i < n[f]; i++)
      if(same_addr(&fam[f][i], ai->ai_addr))
        dup = 1;
    if(dup || n[f] >= DIAL_MAX_ADDRS)
      continue;
    memset(&fam[f][n[f]], 0, sizeof(fam[f][n[f]]));
    memcpy(&fam[f][n[f]], ai->ai_addr, ai->ai_addrlen);
    if(f == 0)
      ((struct sockaddr_in *)&fam[f][n[f]])->sin_port = htons(d->port);
    else
      ((struct sockaddr_in6 *)&fam[f][n[f]])->sin6_port = htons(d->port);
    n[f]++;
    if(first < 0)
      first = f;
  }
  if(first < 0) {
    if(refused) {
      snprintf(d->why, sizeof(d->why), "policy: %s", refused);
      return BEACON_EPOLICY;
    }
    snprintf(d->why, sizeof(d->why), "resolve: no usable address");
    return BEACON_ENOTFOUND;
  }
  int i[2] = {0, 0};
  int f = first;
  while(d->naddrs < DIAL_MAX_ADDRS && (i[0] < n[0] || i[1] < n[1])) {
    if(i[f] < n[f])
      d->addrs[d->naddrs++] = fam[f][i[f]++];
    f ^= 1;
  }
  return 0;
}

/* The lookup's addresses as the addrinfo list collect() reads. */
static void on_resolved(void *ud, int status, const resolve_ip_t *ips,
                        size_t n, const char *why)
{
  dial_t *d = ud;
  d->query = NULL;
  if(status) {
    snprintf(d->why, sizeof(d->why), "%s", why);
    dial_finish(d, status, NULL);
    return;
  }
  struct addrinfo ai[RESOLVE_CACHE_MAX_ADDRS];
  struct sockaddr_storage ss[RESOLVE_CACHE_MAX_ADDRS];
  memset(ai, 0, sizeof(ai));
  memset(ss, 0, sizeof(ss));
  if(n > RESOLVE_CACHE_MAX_ADDRS)
    n = RESOLVE_CACHE_MAX_ADDRS;
  for(size_t i = 0; i < n; i++) {
    ai[i].ai_family = ips[i].family;
    ai[i].ai_addr = (struct sockaddr *)&ss[i];
    if(ips[i].family == AF_INET) {
      struct sockaddr_in *sin = (struct sockaddr_in *)&ss[i];
      sin->sin_family = AF_INET;
      memcpy(&sin->sin_addr, ips[i].addr, 4);
      ai[i].ai_addrlen = sizeof(*sin);
    } else {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss[i];
      sin6->sin6_family = AF_INET6;
      memcpy(&sin6->sin6_addr, ips[i].addr, 16);
      ai[i].ai_addrlen = sizeof(*sin6);
    }
    ai[i].ai_next = i + 1 < n ? &ai[i + 1] : NULL;
  }
  int rc = collect(d, n ? ai : NULL);
  if(rc) {
    dial_finish(d, rc, NULL);
    return;
  }
  start_next(d);
}

/* The deferred start of an IP-literal dial: the callback never runs
 * from inside dial_start(). */
static void on_literal(uv_timer_t *h)
{
  dial_t *d = h->data;
  if(d->lit_rc) {
    dial_finish(d, d->lit_rc, NULL);
    return;
  }
  start_next(d);
  if(!d->finished && !live_attempts(d)) {
    int code = d->last_err ? map_uv_err(d, d->last_err) : BEACON_EIO;
    dial_finish(d, code, NULL);
  }
}

/* Parses an IPv4 or IPv6 literal without the resolver's thread pool;
 * 0 when it is not one (a zone id, say: common/addr.h). */
static int literal_addr(const target_t *tgt, struct sockaddr_storage *ss,
                        socklen_t *len)
{
  memset(ss, 0, sizeof(*ss));
  if(tgt->kind == TARGET_IPV4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    if(addr_parse4(tgt->host, strlen(tgt->host),
                   (uint8_t *)&sin->sin_addr.s_addr))
      return 0;
    sin->sin_family = AF_INET;
    *len = sizeof(*sin);
    return 1;
  }
  if(tgt->kind == TARGET_IPV6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if(addr_parse6(tgt->host, strlen(tgt->host), sin6->sin6_addr.s6_addr))
      return 0;
    sin6->sin6_family = AF_INET6;
    *len = sizeof(*sin6);
    return 1;
  }
  return 0;
}

/* Starts the lookup of a name; a refusal (over the group's cap, no
 * resolver) becomes the dial's verdict for the next turn. */
static void start_lookup(dial_t *d, const target_t *tgt,
                         resolve_group_t *group)
{
  if(tgt->kind != TARGET_DNS) {
    /* Unparsable literal: never sent to a name server. */
    snprintf(d->why, sizeof(d->why), "resolve: bad address");
    d->lit_rc = BEACON_ENOTFOUND;
    return;
  }
  int rc = resolve_start(d->loop, tgt->host, group, on_resolved, d, &d->query);
  if(rc == BEACON_ELIMIT)
    snprintf(d->why, sizeof(d->why), "resolve: too many lookups");
  else if(rc)
    snprintf(d->why, sizeof(d->why), "resolve: %s",
             rc == BEACON_ENOMEM ? "out of memory" : "no resolver");
  d->lit_rc = rc;
}

dial_t *dial_start_group(uv_loop_t *loop, resolve_group_t *group,
                         const target_t *tgt, uint64_t timeout_ms,
                         dial_allow_fn allow, void *allow_ud, dial_cb cb,
                         void *ud)
{
  dial_t *d = calloc(1, sizeof(*d));
  if(!d)
    return NULL;
  d->loop = loop;
  d->cb = cb;
  d->ud = ud;
  d->allow = allow;
  d->allow_ud = allow_ud;
  d->port = tgt->port;
  d->refs = 2; /* two timers */
  struct sockaddr_storage lit;
  socklen_t lit_len = 0;
  int literal = literal_addr(tgt, &lit, &lit_len);
  if(literal) {
    struct addrinfo ai;
    memset(&ai, 0, sizeof(ai));
    ai.ai_family = lit.ss_family;
    ai.ai_socktype = SOCK_STREAM;
    ai.ai_protocol = IPPROTO_TCP;
    ai.ai_addr = (struct sockaddr *)&lit;
    ai.ai_addrlen = lit_len;
    d->lit_rc = collect(d, &ai);
  } else {
    start_lookup(d, tgt, group);
  }
  uv_timer_init(loop, &d->deadline);
  uv_timer_init(loop, &d->stagger);
  d->deadline.data = d;
  d->stagger.data = d;
  uv_timer_start(&d->deadline, on_deadline, timeout_ms, 0);
  if(!d->query)
    uv_timer_start(&d->stagger, on_literal, 0, 0);
  return d;
}

dial_t *dial_start(uv_loop_t *loop, const target_t *tgt, uint64_t timeout_ms,
                   dial_allow_fn allow, void *allow_ud, dial_cb cb, void *ud)
{
  return dial_start_group(loop, NULL, tgt, timeout_ms, allow, allow_ud, cb,
                          ud);
}

void dial_cancel(dial_t *d)
{
  if(!d || d->finished)
    return;
  d->cancelled = 1;
  dial_finish(d, 0, NULL);
}
