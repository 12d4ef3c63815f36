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

/* Parses one rule's text into *r (why included). 0, or BEACON_EINVAL with
 * the reason in err. */
int policy_rule_parse(policy_rule_t *r, int allow, const char *text, char *err,
                      size_t errlen);

/* 1 and the preset's rules (CIDRs) when name is a preset ("private"),
 * 0 otherwise. */
int policy_preset(const char *name, const char *const **rules, size_t *n);

/* The class of the relay's own address (family 4 or 6, a not mapped),
 * POLICY_CLASS_OWN_ADDRESS or _BROADCAST, or POLICY_CLASS_NONE (own.c). */
policy_class_t policy_own_lookup(const policy_t *p, int family,
                                 const uint8_t *a);
/* Allocates and frees p->env (own.c). */
int policy_env_init(policy_t *p);
void policy_env_free(policy_t *p);

/* The static class of an address (the first of its classes that no
 * allow rule lifts, specific ones first), own addresses included
 * (class.c). */
policy_class_t policy_class_judge(const policy_t *p, int family,
                                  const uint8_t *a, uint16_t port);
/* The class an address is in regardless of rules, own addresses
 * excepted (class.c); used to keep own addresses out of other classes. */
policy_class_t policy_static_class(int family, const uint8_t *a);

/* 1 if the first `prefix` bits of a and net are equal. */
int policy_prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix);

#endif
