/* policy_int.h - the types the policy files share: a rule, the
 * changing part of a policy, and the policy itself. Types only: each
 * file's functions are in its own header. */
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

/* An immutable set of own addresses, sorted (own.c). */
typedef struct policy_own_set policy_own_set_t;

/* What changes under a const policy: the own-address set, published as
 * an immutable snapshot, and the refusal counters (own.c). */
typedef struct policy_env {
  _Atomic(policy_own_set_t *) own;
  /* Readers in flight, by the parity of `epoch` when they entered: a
   * writer waits for both to drain once after swapping `own`. */
  atomic_uint epoch;
  /* Written by every check: kept off the line of the read-mostly
   * pointer and epoch. */
  _Alignas(64) atomic_long readers[2];
  atomic_flag writing; /* one writer at a time */
  atomic_uint_fast64_t refusals[POLICY_CLASS_COUNT];
} policy_env_t;

struct policy {
  policy_rule_t *rules;
  size_t n;
  size_t cap;
  policy_env_t *env;
};

#endif
