/*
 * forward_copy.h - the copy engine of `beacon forward`'s SOCKS and HTTP
 * CONNECT connections: poll(2) on two sockets, copying both ways with
 * half-close (an EOF on one side becomes a shutdown of the other's write
 * side) until both directions ended. (-L connections are pumped by the
 * tunnel's loop instead.)
 */
#ifndef BEACON_CLI_FORWARD_COPY_H
#define BEACON_CLI_FORWARD_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "common/outcome.h"
#include "metrics/metrics.h"

#define COPY_BUF (64 * 1024)

/* One direction. */
typedef struct half {
  uint8_t buf[COPY_BUF];
  size_t off, len;
  int eof, done;
  metric_t *counter; /* bytes written are added here, label dir; or NULL */
  size_t dir;
  uint64_t bytes; /* written so far */
} half_t;

/* Copies a <-> b (ab: a to b, ba: b to a) until both directions ended. A
 * reset on one side is passed on as a reset on the other. Returns the
 * outcome: OUTCOME_OK, OUTCOME_RESET_BY_CLIENT (a reset),
 * OUTCOME_RESET_BY_TARGET (b reset) or OUTCOME_LOCAL_ERROR. */
outcome_t forward_copy_both(int a, int b, half_t *ab, half_t *ba);

#endif
