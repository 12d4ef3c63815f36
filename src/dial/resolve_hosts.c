/*
 * resolve_hosts.c - the hosts file alone, read once per lookup
 * (resolve_hosts.h).
 */
#include "dial/resolve_hosts.h"

#include <ares.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct resolve_hosts {
  ares_channel channel;
};

typedef struct hosts_answer {
  resolve_ip_t *ips;
  size_t cap, n;
  int done;
} hosts_answer_t;

static void on_hosts(void *arg, int status, int timeouts,
                     struct ares_addrinfo *res)
{
  hosts_answer_t *a = arg;
  (void)timeouts;
  a->done = 1;
  for(const struct ares_addrinfo_node *ai =
          status == ARES_SUCCESS && res ? res->nodes : NULL;
      ai && a->n < a->cap; ai = ai->ai_next) {
    resolve_ip_t *ip = &a->ips[a->n];
    if(ai->ai_family == AF_INET)
      memcpy(ip->addr, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr,
             4);
    else if(ai->ai_family == AF_INET6)
      memcpy(ip->addr, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
             16);
    else
      continue;
    ip->family = ai->ai_family;
    a->n++;
  }
  if(res)
    ares_freeaddrinfo(res);
}

static resolve_hosts_t *hosts_new(void)
{
  resolve_hosts_t *h = calloc(1, sizeof(*h));
  if(!h)
    return NULL;
  struct ares_options o;
  memset(&o, 0, sizeof(o));
  o.lookups = (char *)"f"; /* the file only: never a query */
  if(ares_init_options(&h->channel, &o, ARES_OPT_LOOKUPS) != ARES_SUCCESS) {
    free(h);
    return NULL;
  }
  return h;
}

size_t resolve_hosts_lookup(resolve_hosts_t **h, const char *name,
                            resolve_ip_t *ips, size_t cap)
{
  if(!*h && !(*h = hosts_new()))
    return 0;
  hosts_answer_t a = {.ips = ips, .cap = cap};
  struct ares_addrinfo_hints hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  ares_getaddrinfo((*h)->channel, name, NULL, &hints, on_hosts, &a);
  /* "f" alone ends inside the call; should a c-ares ever defer it, the
   * cancel runs the callback now, while a is still in scope. */
  if(!a.done)
    ares_cancel((*h)->channel);
  return a.n;
}

void resolve_hosts_free(resolve_hosts_t *h)
{
  if(!h)
    return;
  ares_destroy(h->channel);
  free(h);
}
