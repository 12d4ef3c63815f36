/*
 * forward_metrics.h - the counters of `beacon forward` and its optional
 * /metrics and /healthz endpoint (docs/OPERATIONS.md "Metrics"). The
 * endpoint runs a libuv loop in a thread of its own (the metrics layer is
 * libuv based); connection threads only bump relaxed atomic counters.
 */
#ifndef BEACON_CLI_FORWARD_METRICS_H
#define BEACON_CLI_FORWARD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/outcome.h"
#include "metrics/http.h"
#include "metrics/metrics.h"

/* Labels of beacon_bytes_total. */
enum { DIR_UP = 0, DIR_DOWN };

typedef struct forward_metrics {
  metric_t conns_open, streams_open, streams_total, bytes, dial_failures;
} forward_metrics_t;

/* The process's counters; usable once forward_metrics_setup() ran. */
extern forward_metrics_t forward_metrics;

/* Registers every family (no I/O). */
void forward_metrics_setup(void);

/* Counts a failed dial (or a refusal seen in the grace period) in
 * beacon_dial_failures_total by its outcome's label. */
void forward_metrics_dial_failed(outcome_t o);

/* Sets beacon_forward_cert_expiry_timestamp_seconds from the certificate
 * at path (NULL: the same path again, after a reload). */
void forward_metrics_cert_expiry(const char *path);

/* A monotonic clock in microseconds, to time stream opens. */
uint64_t forward_metrics_now_us(void);
/* Counts one stream open that began at started_us and ended with this
 * outcome in beacon_forward_stream_open_seconds. */
void forward_metrics_stream_open(outcome_t o, uint64_t started_us);

/* Adds a family of another file (the relay pool's, cli/forward_pool.h)
 * after forward_metrics_setup() and before forward_metrics_start(). */
void forward_metrics_register(metric_t *family);
/* What /healthz answers; set before forward_metrics_start(). */
void forward_metrics_set_health(metrics_health_fn fn, void *ud);

/* Binds the endpoint on the calling thread, then serves it from a
 * thread of its own. 0, or an exit code after one line on stderr. */
int forward_metrics_start(const char *addr);

/* Stops the endpoint's thread and closes its loop. */
void forward_metrics_stop(void);

#endif
