/*
 * outcome.h - one naming of how a connect ended, shared by the relay's
 * and beacon forward's metric labels (docs/OPERATIONS.md "Metrics"), so a
 * dashboard reads the same word on both sides.
 */
#ifndef BEACON_METRICS_OUTCOME_H
#define BEACON_METRICS_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

enum connect_outcome {
  OUTCOME_OK = 0,
  OUTCOME_REFUSED,     /* the target refused (or, behind a Go relay, reset) */
  OUTCOME_NOT_FOUND,   /* the name did not resolve */
  OUTCOME_UNREACHABLE, /* no route to the target */
  OUTCOME_TIMEOUT,     /* the connect timed out */
  OUTCOME_POLICY,      /* the relay's destination policy refused it */
  OUTCOME_OTHER,       /* any other failure */
  OUTCOME_TUNNEL,      /* forward only: no tunnel to the relay */
  OUTCOME_COUNT
};

/* "ok", "refused", "not_found", "unreachable", "timeout", "policy",
 * "other", "tunnel": index by enum connect_outcome. The relay labels
 * with the first OUTCOME_TUNNEL of them. */
extern const char *const connect_outcome_names[OUTCOME_COUNT];

/* The outcome of a connect that returned err (0 or a BEACON_E* code). */
size_t connect_outcome_of(int err);

/* The usual latency bounds of a connect, in microseconds (0.5 ms to
 * 10 s), for histograms with 6 decimals. */
extern const uint64_t connect_seconds_bounds_us[];
extern const size_t connect_seconds_nbounds;

#endif
