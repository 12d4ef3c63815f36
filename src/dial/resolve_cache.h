/*
 * resolve_cache.h - a small cache of name lookups, positive and
 * negative, as a sans-I/O core: names and answers in, answers out, the
 * caller's clock (milliseconds, any monotonic origin) on every call.
 *
 * Contract:
 *   - An answer is kept for its TTL (the smallest TTL of the records
 *     the resolver returned), at most RESOLVE_CACHE_MAX_TTL_MS; a TTL of
 *     0 is not kept. A negative answer ("no such name", "no address")
 *     is kept for RESOLVE_CACHE_NEGATIVE_TTL_MS. Failures that say
 *     nothing about the name (timeouts, server failures) are never kept.
 *   - Names match without regard to ASCII case; names longer than
 *     RESOLVE_CACHE_MAX_NAME bytes are never kept.
 *   - The cache holds at most `capacity` names and never allocates
 *     after resolve_cache_new(): when full, an expired entry is replaced
 *     first, otherwise the one that would expire soonest.
 *   - It does no locking: a cache shared by threads is the caller's to
 *     guard.
 */
#ifndef BEACON_RESOLVE_CACHE_H
#define BEACON_RESOLVE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define RESOLVE_CACHE_MAX_NAME 253 /* a DNS name without its final dot */
#define RESOLVE_CACHE_MAX_ADDRS 16
#define RESOLVE_CACHE_MAX_TTL_MS (300u * 1000u)
#define RESOLVE_CACHE_NEGATIVE_TTL_MS (5u * 1000u)

/* One address without a port: family AF_INET (4 bytes used) or
 * AF_INET6 (16). */
typedef struct resolve_ip {
  int family;
  uint8_t addr[16];
} resolve_ip_t;

typedef struct resolve_cache resolve_cache_t;

/* NULL on out of memory or capacity 0. */
BEACON_MUST_USE resolve_cache_t *resolve_cache_new(size_t capacity);
void resolve_cache_free(resolve_cache_t *c);

/* Keeps n addresses (at most RESOLVE_CACHE_MAX_ADDRS are kept) for
 * ttl_ms. 1 when kept, 0 when not (TTL 0, n 0, name too long). */
int resolve_cache_put(resolve_cache_t *c, const char *name, uint64_t now_ms,
                      uint64_t ttl_ms, const resolve_ip_t *ips, size_t n);
/* Keeps "no such name" (status, a BEACON_E* code) for the negative TTL.
 * 1 when kept, 0 when not. */
int resolve_cache_put_negative(resolve_cache_t *c, const char *name,
                               uint64_t now_ms, int status);

/* 0 on a miss. On a hit 1, with either *n addresses copied into ips
 * (cap of them at most) and *status 0, or *n 0 and *status the
 * negative answer's code. */
int resolve_cache_get(resolve_cache_t *c, const char *name, uint64_t now_ms,
                      resolve_ip_t *ips, size_t cap, size_t *n, int *status);

/* Names held and not expired at now_ms (tests, metrics). */
size_t resolve_cache_count(const resolve_cache_t *c, uint64_t now_ms);

#endif
