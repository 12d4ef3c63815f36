/*
 * check.c - the destination policy (docs/ARCHITECTURE.md "Deny by default"):
 * ordered rules, first match wins, then the built-in default that refuses
 * loopback, unspecified, link-local (incl. 169.254.169.254), multicast and the
 * IPv4 broadcast address. An IPv4-mapped IPv6 destination is judged as
 * the IPv4 address it maps to, by the rules and by the default, so
 * ::ffff:127.0.0.1 cannot slip past a refusal of 127.0.0.0/8.
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

int policy_add(policy_t *p, int allow, const char *rule, char *err,
               size_t errlen)
{
  policy_rule_t r;

  if(!p)
    return BEACON_EINVAL;
  if(policy_rule_parse(&r, allow, rule, err, errlen))
    return BEACON_EINVAL;
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
  for(size_t i = 0; p && i < p->n; i++) {
    const policy_rule_t *r = &p->rules[i];
    if(r->family == family && port >= r->port_lo && port <= r->port_hi &&
       policy_prefix_match(a, r->net, r->prefix)) {
      *why = r->why;
      return r->allow;
    }
  }
  refusal = default_refusal(family, a);
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
