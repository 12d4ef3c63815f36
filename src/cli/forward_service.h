/*
 * forward_service.h - the types the files of `beacon forward` share: the
 * kinds of front end, a listener, and the service state the main thread
 * and the connection threads both use. Types and inline functions only,
 * so that including it ties no file to another.
 *
 * The files call one way, each only files below it:
 *   forward.c          the service: options, signals, accept loop, drain
 *     forward_listen.c   listening sockets and -L specs
 *     forward_pool.c     the relay pool's metrics and /healthz
 *     forward_conn.c     one accepted connection, on a thread of its own
 *       forward_http.c     the HTTP forward proxy (absolute http:// URIs)
 *         forward_front.c    SOCKS5 / HTTP CONNECT handshakes and answers
 *         forward_copy.c     the poll copy engine (SOCKS and HTTP CONNECT)
 *         forward_metrics.c  counters and the /metrics endpoint
 */
#ifndef BEACON_CLI_FORWARD_SERVICE_H
#define BEACON_CLI_FORWARD_SERVICE_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "beacon/beacon.h"
#include "target/target.h"

enum front { FRONT_LOCAL = 0, FRONT_SOCKS, FRONT_HTTP };

/* "forward", "socks", "http-connect": the front field of log lines. */
static inline const char *forward_front_name(enum front kind)
{
  static const char *const names[] = {"forward", "socks", "http-connect"};
  return names[kind];
}

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

#endif
