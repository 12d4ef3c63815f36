/*
 * policy.h - which destinations the relay may dial (docs/ARCHITECTURE.md "Deny
 * by default"). Checked on the resolved address actually dialled, in two
 * steps:
 *
 *  1. The default refusal classes, before any rule: unspecified, loopback,
 *     link-local, metadata (169.254.169.254, fd00:ec2::254,
 *     100.100.100.200), multicast, broadcast (255.255.255.255 and the
 *     directed broadcast of the relay's interfaces) and own_address (the
 *     relay's interface addresses not in another class). An address in a
 *     class is refused unless an --allow rule that matches it (address and
 *     port) names a range inside that class: --allow 127.0.0.0/8 lifts
 *     loopback for 127/8, --allow 0.0.0.0/0:22 lifts nothing. An address
 *     in two classes (169.254.169.254: link-local and metadata) needs both
 *     lifted.
 *  2. The operator's ordered allow/deny rules `CIDR[:PORT[-PORT]]`, first
 *     match wins, then allow.
 *
 * Rule syntax: 10.0.0.0/8, 10.0.0.0/8:22, 10.0.0.0/8:8000-8999,
 * 192.0.2.7 (a /32), 2001:db8::/32 (no port), [2001:db8::/32]:443,
 * [::1]:22-23. The word "private" stands for the not globally reachable
 * ranges (RFC 1918, 100.64.0.0/10, fc00::/7, ...; list in preset.c); it is
 * a set of rules, not a default class.
 *
 * A v4 rule never matches a v6 address, except that an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is checked as IPv4 only, and one that embeds
 * an IPv4 address (NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16,
 * Teredo 2001::/32, IPv4-compatible ::a.b.c.d) is checked by the classes
 * and rules as itself and as the IPv4 address it embeds.
 *
 * Sans-I/O: addresses are raw bytes, no socket headers. The relay's own
 * addresses are given by the caller (policy_set_own), which may replace
 * them at any time while other threads call policy_check.
 */
#ifndef BEACON_POLICY_H
#define BEACON_POLICY_H

#include <stdatomic.h>
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

/* The default refusal classes; names in policy_class_name(). */
typedef enum policy_class {
  POLICY_CLASS_NONE = 0,
  POLICY_CLASS_UNSPECIFIED,
  POLICY_CLASS_LOOPBACK,
  POLICY_CLASS_LINK_LOCAL,
  POLICY_CLASS_METADATA,
  POLICY_CLASS_MULTICAST,
  POLICY_CLASS_BROADCAST,
  POLICY_CLASS_OWN_ADDRESS,
  POLICY_CLASS_COUNT
} policy_class_t;

/* "unspecified", "loopback", "link_local", "metadata", "multicast",
 * "broadcast", "own_address"; "none" for POLICY_CLASS_NONE. */
const char *policy_class_name(policy_class_t c);

/* 1 if the destination may be dialled, 0 if not. *why (may be NULL) is
 * set to a static or rule-owned string naming the deciding class or rule
 * ("loopback", "metadata (embedded IPv4)", "deny 10.0.0.0/8", "default
 * allow", ...). Thread-safe, also against policy_set_own. */
BEACON_MUST_USE int policy_check(const policy_t *p, const policy_addr_t *addr,
                                 uint16_t port, const char **why);

/* The default class that refuses addr at port whatever the rules say
 * after it (one no matching rule lifts), POLICY_CLASS_NONE if none. For an
 * address that embeds an IPv4 one, *embedded (may be NULL) says whether the
 * class is the embedded address's. p may be NULL (no rules, no own
 * addresses). */
policy_class_t policy_default_class(const policy_t *p,
                                    const policy_addr_t *addr, uint16_t port,
                                    int *embedded);

/* One address of the relay itself: an interface address, or (broadcast = 1)
 * the directed broadcast address of an IPv4 interface. */
typedef struct policy_own_addr {
  policy_addr_t addr;
  int broadcast;
} policy_own_addr_t;

/* Replaces the relay's own addresses with a copy of addrs (n may be 0).
 * Addresses already in another class (127.0.0.1, fe80::1, ...) keep that
 * class. The rules are untouched, hence const: the set is the relay's
 * environment, published so that concurrent policy_check calls see either
 * the old set or the new one, never a mix; the old one is freed once no
 * check can still be reading it. Returns 1 if the set changed, 0 if not,
 * BEACON_ENOMEM or BEACON_EINVAL (p NULL). */
BEACON_MUST_USE int policy_set_own(const policy_t *p,
                                   const policy_own_addr_t *addrs, size_t n);

/* How many own addresses are in the set now (for logs and tests). */
size_t policy_own_count(const policy_t *p);

/* The count of checks refused by a default class, for metrics; never
 * NULL for a class below POLICY_CLASS_COUNT and a non-NULL p. */
const atomic_uint_fast64_t *policy_refusals_of(const policy_t *p,
                                               policy_class_t c);

/* Parses "a.b.c.d" or an IPv6 literal (no brackets) into *out. 0 or
 * BEACON_EINVAL. */
BEACON_MUST_USE int policy_addr_parse(const char *s, policy_addr_t *out);

#endif
