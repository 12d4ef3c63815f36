/*
 * listener.h - the relay's listening sockets: one per worker on the same
 * address (SO_REUSEPORT), bound before any worker starts.
 */
#ifndef BEACON_RELAY_LISTENER_H
#define BEACON_RELAY_LISTENER_H

#include <stddef.h>

#include "relay/relay_int.h"

/* Pending connections per listening socket (the worker listens on it
 * again with libuv; the kernel caps it at net.core.somaxconn). Past
 * --max-handshakes START a reconnect storm waits here rather than be
 * refused (handshake.h RELAY_ACCEPT_RETRY_MS), so it holds a fleet's
 * worth: a full queue drops SYNs, which clients resend only after 1 s. */
#define RELAY_LISTEN_BACKLOG 4096

/* Binds r->tunnel_addr once per worker (w->fd); sets r->port and
 * r->addr_text. 0, or BEACON_EINVAL / BEACON_EIO with a message. */
BEACON_MUST_USE int relay_bind_all(relay_t *r, char *err, size_t errlen);

/* Whether addr is a tunnel address relay_bind_all() could use, binding
 * nothing. 0, or BEACON_EINVAL with a message. */
int relay_tunnel_addr_check(const char *addr, char *err, size_t errlen);

#endif
