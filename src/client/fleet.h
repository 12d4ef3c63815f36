/*
 * fleet.h - the sans-I/O decisions of fleet discovery
 * (docs/ARCHITECTURE.md "Relay pools", docs/OPERATIONS.md "Fleet
 * discovery"): when a pool name is looked up again, and which members
 * an answer adds and removes. No libuv, no clock, no resolver of its
 * own: fleet_watch.c asks c-ares and passes the answers in.
 *
 * Contract:
 *   - A name is looked up again after its answer's TTL, clamped to
 *     [FLEET_TTL_FLOOR_S, FLEET_TTL_CEILING_S]; a TTL of 0 (the hosts
 *     file gives none) counts as the floor. A lookup that failed is
 *     tried again after FLEET_RETRY_S.
 *   - An answer is compared with the members the name has now, by
 *     address (or SRV target) and port: members the answer still names
 *     stay, with its priority and weight; the others are removed; what
 *     is new is added.
 *   - A failed lookup, or one that names nothing, changes nothing: an
 *     empty pool is never what the operator meant, and a DNS outage
 *     must not take the relays away.
 */
#ifndef BEACON_CLIENT_FLEET_H
#define BEACON_CLIENT_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

#define FLEET_TTL_FLOOR_S 5
#define FLEET_TTL_CEILING_S 300
#define FLEET_RETRY_S 5

/* One member an answer names: an address (A/AAAA) or an SRV target's
 * host name, its port, and the SRV priority and weight (0 for A). */
typedef struct fleet_addr {
  char host[TARGET_MAX_LINE + 1];
  uint16_t port;
  uint16_t priority, weight;
} fleet_addr_t;

/* Milliseconds until the next lookup of a name whose last one gave
 * ttl_s (ok 1) or failed (ok 0), for the bounds floor_s..ceiling_s
 * (FLEET_TTL_FLOOR_S, FLEET_TTL_CEILING_S unless configured). */
uint64_t fleet_next_lookup_ms(int ok, uint32_t ttl_s, uint32_t floor_s,
                              uint32_t ceiling_s);

/* Compares the members a name has (cur[0..ncur)) with an answer
 * (ans[0..nans)). Sets keep[i] to 1 for each current member the answer
 * still names (0: remove it) and fresh[j] to 1 for each answer entry no
 * current member holds (add it). Duplicates in the answer count once.
 * Returns the number of changes (removals plus additions); 0 and
 * every keep[i] 1 when nans is 0. */
int fleet_compare(const fleet_addr_t *cur, int ncur, const fleet_addr_t *ans,
                  int nans, int *keep, int *fresh);

#endif
