/*
 * metrics.h - counters and gauges for the I/O layers, rendered in the
 * Prometheus text exposition format (version 0.0.4), and a tiny HTTP/1.1
 * server that serves them on /metrics with a /healthz beside it.
 *
 * A metric is a family with at most one label whose values are fixed up
 * front (an enum in the caller indexes them), so an update is one relaxed
 * atomic add on a preallocated cell: no lock, no allocation, callable
 * from any thread. Families are usually static or members of a struct
 * that lives as long as the registry:
 *
 *   enum { DIR_UP, DIR_DOWN };
 *   static const char *const dirs[] = {"up", "down"};
 *   metric_t bytes;
 *   metric_init(&bytes, METRIC_COUNTER, "beacon_bytes_total",
 *               "Payload bytes relayed.", "direction", dirs, 2);
 *   metrics_register(&reg, &bytes);
 *   metric_add(&bytes, DIR_UP, n);           // worker thread, hot path
 *
 * A histogram (metric_histogram_t) is a family whose cells are bucket
 * counts and a sum per label value, with bounds fixed up front; an
 * observation is two relaxed atomic adds, no lock.
 *
 * A full example (the relay's metric set) is in docs/OPERATIONS.md.
 */
#ifndef BEACON_METRICS_H
#define BEACON_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_VALUES 16 /* label values per family */
#define METRICS_MAX_FAMILIES 64
#define METRICS_MAX_BUCKETS 16 /* bounds per histogram */

typedef enum metric_type {
  METRIC_COUNTER = 0,  /* only goes up; rendered unsigned */
  METRIC_GAUGE = 1,    /* up, down or set; rendered signed */
  METRIC_HISTOGRAM = 2 /* a metric_histogram_t: metric_histogram_init() */
} metric_type_t;

typedef struct metric metric_t;

struct metric {
  const char *name;
  const char *help;
  const char *label;         /* NULL: one unlabelled cell */
  const char *const *values; /* nvalues label values */
  size_t nvalues;            /* 1 when label is NULL */
  metric_type_t type;
  /* Gauges are stored two's complement, so adding (uint64_t)-1 is a
   * decrement. */
  atomic_uint_least64_t cell[METRICS_MAX_VALUES];
  /* metric_bind(): the cell is read from here instead. */
  const atomic_uint_fast64_t *bound[METRICS_MAX_VALUES];
  /* Set after metric_init() (0 / NULL there): cells hold the value times
   * 10^decimals and render with a decimal point (seconds of CPU in
   * microseconds: 6); collect, when set, refreshes the cells just before
   * each render, on the rendering thread (values read from the OS). */
  unsigned decimals;
  void (*collect)(struct metric *m);
};

/* A histogram family: register &h->base. Bounds and observations are
 * integers in units of 10^-decimals (microseconds for seconds with
 * decimals 6), so the hot path does no floating point. */
typedef struct metric_histogram {
  metric_t base;          /* first: the registry renders it by type */
  const uint64_t *bounds; /* nbounds ascending upper bounds ("le") */
  size_t nbounds;
  /* Observations per bucket, not cumulative; the last one is past every
   * bound (+Inf). _count is their total, so it always agrees with the
   * buckets in one scrape. */
  atomic_uint_least64_t bucket[METRICS_MAX_VALUES][METRICS_MAX_BUCKETS + 1];
  atomic_uint_least64_t sum[METRICS_MAX_VALUES];
} metric_histogram_t;

typedef struct metrics_registry {
  size_t n;
  metric_t *fam[METRICS_MAX_FAMILIES];
} metrics_registry_t;

/* Sets up a family with every cell at 0. name and label must be valid
 * Prometheus names; label NULL means no label (values ignored). The
 * strings are borrowed and must outlive the metric. 0, or BEACON_EINVAL
 * (bad name, bad type, no values) / BEACON_ELIMIT (too many values). */
int metric_init(metric_t *m, metric_type_t type, const char *name,
                const char *help, const char *label, const char *const *values,
                size_t nvalues);

/* Lock-free updates from any thread (relaxed ordering: a scrape sees
 * each cell's latest value, not a consistent snapshot across cells).
 * An out-of-range idx is ignored. */
void metric_add(metric_t *m, size_t idx, uint64_t n);
void metric_inc(metric_t *m, size_t idx);
void metric_dec(metric_t *m, size_t idx);            /* gauges */
void metric_set(metric_t *m, size_t idx, int64_t v); /* gauges */
uint64_t metric_get(const metric_t *m, size_t idx);

/* Makes cell idx show an atomic counter the caller already maintains
 * (read with a relaxed load at each render), so a layer with its own
 * counters exports them without touching its hot path. src must outlive
 * the metric. BEACON_EINVAL for a bad idx. Call before rendering starts;
 * metric_add/set on a bound cell have no visible effect. */
int metric_bind(metric_t *m, size_t idx, const atomic_uint_fast64_t *src);

/* Sets up a histogram like metric_init() does a counter; bounds (borrowed)
 * must ascend strictly. 0, BEACON_EINVAL or BEACON_ELIMIT (over
 * METRICS_MAX_BUCKETS bounds or METRICS_MAX_VALUES values). */
int metric_histogram_init(metric_histogram_t *h, const char *name,
                          const char *help, const char *label,
                          const char *const *values, size_t nvalues,
                          const uint64_t *bounds, size_t nbounds,
                          unsigned decimals);
/* Counts one observation v (in units of 10^-decimals) for label value
 * idx; lock-free from any thread. An out-of-range idx is ignored. */
void metric_observe(metric_histogram_t *h, size_t idx, uint64_t v);
/* The observations so far for idx (the rendered _count). */
uint64_t metric_histogram_count(const metric_histogram_t *h, size_t idx);

void metrics_registry_init(metrics_registry_t *r);
/* Adds a family; rendering follows registration order. Not thread-safe:
 * register everything before the workers start. 0, BEACON_EINVAL (name
 * already registered) or BEACON_ELIMIT. */
int metrics_register(metrics_registry_t *r, metric_t *m);

/* Renders every family (HELP, TYPE, one line per cell) into buf, NUL-
 * terminated when cap > 0. Returns the full length like snprintf: when
 * it is >= cap the output was truncated and the caller retries with a
 * larger buffer. Safe while other threads update. */
size_t metrics_render(const metrics_registry_t *r, char *buf, size_t cap);

/* Seconds since the epoch (CLOCK_REALTIME), for the conventional
 * process_start_time_seconds gauge and certificate expiry gauges. */
int64_t metrics_now_unix(void);

#endif
