/*
 * preset.c - named sets of rules (`--deny private`): one word for ranges
 * operators otherwise spell out, and get wrong, by hand.
 *
 * "private" is every unicast range the IANA special-purpose registries
 * mark as not globally reachable, less the ones the default already
 * refuses (loopback, unspecified, link-local, multicast, broadcast):
 * private use (RFC 1918), shared address space (RFC 6598), IETF protocol
 * assignments, documentation, benchmarking, the reserved 240.0.0.0/4,
 * unique local and site-local IPv6, discard-only and the IPv6
 * documentation and benchmarking prefixes.
 */
#include <stddef.h>
#include <string.h>

#include "policy/preset.h"

static const char *const private_ranges[] = {
    "10.0.0.0/8",     "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
    "192.0.0.0/24",   "192.0.2.0/24",  "198.18.0.0/15",  "198.51.100.0/24",
    "203.0.113.0/24", "240.0.0.0/4",   "fc00::/7",       "fec0::/10",
    "100::/64",       "2001:db8::/32", "2001:2::/48",
};

int policy_preset(const char *name, const char *const **rules, size_t *n)
{
  if(!strcmp(name, "private")) {
    *rules = private_ranges;
    *n = sizeof(private_ranges) / sizeof(private_ranges[0]);
    return 1;
  }
  return 0;
}
