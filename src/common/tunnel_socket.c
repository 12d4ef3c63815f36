/* tunnel_socket.c - socket options of a tunnel (tunnel_socket.h). */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "beacon/beacon.h"
#include "common/congestion.h"
#include "common/tunnel_socket.h"

int tunnel_socket_tune(int fd, const char *congestion)
{
  int one = 1;
  int lowat = TUNNEL_NOTSENT_LOWAT;
  if(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
    return BEACON_EIO;
#ifdef TCP_NOTSENT_LOWAT
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
#else
  (void)lowat;
#endif
  return congestion_apply(fd, congestion);
}

int tunnel_socket_peer_closed(int fd)
{
  struct tcp_info ti;
  socklen_t len = sizeof(ti);
  if(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
    return 0;
  return ti.tcpi_state == TCP_CLOSE_WAIT || ti.tcpi_state == TCP_CLOSE;
}

void tunnel_socket_set_notsent_lowat(int fd, int bytes)
{
#ifdef TCP_NOTSENT_LOWAT
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof(bytes));
#else
  (void)fd;
  (void)bytes;
#endif
}
