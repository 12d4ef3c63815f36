/*
 * recheck.h - the control loop's side of re-checking live tunnels
 * (recheck.c): after a reload (and once at start) it publishes what the
 * new TLS material says about time, and asks every worker to verify its
 * tunnels again (relay/revocation.h does that on each worker).
 */
#ifndef BEACON_RELAY_RECHECK_H
#define BEACON_RELAY_RECHECK_H

#include "relay/relay_int.h"

/* The metric families of certificate lifetimes, then a first
 * relay_recheck_tunnels() (relay_new, once). */
void relay_recheck_init(relay_t *r);
/* The control loop, after a reload swapped r->ctx in: the relay
 * certificate's notAfter (every tunnel's deadline, relay/cert_deadline.h),
 * the gauges, and a wake-up for every worker to re-check its tunnels. */
void relay_recheck_tunnels(relay_t *r);

#endif
