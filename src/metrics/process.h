/*
 * process.h - the conventional process_* metrics of Prometheus client
 * libraries (CPU, resident memory, open and maximum descriptors, start
 * time) and beacon_build_info, read from the kernel at each scrape, for
 * every command that serves /metrics (docs/OPERATIONS.md "Metrics").
 */
#ifndef BEACON_METRICS_PROCESS_H
#define BEACON_METRICS_PROCESS_H

#include "metrics/metrics.h"

/* Registers process_cpu_seconds_total, process_resident_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds and
 * beacon_build_info{version} in reg. The families are the process's own
 * (static): registering them in a second registry shares them. 0 or the
 * error of metrics_register(). */
int metrics_process_register(metrics_registry_t *reg);

#endif
