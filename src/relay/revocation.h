/*
 * revocation.h - a revocation or an allow-list change reaches live
 * tunnels (revocation.c, docs/SECURITY.md "Revocation"): after a reload
 * every worker verifies its tunnels' controller certificates again,
 * against the new context (CRLs and CA file) and --allow-client, and
 * ends those that no longer pass: Go Away, every stream reset with the
 * beacon/1 reason `revoked`, then the tunnel closes at once.
 */
#ifndef BEACON_RELAY_REVOCATION_H
#define BEACON_RELAY_REVOCATION_H

#include "relay/relay_int.h"

/* Re-checking per loop turn, at most (at least one tunnel): a
 * verification costs a few hundred microseconds (two signatures and the
 * CRL lookup), more on a starved CPU, so a worker with many tunnels goes
 * on in later turns instead of leaving its tunnels' pings unanswered. */
#define RELAY_RECHECK_SLICE_NS (2 * 1000 * 1000)

/* A worker woken by the control loop: re-checks its tunnels when a
 * reload happened since it last did, RELAY_RECHECK_SLICE_NS a turn. */
void relay_worker_recheck(relay_worker_t *w);
/* t is up (its worker's host table, relay_tunnel.c's on_up): re-checked at
 * once when its handshake used the files of before a reload, then its
 * certificate's end is scheduled (relay/tunnel_drain.h). */
void relay_tunnel_live(relay_tunnel_t *t);

#endif
