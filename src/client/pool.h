/*
 * pool.h - the sans-I/O parts of a relay pool (docs/ARCHITECTURE.md
 * "Relay pools"): the "a:8456,b:8456" syntax of one hop, the full-jitter
 * reconnect backoff, and the choice of a member for a new stream. No
 * libuv, no clock, no randomness of its own: callers pass them in.
 */
#ifndef BEACON_CLIENT_POOL_H
#define BEACON_CLIENT_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

/* Alternatives one hop may list. */
#define POOL_MAX_MEMBERS 16

/* Reconnect backoff: full jitter over base * 2^attempt capped at cap; a
 * member that stayed up for reset_ms starts again from attempt 0. */
#define POOL_BACKOFF_BASE_MS 1000
#define POOL_BACKOFF_CAP_MS 30000
#define POOL_BACKOFF_RESET_MS 30000

/* "srv:NAME" in a pool: the members are NAME's DNS SRV records. */
#define POOL_SRV_PREFIX_LEN 4
#define POOL_SRV_NAME_MAX 253

/* 1 when a parsed member is "srv:NAME" (host NAME, port 0). */
static inline int pool_is_srv(const target_t *m)
{
  return m->port == 0;
}

/* Parses "host:port[,host:port...]" (IPv6 in brackets, no spaces) into
 * out[0..cap); a member may be "srv:NAME" instead (pool_is_srv). Returns
 * how many members, or BEACON_EINVAL (malformed, empty member,
 * duplicate), BEACON_ETOOLONG (a member too long) or BEACON_ELIMIT
 * (more than cap). */
int pool_parse(const char *spec, target_t *out, int cap);

/* Delay before reconnect attempt number attempt (0 for the first retry)
 * given a uniform random value r: r mod (min(cap, base << attempt) + 1). */
uint64_t pool_backoff_delay(unsigned attempt, uint64_t base_ms,
                            uint64_t cap_ms, uint32_t r);

/* What the chooser knows of one member. */
typedef struct pool_candidate {
  int usable;       /* up, not draining, not stalled, not excluded */
  uint32_t streams; /* open streams */
  uint64_t rtt_ms;  /* smoothed ping RTT, 0 when unknown */
  /* DNS SRV (RFC 2782): a lower priority is used first; weights share
   * out one priority's streams. 0 and 0 for members not found by SRV. */
  uint16_t priority, weight;
} pool_candidate_t;

/* Round trips below this weigh the same (loopback and LAN jitter must
 * not skew the spread). */
#define POOL_RTT_FLOOR_MS 10

/* Only the usable members of the lowest priority are candidates (a
 * higher priority is used when no member of a lower one is usable).
 * When their weights differ, RFC 2782's weighted choice picks one with
 * r1: weight-0 members first, a running sum, the first whose sum
 * reaches r1 mod (total + 1). Otherwise power of two choices: two
 * distinct candidates picked at random (r1, r2), the one with the lower
 * load (streams + 1) * max(rtt, POOL_RTT_FLOOR_MS) wins, the round
 * trips counting only when one is at least twice the other (a tie goes
 * to the first pick). Returns the index, or -1 when no member is
 * usable. */
int pool_choose(const pool_candidate_t *c, int n, uint32_t r1, uint32_t r2);

/* Fisher-Yates shuffle of order[0..n) with the random source next(ud). */
void pool_shuffle(int *order, int n, uint32_t (*next)(void *ud), void *ud);

#endif
