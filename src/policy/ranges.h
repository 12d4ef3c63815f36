/* ranges.h - the address ranges of the default refusal classes. */
#ifndef BEACON_POLICY_RANGES_H
#define BEACON_POLICY_RANGES_H

#include "policy/policy.h"

typedef struct policy_class_range {
  policy_class_t cls;
  int family;
  uint8_t net[16];
  unsigned prefix;
} policy_class_range_t;

/* The i-th range, specific classes first; NULL past the last. */
const policy_class_range_t *policy_class_range(size_t i);

/* 0 when a is in none of the ranges, by its first byte: most
 * destinations are, and this keeps their check to a few compares. */
int policy_maybe_in_range(int family, const uint8_t *a);

/* The class an address is in regardless of rules, own addresses
 * excepted; used to keep own addresses out of other classes. */
policy_class_t policy_static_class(int family, const uint8_t *a);

#endif
