/*
 * tunnel_socket.h - socket options of a tunnel's TCP connection (relay
 * and controller side alike).
 */
#ifndef BEACON_TUNNEL_SOCKET_H
#define BEACON_TUNNEL_SOCKET_H

/* Unsent bytes the kernel may hold for a tunnel socket until its round
 * trip is known. Bytes wait in the mux instead, where frames of
 * different streams interleave: a request queued beside a bulk transfer
 * waits behind this much, not behind a socket buffer of several
 * megabytes (docs/PROTOCOL.md "Flow control"). A near path lifts it
 * (conn/path_marks.h). */
#define TUNNEL_NOTSENT_LOWAT (128 * 1024)

/* TCP_NODELAY, TCP_NOTSENT_LOWAT and the congestion control (common/
 * congestion.h: congestion_apply(); NULL = the default) on fd. Best
 * effort for NOTSENT_LOWAT: a kernel without it only buffers more.
 * Returns 0 or BEACON_EIO. */
int tunnel_socket_tune(int fd, const char *congestion);
/* TCP_NOTSENT_LOWAT on fd; 0 restores the system's default. Best
 * effort, as above. */
void tunnel_socket_set_notsent_lowat(int fd, int bytes);
/* 1 when the peer of fd has closed (its FIN arrived: CLOSE_WAIT) or
 * reset it (CLOSE), as the kernel's TCP_INFO says; 0 otherwise, or
 * when the kernel cannot say. Needs no read, so a caller that stopped
 * reading still learns that its peer left. */
int tunnel_socket_peer_closed(int fd);

#endif
