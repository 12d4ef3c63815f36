/*
 * forward_pool.h - what `beacon forward` shows of its tunnel's relay
 * pool (docs/OPERATIONS.md "Running a relay fleet"): per-relay metric
 * families, the tunnel-up gauge and reconnect counter, and /healthz.
 */
#ifndef BEACON_CLI_FORWARD_POOL_H
#define BEACON_CLI_FORWARD_POOL_H

#include "beacon/beacon.h"

/* Registers the families for tunnel t (after forward_metrics_setup(),
 * before forward_metrics_start()) and makes /healthz follow the pool. */
void forward_pool_metrics_setup(beacon_tunnel_t *t);

#endif
