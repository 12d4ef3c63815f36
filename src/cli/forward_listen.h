/*
 * forward_listen.h - the listening sockets of `beacon forward`: -L specs,
 * --socks and --http-connect addresses (forward_listen.c).
 */
#ifndef BEACON_CLI_FORWARD_LISTEN_H
#define BEACON_CLI_FORWARD_LISTEN_H

#include "cli/forward_service.h"

/* Opens the listener for spec (an -L spec, or a --socks or
 * --http-connect address; flag names it in messages) as ls[*n] and logs
 * it. 0, or an exit code after one line on stderr. */
int forward_listen(listener_t *ls, int *n, const char *spec, enum front kind,
                   const char *flag);

/* What forward_listen() checks of spec, binding nothing
 * (--check-config). 0, or an exit code after one line on stderr. */
int forward_listen_check(const char *spec, enum front kind, const char *flag);

#endif
