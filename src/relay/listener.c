/*
 * listener.c - parsing the tunnel address and binding one listening
 * socket per worker (listener.h).
 */
#include "relay/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/hostport.h"
#include "relay/addr_text.h"

/* Splits ":PORT", "HOST:PORT" or "[V6]:PORT" into a socket address;
 * *any = 1 for an empty host (all addresses, dual stack). */
static int parse_addr(const char *s, struct sockaddr_storage *ss, int *any,
                      char *err, size_t errlen)
{
  char host[256];
  uint16_t port;
  if(hostport_split(s, 0, host, sizeof(host), &port))
    goto bad;
  size_t hl = strlen(host);
  memset(ss, 0, sizeof(*ss));
  *any = !hl;
  if(!hl) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_any;
    in6->sin6_port = htons((uint16_t)port);
    return 0;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if(rc || !res) {
    snprintf(err, errlen, "--tunnel-addr %s: cannot resolve '%s': %s", s, host,
             gai_strerror(rc));
    return BEACON_EINVAL;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if(ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  return 0;
bad:
  snprintf(err, errlen,
           "--tunnel-addr '%s': expected :PORT, HOST:PORT or "
           "[IPV6]:PORT with a port 0-65535",
           s);
  return BEACON_EINVAL;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
  if(ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* A bound, listening, non-blocking socket with SO_REUSEPORT so every
 * worker can have its own on the same address. -errno on failure. */
static int bind_one(const struct sockaddr_storage *ss, int dual)
{
  int fd =
      socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if(fd < 0)
    return -errno;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
    goto fail;
  if(dual && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)))
    goto fail;
  socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                           : sizeof(struct sockaddr_in6);
  if(bind(fd, (const struct sockaddr *)ss, len))
    goto fail;
  if(listen(fd, RELAY_LISTEN_BACKLOG))
    goto fail;
  return fd;
fail:;
  int e = errno;
  close(fd);
  return -e;
}

/* SO_REUSEPORT would let us share a port another relay of the same user
 * already serves: probe with a plain bind first. -errno or 0. */
static int probe_free(const struct sockaddr_storage *ss, int dual)
{
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if(fd < 0)
    return -errno;
  int one = 1, zero = 0, rc = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if(dual)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                           : sizeof(struct sockaddr_in6);
  if(bind(fd, (const struct sockaddr *)ss, len))
    rc = -errno;
  close(fd);
  return rc;
}

int relay_tunnel_addr_check(const char *addr, char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  int any;
  return parse_addr(addr, &ss, &any, err, errlen);
}

int relay_bind_all(relay_t *r, char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  int any;
  int rc = parse_addr(r->tunnel_addr, &ss, &any, err, errlen);
  if(rc)
    return rc;
  int busy = probe_free(&ss, any);
  if(busy == -EADDRINUSE) {
    snprintf(err, errlen, "cannot listen on %s: %s", r->tunnel_addr,
             strerror(-busy));
    return BEACON_EIO;
  }
  for(unsigned i = 0; i < r->nworkers; i++) {
    int fd = bind_one(&ss, any);
    if(fd < 0 && any && i == 0 &&
       (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)) {
      /* No IPv6 here: all IPv4 addresses instead. */
      struct sockaddr_in *in = (struct sockaddr_in *)&ss;
      int port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      memset(&ss, 0, sizeof(ss));
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_ANY);
      in->sin_port = htons((uint16_t)port);
      any = 0;
      fd = bind_one(&ss, 0);
    }
    if(fd < 0) {
      snprintf(err, errlen, "cannot listen on %s: %s", r->tunnel_addr,
               strerror(-fd));
      return BEACON_EIO;
    }
    r->workers[i].fd = fd;
    if(i == 0) {
      /* Port 0: every worker binds the port the first one got. */
      struct sockaddr_storage got;
      socklen_t gl = sizeof(got);
      getsockname(fd, (struct sockaddr *)&got, &gl);
      r->port = ntohs(got.ss_family == AF_INET
                          ? ((struct sockaddr_in *)&got)->sin_port
                          : ((struct sockaddr_in6 *)&got)->sin6_port);
      set_port(&ss, r->port);
      relay_addr_format((struct sockaddr *)&got, r->addr_text,
                        sizeof(r->addr_text));
    }
  }
  return 0;
}
