/*
 * resolve.h - name lookups that cannot be stalled: c-ares on the
 * caller's libuv loop, a lookup budget per caller group, and a shared
 * cache of answers (resolve_cache.h).
 *
 * Contract:
 *   - One c-ares channel per loop, created by the first lookup on that
 *     loop and destroyed (with every query c-ares still holds) on the
 *     loop turn after its last live lookup ended, so an idle loop holds
 *     no resolver handle and can close. Everything runs on the loop's
 *     thread; several loops (threads) may resolve at once.
 *   - A lookup reads the hosts file first, then asks the name servers of
 *     resolv.conf (c-ares lookups "fb"); IP literals never reach here
 *     (dial.c parses them). Each lookup is its own c-ares query: a name
 *     whose servers never answer delays no other name.
 *   - c-ares's own retries are bounded (RESOLVE_TRY_MS per try at most,
 *     RESOLVE_TRIES tries at most; smaller resolv.conf values win), so
 *     a query c-ares still holds ends by itself.
 *   - resolve_cancel(): the callback never runs after it. c-ares 1.18
 *     cannot cancel one query, so the query runs out inside c-ares (or
 *     goes with the channel when no live lookup is left) and its answer
 *     is dropped.
 *   - A group (one per tunnel) caps the lookups c-ares holds for it,
 *     cancelled ones included until c-ares lets them go: over the cap,
 *     resolve_start() fails at once with BEACON_ELIMIT. Cache hits take
 *     no slot, nor do hosts-file names asked for past the cap. A group
 *     is used on one loop only. A loop's channel holds at most
 *     RESOLVE_LOOP_MAX_LOOKUPS lookups whatever their groups: past it,
 *     BEACON_ELIMIT as well.
 *   - Answers and "no such name" are cached process-wide for their TTL
 *     (resolve_cache.h); a hit never touches the network.
 *   - The callback never runs from inside resolve_start().
 */
#ifndef BEACON_RESOLVE_H
#define BEACON_RESOLVE_H

#include <stddef.h>
#include <uv.h>

#include "common/error.h"
#include "dial/dns_srv.h"
#include "dial/resolve_group.h"
#include "dial/resolve_cache.h"

#define RESOLVE_TRY_MS 2000 /* c-ares's first try per server, at most */
#define RESOLVE_TRIES 2     /* tries per server, at most */
#define RESOLVE_CACHE_NAMES 512
/* Lookups one loop's channel may hold: c-ares's query ids are 16 bits
 * and a lookup may use two (A and AAAA), so the id space stays sparse. */
#define RESOLVE_LOOP_MAX_LOOKUPS 4096

typedef struct resolve_query resolve_query_t;

/* status 0: n (>= 1) addresses, valid during the call. Otherwise a
 * BEACON_E* code (BEACON_ENOTFOUND: no such name or no address;
 * BEACON_ETIMEDOUT: no server answered) and a short reason
 * ("resolve: no such name"). */
typedef void (*resolve_cb)(void *ud, int status, const resolve_ip_t *ips,
                           size_t n, const char *why);

/* Starts looking up name (NUL-terminated) on loop; g may be NULL (no
 * cap). 0 with *out set, BEACON_ELIMIT (group full), BEACON_ENOMEM or
 * BEACON_EIO (no channel: resolv.conf unreadable, say). */
BEACON_MUST_USE int resolve_start(uv_loop_t *loop, const char *name,
                                  resolve_group_t *g, resolve_cb cb, void *ud,
                                  resolve_query_t **out);
/* The callback is not called after this (resolve_fresh() too). */
void resolve_cancel(resolve_query_t *q);

/* ---- fleet discovery: fresh answers with their TTL ---- */

enum resolve_kind { RESOLVE_ADDRESSES = 0, RESOLVE_SRV };

/* What resolve_fresh() found: status 0 with ips[0..n) (RESOLVE_ADDRESSES)
 * or srv[0..nsrv) (RESOLVE_SRV) and the smallest TTL of the records (0
 * when none was given: the hosts file); otherwise a BEACON_E* code and
 * why, as for resolve_cb. Valid during the call. */
typedef struct resolve_answer {
  int status;
  const char *why;
  uint32_t ttl_s;
  const resolve_ip_t *ips;
  size_t n;
  const dns_srv_t *srv;
  size_t nsrv;
} resolve_answer_t;
typedef void (*resolve_answer_cb)(void *ud, const resolve_answer_t *a);

/* Asks for name's addresses (hosts file, then DNS) or its SRV records
 * (DNS) on loop's channel, past the cache (its answer is not stored
 * either: a pool that watches its fleet wants the news). No group; the
 * loop's cap holds. Same returns as resolve_start(). */
BEACON_MUST_USE int resolve_fresh(uv_loop_t *loop, const char *name, int kind,
                                  resolve_answer_cb cb, void *ud,
                                  resolve_query_t **out);

#endif
