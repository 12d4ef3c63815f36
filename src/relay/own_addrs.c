/*
 * own_addrs.c - keeps the policy's own_address class current (policy.h):
 * the relay's interface addresses and the directed broadcast addresses of
 * its IPv4 interfaces, read with getifaddrs at start, on SIGHUP, when the
 * kernel announces an address change (rtnetlink) and every minute in case
 * no announcement can be received (a sandbox without AF_NETLINK).
 *
 * A failed read keeps the previous set and is logged as an error: the
 * loopback, link-local and other classes still hold, but the relay's
 * public addresses may then be dialled through a rule that admits them.
 */
#include "relay/own_addrs.h"

#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log/log.h"
#include "relay/settings.h"

#define OWN_ADDRS_POLL_MS 60000

/* The live snapshot's: only this (control) thread replaces it. */
static const policy_t *effective_policy(relay_t *r)
{
  return r->settings->policy;
}

static int to_policy_addr(const struct sockaddr *sa, policy_addr_t *out)
{
  memset(out, 0, sizeof(*out));
  if(sa && sa->sa_family == AF_INET) {
    out->family = 4;
    memcpy(out->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return 1;
  }
  if(sa && sa->sa_family == AF_INET6) {
    out->family = 6;
    memcpy(out->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    return 1;
  }
  return 0;
}

/* The addresses of every interface, up or not: an address is the relay's
 * as soon as it is configured. */
static policy_own_addr_t *collect(struct ifaddrs *ifs, size_t *n)
{
  size_t cap = 0;
  for(struct ifaddrs *i = ifs; i; i = i->ifa_next)
    cap += 2;
  policy_own_addr_t *v = calloc(cap ? cap : 1, sizeof(*v));
  if(!v)
    return NULL;
  *n = 0;
  for(struct ifaddrs *i = ifs; i; i = i->ifa_next) {
    if(to_policy_addr(i->ifa_addr, &v[*n].addr))
      v[(*n)++].broadcast = 0;
    if((i->ifa_flags & IFF_BROADCAST) && i->ifa_broadaddr && i->ifa_addr &&
       i->ifa_addr->sa_family == AF_INET &&
       to_policy_addr(i->ifa_broadaddr, &v[*n].addr))
      v[(*n)++].broadcast = 1;
  }
  return v;
}

/* Reads the addresses into p: 1 changed, 0 same, or an error. */
static int refresh_policy(relay_t *r, const policy_t *p, const char *why);

int relay_own_addrs_refresh(relay_t *r, const char *why)
{
  return refresh_policy(r, effective_policy(r), why);
}

void relay_own_addrs_fill(relay_t *r, const policy_t *p)
{
  if(p != effective_policy(r))
    (void)refresh_policy(r, p, "reload");
}

static int refresh_policy(relay_t *r, const policy_t *p, const char *why)
{
  struct ifaddrs *ifs = NULL;
  size_t n = 0;
  log_line_t l;
  int rc;
  if(getifaddrs(&ifs)) {
    int e = errno;
    /* Once per failing spell, not every minute. */
    if(!r->own_failed++ && log_begin(&l, LOG_ERROR, "own_addresses_failed")) {
      log_str(&l, "error", strerror(e));
      log_str(&l, "action", "keeping the previous own addresses");
      log_end(&l);
    }
    return BEACON_EIO;
  }
  r->own_failed = 0;
  policy_own_addr_t *v = collect(ifs, &n);
  freeifaddrs(ifs);
  rc = v ? policy_set_own(p, v, n) : BEACON_ENOMEM;
  free(v);
  if(rc == 1 && log_begin(&l, LOG_INFO, "own_addresses")) {
    log_u64(&l, "count", policy_own_count(p));
    log_str(&l, "on", why);
    log_end(&l);
  }
  return rc < 0 ? rc : 0;
}

static void on_poll_timer(uv_timer_t *t)
{
  relay_own_addrs_refresh(t->data, "timer");
}

static void on_netlink(uv_poll_t *h, int status, int events)
{
  relay_t *r = h->data;
  char buf[8192];
  if(status < 0) {
    /* A broken socket would wake the loop forever: the minute timer
     * carries on alone. */
    log_msg(LOG_WARN, "own_addresses_watch", "rtnetlink: %s; polling only",
            uv_strerror(status));
    uv_poll_stop(h);
    return;
  }
  /* The messages only say that something changed: drain, then read the
   * whole set once (a burst of changes costs one read). */
  while(recv(r->own_nl_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
    ;
  relay_own_addrs_refresh(r, "netlink");
}

static int netlink_open(void)
{
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  NETLINK_ROUTE);
  if(fd < 0)
    return -1;
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof(sa));
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if(bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
    close(fd);
    return -1;
  }
  return fd;
}

void relay_own_addrs_start(relay_t *r)
{
  uv_timer_init(&r->loop, &r->own_timer);
  r->own_timer.data = r;
  uv_timer_start(&r->own_timer, on_poll_timer, OWN_ADDRS_POLL_MS,
                 OWN_ADDRS_POLL_MS);
  r->own_nl_fd = netlink_open();
  if(r->own_nl_fd >= 0 &&
     !uv_poll_init(&r->loop, &r->own_nl_poll, r->own_nl_fd)) {
    r->own_nl_poll.data = r;
    uv_poll_start(&r->own_nl_poll, UV_READABLE, on_netlink);
    r->own_nl_active = 1;
  } else if(r->own_nl_fd >= 0) {
    close(r->own_nl_fd);
    r->own_nl_fd = -1;
  }
  /* Subscribed first, read second: no change falls in between. */
  relay_own_addrs_refresh(r, "start");
}

static void nl_closed(uv_handle_t *h)
{
  relay_t *r = h->data;
  close(r->own_nl_fd);
  r->own_nl_fd = -1;
}

static void timer_closed(uv_handle_t *h)
{
}

void relay_own_addrs_stop(relay_t *r)
{
  uv_close((uv_handle_t *)&r->own_timer, timer_closed);
  if(r->own_nl_active) {
    r->own_nl_active = 0;
    uv_close((uv_handle_t *)&r->own_nl_poll, nl_closed);
  }
}
