/* own.h - the relay's own addresses as a class, and the refusal counters. */
#ifndef BEACON_POLICY_OWN_H
#define BEACON_POLICY_OWN_H

#include "policy/policy_int.h"

/* The class of the relay's own address (family 4 or 6, a not mapped),
 * POLICY_CLASS_OWN_ADDRESS or _BROADCAST, or POLICY_CLASS_NONE. */
policy_class_t policy_own_lookup(const policy_t *p, int family,
                                 const uint8_t *a);

/* Allocates and frees p->env. */
int policy_env_init(policy_t *p);
void policy_env_free(policy_t *p);

#endif
