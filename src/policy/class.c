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
#include "policy/class.h"

#include "policy/own.h"
#include "policy/ranges.h"
#include "policy/rule.h"

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

policy_class_t policy_class_judge(const policy_t *p, int family,
                                  const uint8_t *a, uint16_t port)
{
  const policy_class_range_t *c;
  for(size_t i = 0;
      policy_maybe_in_range(family, a) && (c = policy_class_range(i)) != NULL;
      i++) {
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
