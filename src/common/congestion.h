/*
 * congestion.h - the congestion control of a tunnel's TCP connection
 * (docs/PROTOCOL.md "Congestion control of the tunnel"). A session is one TCP
 * connection: its congestion control decides how every stream of the
 * tunnel fares on a lossy path, and it is ours to choose per socket.
 */
#ifndef BEACON_CONGESTION_H
#define BEACON_CONGESTION_H

#include <stddef.h>

/* Tried on every tunnel socket when no name is configured; a kernel
 * without it (or a process not allowed it) keeps the system default. */
#define CONGESTION_DEFAULT "bbr"
/* The name that leaves the socket at the system default. */
#define CONGESTION_SYSTEM "system"
/* Longest name the kernel takes (TCP_CA_NAME_MAX - 1). */
#define CONGESTION_NAME_MAX 15

/* 0 when name is "system" or a congestion control this process may set
 * on a TCP socket; otherwise BEACON_EINVAL (malformed name) or
 * BEACON_ECONFIG (the kernel lacks it or does not allow it), with why
 * set to one sentence that names the fix. */
int congestion_check(const char *name, char *why, size_t cap);

/* TCP_CONGESTION on fd. name NULL or "": CONGESTION_DEFAULT, best effort;
 * "system": nothing; otherwise name, 0 or BEACON_EIO. */
int congestion_apply(int fd, const char *name);

#endif
