/*
 * connect_seconds.h - the buckets of the connect-time histograms both
 * sides export (docs/OPERATIONS.md "Metrics"); their `outcome` label is
 * common/outcome.h's, so a dashboard reads the same word on both sides.
 */
#ifndef BEACON_METRICS_CONNECT_SECONDS_H
#define BEACON_METRICS_CONNECT_SECONDS_H

#include <stddef.h>
#include <stdint.h>

/* The usual latency bounds of a connect, in microseconds (0.5 ms to
 * 10 s), for histograms with 6 decimals. */
extern const uint64_t connect_seconds_bounds_us[];
extern const size_t connect_seconds_nbounds;

#endif
