/*
 * check.c - the destination policy (policy.h, docs/ARCHITECTURE.md "Deny by
 * default"): first the default refusal classes (class.c), which only a rule
 * inside a class lifts, then the operator's rules in order, first match
 * wins, then allow. An IPv4-mapped IPv6 destination is judged as the IPv4
 * address it maps to, by the classes and by the rules, so ::ffff:127.0.0.1
 * cannot slip past a refusal of 127.0.0.0/8.
 *
 * IPv6 addresses that carry an IPv4 address a gateway forwards to (NAT64,
 * 6to4, Teredo, IPv4-compatible) are judged as both, always: IPv6 rules
 * and classes see the IPv6 address, IPv4 rules and classes the IPv4
 * address it embeds, so 64:ff9b::a9fe:a9fe (169.254.169.254 behind a
 * NAT64 gateway) is refused like the metadata address itself, even under
 * --allow 64:ff9b::/96.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "common/addr.h"
#include "policy/class.h"
#include "policy/own.h"
#include "policy/policy_int.h"
#include "policy/preset.h"
#include "policy/rule.h"

policy_t *policy_new(void)
{
  policy_t *p = calloc(1, sizeof(policy_t));
  if(p && policy_env_init(p)) {
    free(p);
    return NULL;
  }
  return p;
}

void policy_free(policy_t *p)
{
  if(!p)
    return;
  policy_env_free(p);
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

/* The IPv4 address an IPv6 destination embeds, into v4; 0 if none:
 *  - NAT64, the well-known 64:ff9b::/96 (RFC 6052) and the local-use
 *    64:ff9b:1::/48 (RFC 8215) in its /96 layout, the one NAT64 gateways
 *    use by default: the last 32 bits;
 *  - 6to4, 2002::/16 (RFC 3056): bits 16..47;
 *  - Teredo, 2001::/32 (RFC 4380): the client's public address, the last
 *    32 bits inverted, where a Teredo relay sends the packets;
 *  - IPv4-compatible ::a.b.c.d (RFC 4291, deprecated), except :: and ::1.
 * Mapped addresses (::ffff:0:0/96) are handled apart: they are IPv4. */
static int embedded_v4(const uint8_t *a, uint8_t v4[4])
{
  static const uint8_t zero[12];
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
  static const uint8_t nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
  static const uint8_t teredo[4] = {0x20, 0x01, 0, 0};
  if(!memcmp(a, nat64, 12) || !memcmp(a, nat64_local, 6) ||
     (!memcmp(a, zero, 12) && (a[12] | a[13] | a[14] || a[15] > 1)))
    memcpy(v4, a + 12, 4);
  else if(a[0] == 0x20 && a[1] == 0x02)
    memcpy(v4, a + 2, 4);
  else if(!memcmp(a, teredo, 4))
    for(int i = 0; i < 4; i++)
      v4[i] = (uint8_t)~a[12 + i];
  else
    return 0;
  return 1;
}

/* The address as the socket dials it: mapped IPv6 is IPv4. */
typedef struct judged {
  int family;
  const uint8_t *a;
  int has_v4; /* an IPv6 address that embeds v4 */
  uint8_t v4[4];
} judged_t;

static void judged_init(judged_t *j, const policy_addr_t *addr)
{
  j->family = addr->family;
  j->a = addr->bytes;
  if(j->family == 6 && addr_is_mapped(j->a)) {
    j->family = 4;
    j->a += 12;
  }
  j->has_v4 = j->family == 6 && embedded_v4(j->a, j->v4);
}

static policy_class_t judge_classes(const policy_t *p, const judged_t *j,
                                    uint16_t port, int *embedded)
{
  policy_class_t c = policy_class_judge(p, j->family, j->a, port);
  *embedded = 0;
  if(c == POLICY_CLASS_NONE && j->has_v4) {
    c = policy_class_judge(p, 4, j->v4, port);
    *embedded = c != POLICY_CLASS_NONE;
  }
  return c;
}

policy_class_t policy_default_class(const policy_t *p,
                                    const policy_addr_t *addr, uint16_t port,
                                    int *embedded)
{
  judged_t j;
  int dummy;
  if(!addr || (addr->family != 4 && addr->family != 6))
    return POLICY_CLASS_NONE;
  judged_init(&j, addr);
  return judge_classes(p, &j, port, embedded ? embedded : &dummy);
}

/* The reason a class gives, worded so the log says how the address got
 * there. */
static const char *class_why(policy_class_t c, int embedded)
{
  static const char *const via[POLICY_CLASS_COUNT] = {
      [POLICY_CLASS_UNSPECIFIED] = "unspecified (embedded IPv4)",
      [POLICY_CLASS_LOOPBACK] = "loopback (embedded IPv4)",
      [POLICY_CLASS_LINK_LOCAL] = "link_local (embedded IPv4)",
      [POLICY_CLASS_METADATA] = "metadata (embedded IPv4)",
      [POLICY_CLASS_MULTICAST] = "multicast (embedded IPv4)",
      [POLICY_CLASS_BROADCAST] = "broadcast (embedded IPv4)",
      [POLICY_CLASS_OWN_ADDRESS] = "own_address (embedded IPv4)",
  };
  return embedded ? via[c] : policy_class_name(c);
}

int policy_check(const policy_t *p, const policy_addr_t *addr, uint16_t port,
                 const char **why)
{
  const char *dummy;
  judged_t j;
  int embedded;

  if(!why)
    why = &dummy;
  if(!addr || (addr->family != 4 && addr->family != 6)) {
    *why = "bad address family";
    return 0;
  }
  judged_init(&j, addr);
  policy_class_t c = judge_classes(p, &j, port, &embedded);
  if(c != POLICY_CLASS_NONE) {
    if(p && p->env)
      atomic_fetch_add_explicit(&p->env->refusals[c], 1, memory_order_relaxed);
    *why = class_why(c, embedded);
    return 0;
  }
  for(size_t i = 0; p && i < p->n; i++) {
    const policy_rule_t *r = &p->rules[i];
    if(port < r->port_lo || port > r->port_hi)
      continue;
    if((r->family == j.family &&
        policy_prefix_match(j.a, r->net, r->prefix)) ||
       (j.has_v4 && r->family == 4 &&
        policy_prefix_match(j.v4, r->net, r->prefix))) {
      *why = r->why;
      return r->allow;
    }
  }
  *why = "default allow";
  return 1;
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
