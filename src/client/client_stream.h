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
#include "common/outcome.h"

typedef struct client_req client_fd_stream_t;

typedef struct client_stream_end {
  int code;          /* 0, BEACON_ERESET (the relay reset the stream),
                        BEACON_ECLOSED (the tunnel was lost) or
                        BEACON_EIO (the local end failed) */
  outcome_t outcome; /* OUTCOME_OK, _RESET_BY_TARGET, _TUNNEL_LOST,
                        _RESET_BY_CLIENT or _LOCAL_ERROR */
  uint64_t bytes_up, bytes_down;
  const char *relay; /* the first-hop relay ("host:port") that carried it;
                        valid as long as the tunnel */
} client_stream_end_t;

/* What a dial says besides its code and message. */
typedef struct client_dial_info {
  /* How it went: OUTCOME_OK; the relay's verdict about the target (its
   * beacon/1 reason, or a reset without one); or, for every other
   * failure, outcome_classify() on the tunnel's side (OUTCOME_TUNNEL). */
  outcome_t outcome;
  /* The relay acknowledged the stream only once the target was
   * connected (ALPN beacon/1): a success is final. Otherwise (a Go
   * relay) a refusal shows later as a reset. */
  int confirmed;
  /* The first-hop relay ("host:port") that took the stream or, on a
   * failure, the last one that failed it (the only one of a single
   * relay); NULL when none was tried. Valid as long as the tunnel. */
  const char *relay;
} client_dial_info_t;

/* beacon_dial(), and *info (may be NULL) filled in either way. */
BEACON_MUST_USE int client_dial(beacon_tunnel_t *t, const char *target,
                                int timeout_ms, client_dial_info_t *info,
                                beacon_error_t *err);

/* 1 when the loop can pump fd (a socket or a pipe); regular files,
 * character devices and terminals are not (use beacon_dial then). */
int client_stream_fd_ok(int fd);

/* Opens a stream to target and waits until the relay acknowledged it.
 * The loop then reads in_fd and writes out_fd (the same descriptor for
 * a socket) through its own duplicates: the caller should close its
 * originals, so that the loop's close is the reader's EOF. Returns the
 * stream, or NULL with *code and err set (the descriptors untouched);
 * *info (may be NULL) as client_dial() fills it. */
BEACON_MUST_USE client_fd_stream_t *
client_dial_fds(beacon_tunnel_t *t, const char *target, int in_fd, int out_fd,
                int timeout_ms, int *code, client_dial_info_t *info,
                beacon_error_t *err);

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
