/* rule.h - one --allow/--deny rule: parsing, and matching a prefix. */
#ifndef BEACON_POLICY_RULE_H
#define BEACON_POLICY_RULE_H

#include "policy/policy_int.h"

/* Parses one rule's text into *r (why included). 0, or BEACON_EINVAL with
 * the reason in err. */
int policy_rule_parse(policy_rule_t *r, int allow, const char *text, char *err,
                      size_t errlen);

/* 1 if the first `prefix` bits of a and net are equal. */
int policy_prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix);

#endif
