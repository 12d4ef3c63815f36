/*
 * socket_pair.h - the caller's socket pairs (socket_pair.c).
 */
#ifndef BEACON_CLIENT_SOCKET_PAIR_H
#define BEACON_CLIENT_SOCKET_PAIR_H

#include "client/client_int.h"

/* Opens the tunnel's loopback listener (listen_fd, listen_addr). 0 or
 * -errno. */
int client_pair_listen(beacon_tunnel_t *t);
/* Connects a fresh socket to the tunnel's listener and accepts it:
 * *cfd_out the caller's end, *lfd_out the library's. 0 or -errno.
 * Any thread (under pair_lock). */
int client_pair_make(beacon_tunnel_t *t, int *cfd_out, int *lfd_out);

#endif
