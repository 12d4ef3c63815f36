/*
 * policy.h - which destinations the relay may dial (docs/ARCHITECTURE.md "Deny
 * by default"): ordered allow/deny rules `CIDR[:PORT[-PORT]]`, first match
 * wins, then the default (refuse loopback, unspecified, link-local incl.
 * 169.254.169.254, multicast; allow the rest). Checked on the resolved address
 * actually dialled. Sans-I/O: addresses are raw bytes, no socket headers.
 *
 * Rule syntax: 10.0.0.0/8, 10.0.0.0/8:22, 10.0.0.0/8:8000-8999,
 * 192.0.2.7 (a /32), 2001:db8::/32 (no port), [2001:db8::/32]:443,
 * [::1]:22-23. The word "private" stands for the not globally reachable
 * ranges (RFC 1918, 100.64.0.0/10, fc00::/7, ...; list in preset.c).
 *
 * A v4 rule never matches a v6 address, except that an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is checked as IPv4 only, and one that embeds
 * an IPv4 address (NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16,
 * IPv4-compatible ::a.b.c.d) is checked by v6 rules as itself and by v4
 * rules and the default as the IPv4 address it embeds.
 */
#ifndef BEACON_POLICY_H
#define BEACON_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct policy policy_t;

typedef struct policy_addr {
  int family;        /* 4 or 6 */
  uint8_t bytes[16]; /* network order; IPv4 in the first 4 bytes */
} policy_addr_t;

policy_t *policy_new(void);
void policy_free(policy_t *p); /* NULL allowed */

/* Appends a rule. allow = 1 for --allow, 0 for --deny. On a bad rule
 * returns BEACON_EINVAL and writes why into err (may be NULL). */
BEACON_MUST_USE int policy_add(policy_t *p, int allow, const char *rule,
                               char *err, size_t errlen);

/* 1 if the destination may be dialled, 0 if not. *why (may be NULL) is
 * set to a static or rule-owned string naming the deciding rule or default
 * class ("loopback", "link-local", "deny 10.0.0.0/8", ...). */
BEACON_MUST_USE int policy_check(const policy_t *p, const policy_addr_t *addr,
                                 uint16_t port, const char **why);

/* Parses "a.b.c.d" or an IPv6 literal (no brackets) into *out. 0 or
 * BEACON_EINVAL. */
BEACON_MUST_USE int policy_addr_parse(const char *s, policy_addr_t *out);

#endif
