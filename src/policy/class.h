/* class.h - the default refusal classes and how an --allow lifts them. */
#ifndef BEACON_POLICY_CLASS_H
#define BEACON_POLICY_CLASS_H

#include "policy/policy_int.h"

/* The static class of an address (the first of its classes that no
 * allow rule lifts, specific ones first), own addresses included. */
policy_class_t policy_class_judge(const policy_t *p, int family,
                                  const uint8_t *a, uint16_t port);

#endif
