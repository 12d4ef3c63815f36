/*
 * forward.h - what the files of `beacon forward` share: the kinds of
 * front end, a listener, and the service state the main thread and the
 * connection threads both use.
 *
 *   forward.c          the service: options, signals, accept loop, drain
 *   forward_listen.c   listening sockets and -L specs
 *   forward_conn.c     one accepted connection, on a thread of its own
 *   forward_front.c    SOCKS5 / HTTP CONNECT handshakes and replies
 *   forward_copy.c     the poll copy engine (SOCKS and HTTP CONNECT)
 *   forward_http.c     the HTTP forward proxy (absolute http:// URIs)
 *   forward_metrics.c  counters and the /metrics endpoint
 */
#ifndef BEACON_CLI_FORWARD_H
#define BEACON_CLI_FORWARD_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "beacon/beacon.h"
#include "target/target.h"

enum front { FRONT_LOCAL = 0, FRONT_SOCKS, FRONT_HTTP };

/* "forward", "socks", "http-connect": the front field of log lines. */
extern const char *const forward_front_names[];

typedef struct listener {
  int fd;
  enum front kind;
  char target[TARGET_MAX_LINE + 1]; /* -L only */
  char addr[320];                   /* as bound, for logs */
} listener_t;

typedef struct forward_service {
  beacon_tunnel_t *tunnel; /* shared by every connection thread */
  uint64_t grace_ms;       /* --connect-grace */
  atomic_long live_conns;
  /* A byte per finished connection, so the drain waits without
   * polling. */
  int done_pipe[2];
} forward_service_t;

static inline uint64_t forward_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Opens the listener for spec (an -L spec, or a --socks or
 * --http-connect address; flag names it in messages) as ls[*n] and logs
 * it. 0, or an exit code after one line on stderr. */
int forward_listen(listener_t *ls, int *n, const char *spec, enum front kind,
                   const char *flag);

/* What forward_listen() checks of spec, binding nothing
 * (--check-config). 0, or an exit code after one line on stderr. */
int forward_listen_check(const char *spec, enum front kind, const char *flag);

/* Runs the accepted socket fd of listener l on a detached thread of its
 * own (peer is the client's address, for logs); the thread ends the
 * connection and counts it out of svc->live_conns. Closes fd when it
 * cannot. */
void forward_conn_start(forward_service_t *svc, const listener_t *l, int fd,
                        const char *peer);

#endif
