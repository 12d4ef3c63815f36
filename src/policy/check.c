/*
 * check.c - the destination policy (docs/ARCHITECTURE.md "Deny by default"):
 * ordered rules, first match wins, then the built-in default that refuses
 * loopback, unspecified, link-local (incl. 169.254.169.254), multicast and the
 * IPv4 broadcast address. An IPv4-mapped IPv6 destination is judged as
 * the IPv4 address it maps to, by the rules and by the default, so
 * ::ffff:127.0.0.1 cannot slip past a refusal of 127.0.0.0/8.
 *
 * IPv6 addresses that carry an IPv4 address a gateway forwards to (NAT64,
 * 6to4, IPv4-compatible) are judged as both: IPv6 rules see the IPv6
 * address, IPv4 rules and the default see the IPv4 address it embeds, so
 * 64:ff9b::a9fe:a9fe (169.254.169.254 behind a NAT64 gateway) is refused
 * like the metadata address itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "common/addr.h"
#include "policy/policy_int.h"

policy_t *policy_new(void)
{
  return calloc(1, sizeof(policy_t));
}

void policy_free(policy_t *p)
{
  if(!p)
    return;
  free(p->rules);
  free(p);
}

static int add_one(policy_t *p, int allow, const char *rule,
                   const char *preset, char *err, size_t errlen)
{
  policy_rule_t r;

  if(policy_rule_parse(&r, allow, rule, err, errlen))
    return BEACON_EINVAL;
  if(preset) /* the log names the word the operator wrote */
    snprintf(r.why, sizeof(r.why), "%s %s (%s)", allow ? "allow" : "deny",
             preset, rule);
  if(p->n == POLICY_MAX_RULES) {
    if(err && errlen)
      snprintf(err, errlen, "too many rules (at most %d)", POLICY_MAX_RULES);
    return BEACON_EINVAL;
  }
  if(p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 8;
    policy_rule_t *n = realloc(p->rules, cap * sizeof(*n));
    if(!n)
      return BEACON_ENOMEM;
    p->rules = n;
    p->cap = cap;
  }
  p->rules[p->n++] = r;
  return 0;
}

int policy_add(policy_t *p, int allow, const char *rule, char *err,
               size_t errlen)
{
  const char *const *set;
  size_t n;

  if(!p)
    return BEACON_EINVAL;
  if(!rule || !policy_preset(rule, &set, &n))
    return add_one(p, allow, rule, NULL, err, errlen);
  for(size_t i = 0; i < n; i++) {
    int rc = add_one(p, allow, set[i], rule, err, errlen);
    if(rc)
      return rc;
  }
  return 0;
}

int policy_prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
  unsigned whole = prefix / 8, rest = prefix % 8;
  if(memcmp(a, net, whole))
    return 0;
  if(rest) {
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    if((a[whole] & mask) != (net[whole] & mask))
      return 0;
  }
  return 1;
}

/* The IPv4 address an IPv6 destination embeds, NULL if none:
 *  - NAT64, the well-known 64:ff9b::/96 (RFC 6052) and the local-use
 *    64:ff9b:1::/48 (RFC 8215) in its /96 layout, the one NAT64 gateways
 *    use by default: the last 32 bits;
 *  - 6to4, 2002::/16 (RFC 3056): bits 16..47;
 *  - IPv4-compatible ::a.b.c.d (RFC 4291, deprecated), except :: and ::1.
 * Mapped addresses (::ffff:0:0/96) are handled apart: they are IPv4. */
static const uint8_t *embedded_v4(const uint8_t *a)
{
  static const uint8_t zero[12];
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
  static const uint8_t nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
  if(!memcmp(a, nat64, 12) || !memcmp(a, nat64_local, 6))
    return a + 12;
  if(a[0] == 0x20 && a[1] == 0x02)
    return a + 2;
  if(!memcmp(a, zero, 12) && (a[12] | a[13] | a[14] || a[15] > 1))
    return a + 12;
  return NULL;
}

/* The default's refusal class for an address, NULL if it is allowed. */
static const char *default_refusal(int family, const uint8_t *a)
{
  static const uint8_t zero[16];
  if(family == 4) {
    if(a[0] == 0)
      return "unspecified";
    if(a[0] == 127)
      return "loopback";
    if(a[0] == 169 && a[1] == 254)
      return "link-local";
    if((a[0] & 0xf0) == 224)
      return "multicast";
    if(a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
      return "broadcast";
    return NULL;
  }
  if(!memcmp(a, zero, 16))
    return "unspecified";
  if(!memcmp(a, zero, 15) && a[15] == 1)
    return "loopback";
  if(a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
    return "link-local";
  if(a[0] == 0xff)
    return "multicast";
  return NULL;
}

/* The default's class for the IPv4 address inside an IPv6 one, worded
 * so the log says how the address got there. */
static const char *embedded_refusal(const uint8_t *v4)
{
  static const struct {
    const char *plain, *embedded;
  } names[] = {
      {"unspecified", "unspecified (embedded IPv4)"},
      {"loopback", "loopback (embedded IPv4)"},
      {"link-local", "link-local (embedded IPv4)"},
      {"multicast", "multicast (embedded IPv4)"},
      {"broadcast", "broadcast (embedded IPv4)"},
  };
  const char *r = default_refusal(4, v4);
  for(size_t i = 0; r && i < sizeof(names) / sizeof(names[0]); i++)
    if(!strcmp(r, names[i].plain))
      return names[i].embedded;
  return r;
}

int policy_check(const policy_t *p, const policy_addr_t *addr, uint16_t port,
                 const char **why)
{
  const char *dummy;
  const uint8_t *a;
  int family;
  const char *refusal;

  if(!why)
    why = &dummy;
  if(!addr || (addr->family != 4 && addr->family != 6)) {
    *why = "bad address family";
    return 0;
  }
  family = addr->family;
  a = addr->bytes;
  if(family == 6 && addr_is_mapped(a)) {
    family = 4;
    a += 12;
  }
  const uint8_t *v4 = family == 6 ? embedded_v4(a) : NULL;
  for(size_t i = 0; p && i < p->n; i++) {
    const policy_rule_t *r = &p->rules[i];
    if(port < r->port_lo || port > r->port_hi)
      continue;
    if((r->family == family && policy_prefix_match(a, r->net, r->prefix)) ||
       (v4 && r->family == 4 && policy_prefix_match(v4, r->net, r->prefix))) {
      *why = r->why;
      return r->allow;
    }
  }
  refusal = default_refusal(family, a);
  if(!refusal && v4)
    refusal = embedded_refusal(v4);
  *why = refusal ? refusal : "default allow";
  return !refusal;
}

int policy_addr_parse(const char *s, policy_addr_t *out)
{
  policy_addr_t a;
  size_t len;

  if(!s || !out)
    return BEACON_EINVAL;
  len = strlen(s);
  memset(&a, 0, sizeof(a));
  if(!addr_parse4(s, len, a.bytes))
    a.family = 4;
  else if(!addr_parse6(s, len, a.bytes))
    a.family = 6;
  else
    return BEACON_EINVAL;
  *out = a;
  return 0;
}
