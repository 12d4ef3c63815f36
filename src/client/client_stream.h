/*
 * client_stream.h - an internal libbeacon call for the CLI: a stream
 * whose bytes the tunnel's loop pumps straight to and from descriptors
 * the caller already has (stdin/stdout, an accepted socket), with no
 * loopback TCP pair in between (beacon_dial keeps that contract for C
 * programs that want one descriptor).
 */
#ifndef BEACON_CLIENT_FD_STREAM_H
#define BEACON_CLIENT_FD_STREAM_H

#include <stdint.h>

#include "beacon/beacon.h"
#include "common/error.h"

typedef struct client_req client_fd_stream_t;

typedef struct client_stream_end {
  int code;            /* 0, BEACON_ERESET (the relay reset the stream),
                          BEACON_ECLOSED (the tunnel was lost) or
                          BEACON_EIO (the local end failed) */
  const char *outcome; /* "ok", "reset_by_target", "tunnel_lost",
                          "reset_by_client", "error" */
  uint64_t bytes_up, bytes_down;
  const char *relay; /* the first-hop relay ("host:port") that carried it;
                        valid as long as the tunnel */
} client_stream_end_t;

/* beacon_dial(), and *confirmed (may be NULL) tells whether the relay
 * acknowledged the stream only once the target was connected (ALPN
 * beacon/1): then a failure is already reported and a success is final;
 * otherwise (a Go relay) a refusal shows later as a reset. *relay (may
 * be NULL) names the first-hop relay that took it. */
BEACON_MUST_USE int client_dial(beacon_tunnel_t *t, const char *target,
                                int timeout_ms, int *confirmed,
                                const char **relay, beacon_error_t *err);

/* 1 when the loop can pump fd (a socket or a pipe); regular files,
 * character devices and terminals are not (use beacon_dial then). */
int client_stream_fd_ok(int fd);

/* Opens a stream to target and waits until the relay acknowledged it.
 * The loop then reads in_fd and writes out_fd (the same descriptor for
 * a socket) through its own duplicates: the caller should close its
 * originals, so that the loop's close is the reader's EOF. Returns the
 * stream, or NULL with *code and err set (the descriptors untouched). */
BEACON_MUST_USE client_fd_stream_t *
client_dial_fds(beacon_tunnel_t *t, const char *target, int in_fd, int out_fd,
                int timeout_ms, int *code, beacon_error_t *err);

/* Ends the caller's side of the stream cleanly from any thread, as if
 * its input ended and it stopped reading (a ProxyCommand whose ssh
 * hung up): FIN goes to the relay and what still arrives is dropped, so
 * the stream can end normally; client_stream_wait() tells when. */
void client_stream_finish(beacon_tunnel_t *t, client_fd_stream_t *s);

/* Waits up to timeout_ms (< 0: no limit) for the stream to end; 0 and
 * *end filled (the stream is then released), or BEACON_ETIMEDOUT. */
BEACON_MUST_USE int client_stream_wait(beacon_tunnel_t *t,
                                       client_fd_stream_t *s, int timeout_ms,
                                       client_stream_end_t *end);

#endif
