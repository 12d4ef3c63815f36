/*
 * socket_pair.c - the caller's socket pairs (socket_pair.h): a
 * loopback TCP connection per beacon_dial(), made in the caller's
 * thread against the tunnel's own listener.
 *
 * Why a loopback TCP pair and not socketpair(): the caller must see
 * ECONNRESET when the relay resets the stream, and only TCP can deliver
 * it (closing the library end with SO_LINGER {1, 0} sends RST).
 */
#include "client/socket_pair.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int client_pair_listen(beacon_tunnel_t *t)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if(fd < 0)
    return -errno;
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if(bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, SOMAXCONN) ||
     getsockname(fd, (struct sockaddr *)&t->listen_addr, &alen)) {
    int e = -errno;
    close(fd);
    return e;
  }
  t->listen_fd = fd;
  return 0;
}

static uint16_t port_of(int fd, int peer)
{
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  int rc = peer ? getpeername(fd, (struct sockaddr *)&a, &alen)
                : getsockname(fd, (struct sockaddr *)&a, &alen);
  if(rc || a.sin_family != AF_INET)
    return 0;
  return ntohs(a.sin_port);
}

/* Any other connection found on the listener is a stranger and is
 * closed: the accepted socket must be the peer of ours (matched by
 * port). */
int client_pair_make(beacon_tunnel_t *t, int *cfd_out, int *lfd_out)
{
  int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if(cfd < 0)
    return -errno;
  int one = 1;
  setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  pthread_mutex_lock(&t->pair_lock);
  int rc = 0;
  int lfd = -1;
  if(connect(cfd, (struct sockaddr *)&t->listen_addr,
             sizeof(t->listen_addr))) {
    rc = -errno;
    goto out;
  }
  uint16_t want = port_of(cfd, 0);
  for(int tries = 0; tries < 64 && lfd < 0;) {
    int fd = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if(fd < 0) {
      if(errno == EINTR)
        continue;
      if(errno != EAGAIN && errno != EWOULDBLOCK) {
        rc = -errno;
        goto out;
      }
      struct pollfd p = {.fd = t->listen_fd, .events = POLLIN};
      if(poll(&p, 1, 1000) <= 0) {
        rc = -ETIMEDOUT;
        goto out;
      }
      tries++;
      continue;
    }
    if(want && port_of(fd, 1) == want)
      lfd = fd;
    else
      close(fd);
  }
  if(lfd < 0)
    rc = -ETIMEDOUT;
out:
  pthread_mutex_unlock(&t->pair_lock);
  if(rc) {
    close(cfd);
    return rc;
  }
  setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  *cfd_out = cfd;
  *lfd_out = lfd;
  return 0;
}
