/*
 * sd_notify.c - see sd_notify.h. The protocol is one SOCK_DGRAM message
 * of newline-separated VAR=value assignments; the address comes from
 * NOTIFY_SOCKET, where a leading '@' means the Linux abstract namespace.
 */
#include "common/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "beacon/beacon.h"

int beacon_sd_notify(const char *state)
{
  struct sockaddr_un sun;
  const char *path = getenv("NOTIFY_SOCKET");
  size_t plen;
  socklen_t alen;
  int fd;
  ssize_t n;

  if(!path || !*path)
    return 0;
  if(!state || !*state)
    return BEACON_EINVAL;
  plen = strlen(path);
  if((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path))
    return BEACON_EINVAL;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path, plen);
  if(path[0] == '@')
    sun.sun_path[0] = '\0';
  /* Abstract names are length-delimited, so no trailing NUL there. */
  alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
                     (path[0] == '/'));

  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if(fd < 0)
    return BEACON_EIO;
  do
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
               (struct sockaddr *)&sun, alen);
  while(n < 0 && errno == EINTR);
  close(fd);
  return n == (ssize_t)strlen(state) ? 1 : BEACON_EIO;
}
