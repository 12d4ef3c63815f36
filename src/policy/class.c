/*
 * class.c - the default refusal classes (policy.h step 1) and the one way
 * to lift them: an --allow rule that matches the address and names a range
 * inside the class. A broad rule (--allow 0.0.0.0/0:22) never reaches into
 * a class, so the classes hold whatever the operator's other rules say.
 *
 * Decisions:
 *  - Specific classes come first (metadata, broadcast, then the wide
 *    ones), so 169.254.169.254 is named "metadata", and lifting
 *    link-local (--allow 169.254.0.0/16) does not open the metadata
 *    address: that takes a rule inside metadata, 169.254.169.254/32.
 *  - fd00:ec2::254 is a unique local address, private rather than
 *    link-local; it is in the metadata class by name, as is Alibaba
 *    Cloud's 100.100.100.200 (inside the shared 100.64.0.0/10).
 *  - 0.0.0.0/8 is "unspecified": Linux connects 0.0.0.0 to the host.
 */
#include <string.h>

#include "policy/policy_int.h"

typedef struct class_range {
  policy_class_t cls;
  int family;
  uint8_t net[16];
  unsigned prefix;
} class_range_t;

static const class_range_t ranges[] = {
    {POLICY_CLASS_METADATA, 4, {169, 254, 169, 254}, 32},
    {POLICY_CLASS_METADATA, 4, {100, 100, 100, 200}, 32},
    {POLICY_CLASS_METADATA,
     6,
     {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54},
     128},
    {POLICY_CLASS_BROADCAST, 4, {255, 255, 255, 255}, 32},
    {POLICY_CLASS_UNSPECIFIED, 4, {0}, 8},
    {POLICY_CLASS_UNSPECIFIED, 6, {0}, 128},
    {POLICY_CLASS_LOOPBACK, 4, {127}, 8},
    {POLICY_CLASS_LOOPBACK,
     6,
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
     128},
    {POLICY_CLASS_LINK_LOCAL, 4, {169, 254}, 16},
    {POLICY_CLASS_LINK_LOCAL, 6, {0xfe, 0x80}, 10},
    {POLICY_CLASS_MULTICAST, 4, {224}, 4},
    {POLICY_CLASS_MULTICAST, 6, {0xff}, 8},
};
#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

const char *policy_class_name(policy_class_t c)
{
  static const char *const names[POLICY_CLASS_COUNT] = {
      [POLICY_CLASS_NONE] = "none",
      [POLICY_CLASS_UNSPECIFIED] = "unspecified",
      [POLICY_CLASS_LOOPBACK] = "loopback",
      [POLICY_CLASS_LINK_LOCAL] = "link_local",
      [POLICY_CLASS_METADATA] = "metadata",
      [POLICY_CLASS_MULTICAST] = "multicast",
      [POLICY_CLASS_BROADCAST] = "broadcast",
      [POLICY_CLASS_OWN_ADDRESS] = "own_address",
  };
  return (unsigned)c < POLICY_CLASS_COUNT ? names[c] : "none";
}

/* 1 if an allow rule matching (a, port) lies inside net/prefix. */
static int lifted(const policy_t *p, int family, const uint8_t *a,
                  uint16_t port, const uint8_t *net, unsigned prefix)
{
  for(size_t i = 0; p && i < p->n; i++) {
    const policy_rule_t *r = &p->rules[i];
    if(r->allow && r->family == family && port >= r->port_lo &&
       port <= r->port_hi && r->prefix >= prefix &&
       policy_prefix_match(r->net, net, prefix) &&
       policy_prefix_match(a, r->net, r->prefix))
      return 1;
  }
  return 0;
}

/* 0 when a is in none of the ranges above, by its first byte: most
 * destinations are, and this keeps their check to a few compares. */
static int maybe_in_range(int family, const uint8_t *a)
{
  if(family == 4)
    return a[0] == 0 || a[0] == 100 || a[0] == 127 || a[0] == 169 ||
           a[0] >= 224;
  return a[0] == 0 || a[0] == 0xfd || a[0] >= 0xfe;
}

policy_class_t policy_static_class(int family, const uint8_t *a)
{
  if(!maybe_in_range(family, a))
    return POLICY_CLASS_NONE;
  for(size_t i = 0; i < NRANGES; i++)
    if(ranges[i].family == family &&
       policy_prefix_match(a, ranges[i].net, ranges[i].prefix))
      return ranges[i].cls;
  return POLICY_CLASS_NONE;
}

policy_class_t policy_class_judge(const policy_t *p, int family,
                                  const uint8_t *a, uint16_t port)
{
  for(size_t i = 0; maybe_in_range(family, a) && i < NRANGES; i++) {
    const class_range_t *c = &ranges[i];
    if(c->family == family && policy_prefix_match(a, c->net, c->prefix) &&
       !lifted(p, family, a, port, c->net, c->prefix))
      return c->cls;
  }
  /* Own addresses never overlap the ranges above (policy_set_own). */
  policy_class_t own = policy_own_lookup(p, family, a);
  if(own != POLICY_CLASS_NONE &&
     !lifted(p, family, a, port, a, family == 4 ? 32 : 128))
    return own;
  return POLICY_CLASS_NONE;
}
