/* policy_int.h - the rule representation shared by rule.c and check.c. */
#ifndef BEACON_POLICY_INT_H
#define BEACON_POLICY_INT_H

#include "policy/policy.h"

#define POLICY_RULE_MAX 80    /* longest rule text accepted */
#define POLICY_MAX_RULES 4096 /* bound on --allow/--deny rules */

typedef struct policy_rule {
  int allow;
  int family;      /* 4 or 6; an IPv4-mapped v6 rule is stored as v4 */
  uint8_t net[16]; /* network order, host bits zero */
  unsigned prefix; /* 0..32 or 0..128 */
  uint16_t port_lo;
  uint16_t port_hi;              /* 0..65535 when no port was given */
  char why[POLICY_RULE_MAX + 8]; /* "allow RULE" / "deny RULE" */
} policy_rule_t;

struct policy {
  policy_rule_t *rules;
  size_t n;
  size_t cap;
};

/* Parses one rule's text into *r (why included). 0, or BEACON_EINVAL with
 * the reason in err. */
int policy_rule_parse(policy_rule_t *r, int allow, const char *text, char *err,
                      size_t errlen);

/* 1 and the preset's rules (CIDRs) when name is a preset ("private"),
 * 0 otherwise. */
int policy_preset(const char *name, const char *const **rules, size_t *n);

/* 1 if the first `prefix` bits of a and net are equal. */
int policy_prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix);

#endif
