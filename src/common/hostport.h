/*
 * hostport.h - the one parser of listen addresses on the command line
 * ("PORT", ":PORT", "HOST:PORT", "[IPV6]:PORT"): the relay's
 * --tunnel-addr, --metrics-addr and forward's front ends. Each caller
 * decides what an empty host means (all addresses, or loopback).
 */
#ifndef BEACON_HOSTPORT_H
#define BEACON_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum {
  HOSTPORT_BARE_PORT = 1 /* "PORT" alone is accepted (empty host) */
};

/* Splits s into host (without brackets; "" when absent) and a port of
 * 0-65535. An IPv6 literal needs brackets. 0 or BEACON_EINVAL. */
BEACON_MUST_USE int hostport_split(const char *s, int flags, char *host,
                                   size_t cap, uint16_t *port);

#endif
