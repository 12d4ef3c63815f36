/*
 * dns_srv.h - a DNS answer to an SRV query, as a sans-I/O parser:
 * c-ares parses the records (ares_parse_srv_reply); this adds the
 * smallest TTL of the answer's SRV records, which c-ares 1.18 does not
 * return, so that the pool knows when to ask again.
 */
#ifndef BEACON_DNS_SRV_H
#define BEACON_DNS_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "dial/resolve_cache.h"

/* SRV records one answer may list: more than a pool holds is useless. */
#define DNS_SRV_MAX 16
#define DNS_TYPE_SRV 33

typedef struct dns_srv {
  char host[RESOLVE_CACHE_MAX_NAME + 1]; /* the target, without its dot */
  uint16_t port, priority, weight;
} dns_srv_t;

/* Parses the answer buf[0..len). 0 with up to cap records in out (*n of
 * them; a target "." meaning "no service" is left out) and *ttl_s the
 * smallest TTL among them; BEACON_ENOTFOUND when it holds no SRV record;
 * BEACON_EINVAL when it is malformed; BEACON_ENOMEM. */
int dns_srv_parse(const uint8_t *buf, size_t len, dns_srv_t *out, size_t cap,
                  size_t *n, uint32_t *ttl_s);

#endif
