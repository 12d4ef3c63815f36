/*
 * forward_conn.h - one connection accepted by `beacon forward`, served
 * on a detached thread of its own (forward_conn.c).
 */
#ifndef BEACON_CLI_FORWARD_CONN_H
#define BEACON_CLI_FORWARD_CONN_H

#include "cli/forward_service.h"

/* Runs the accepted socket fd of listener l on a detached thread of its
 * own (peer is the client's address, for logs); the thread ends the
 * connection and counts it out of svc->live_conns. Closes fd when it
 * cannot. */
void forward_conn_start(forward_service_t *svc, const listener_t *l, int fd,
                        const char *peer);

#endif
