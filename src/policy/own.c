/*
 * own.c - the relay's own addresses as a policy class, and the counters of
 * refusals by class: the parts of a policy that change while workers read
 * it.
 *
 * The set is an immutable sorted array behind an atomic pointer. A reader
 * (policy_check, on any worker) marks itself in readers[epoch & 1], loads
 * the pointer, searches and unmarks: two atomic adds, no lock, no
 * allocation. A writer swaps the pointer, then flips the epoch and waits
 * for the old parity's readers to drain, flips back and waits for the
 * other's: every reader that could have loaded the old pointer entered
 * before the swap and is counted in one of the two, and new readers go to
 * the parity not being waited on, so the writer cannot be starved. Then
 * the old array is freed. A reader holds the set for one binary search.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "common/addr.h"
#include "policy/own.h"
#include "policy/ranges.h"

typedef struct own_entry {
  uint8_t family; /* 4 or 6 */
  uint8_t cls;    /* POLICY_CLASS_OWN_ADDRESS or _BROADCAST */
  uint8_t bytes[16];
} own_entry_t;

struct policy_own_set {
  size_t n;
  own_entry_t e[];
};

int policy_env_init(policy_t *p)
{
  /* Its alignment (policy_int.h) is more than malloc promises. */
  p->env = aligned_alloc(_Alignof(policy_env_t), sizeof(policy_env_t));
  if(!p->env)
    return BEACON_ENOMEM;
  memset(p->env, 0, sizeof(*p->env));
  atomic_init(&p->env->own, NULL);
  atomic_flag_clear(&p->env->writing);
  return 0;
}

void policy_env_free(policy_t *p)
{
  if(!p->env)
    return;
  free(atomic_load(&p->env->own));
  free(p->env);
}

/* Orders by family, then address bytes (cls is ignored: one entry per
 * address). */
static int entry_cmp(const void *x, const void *y)
{
  const own_entry_t *a = x, *b = y;
  if(a->family != b->family)
    return a->family < b->family ? -1 : 1;
  return memcmp(a->bytes, b->bytes, 16);
}

policy_class_t policy_own_lookup(const policy_t *p, int family,
                                 const uint8_t *a)
{
  if(!p || !p->env)
    return POLICY_CLASS_NONE;
  policy_env_t *env = p->env;
  /* No set yet: nothing to guard (the pointer is not followed). */
  if(!atomic_load_explicit(&env->own, memory_order_relaxed))
    return POLICY_CLASS_NONE;
  unsigned side = atomic_load(&env->epoch) & 1;
  atomic_fetch_add(&env->readers[side], 1);
  const policy_own_set_t *s = atomic_load(&env->own);
  policy_class_t cls = POLICY_CLASS_NONE;
  own_entry_t key;
  memset(&key, 0, sizeof(key));
  key.family = (uint8_t)family;
  memcpy(key.bytes, a, family == 4 ? 4 : 16);
  /* Binary search, inline: this runs on every check. */
  for(size_t lo = 0, hi = s ? s->n : 0; lo < hi;) {
    size_t mid = lo + (hi - lo) / 2;
    int c = entry_cmp(&key, &s->e[mid]);
    if(!c) {
      cls = (policy_class_t)s->e[mid].cls;
      break;
    }
    if(c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  atomic_fetch_sub(&env->readers[side], 1);
  return cls;
}

/* Builds the sorted, deduplicated set; addresses in another class are
 * left to that class. An address that is both an interface address and
 * a broadcast address stays an own address. */
static policy_own_set_t *build(const policy_own_addr_t *in, size_t n)
{
  policy_own_set_t *s = malloc(sizeof(*s) + (n ? n : 1) * sizeof(own_entry_t));
  if(!s)
    return NULL;
  s->n = 0;
  for(size_t i = 0; i < n; i++) {
    own_entry_t e;
    memset(&e, 0, sizeof(e));
    const uint8_t *b = in[i].addr.bytes;
    int family = in[i].addr.family;
    if(family == 6 && addr_is_mapped(b)) {
      family = 4;
      b += 12;
    } else if(family != 4 && family != 6)
      continue;
    e.family = (uint8_t)family;
    memcpy(e.bytes, b, family == 4 ? 4 : 16);
    if(policy_static_class(family, e.bytes) != POLICY_CLASS_NONE)
      continue;
    e.cls =
        in[i].broadcast ? POLICY_CLASS_BROADCAST : POLICY_CLASS_OWN_ADDRESS;
    s->e[s->n++] = e;
  }
  qsort(s->e, s->n, sizeof(own_entry_t), entry_cmp);
  size_t out = 0;
  for(size_t i = 0; i < s->n; i++) {
    if(out && !entry_cmp(&s->e[out - 1], &s->e[i])) {
      if(s->e[i].cls == POLICY_CLASS_OWN_ADDRESS)
        s->e[out - 1].cls = POLICY_CLASS_OWN_ADDRESS;
      continue;
    }
    s->e[out++] = s->e[i];
  }
  s->n = out;
  return s;
}

static int same_set(const policy_own_set_t *a, const policy_own_set_t *b)
{
  size_t na = a ? a->n : 0, nb = b ? b->n : 0;
  return na == nb && (!na || !memcmp(a->e, b->e, na * sizeof(own_entry_t)));
}

static void wait_readers(policy_env_t *env, unsigned side)
{
  while(atomic_load(&env->readers[side]))
    sched_yield();
}

int policy_set_own(const policy_t *p, const policy_own_addr_t *addrs, size_t n)
{
  if(!p || !p->env || (n && !addrs))
    return BEACON_EINVAL;
  policy_env_t *env = p->env;
  policy_own_set_t *s = build(addrs, n);
  if(!s)
    return BEACON_ENOMEM;
  while(atomic_flag_test_and_set(&env->writing))
    sched_yield();
  policy_own_set_t *old = atomic_load(&env->own);
  int changed = !same_set(old, s);
  if(changed) {
    atomic_store(&env->own, s);
    unsigned e = atomic_load(&env->epoch);
    atomic_store(&env->epoch, e + 1);
    wait_readers(env, e & 1);
    atomic_store(&env->epoch, e + 2);
    wait_readers(env, (e + 1) & 1);
  } else
    old = s; /* keep the published one, free the copy */
  atomic_flag_clear(&env->writing);
  free(old);
  return changed;
}

size_t policy_own_count(const policy_t *p)
{
  if(!p || !p->env)
    return 0;
  /* Read under the same protocol as a check. */
  policy_env_t *env = p->env;
  unsigned side = atomic_load(&env->epoch) & 1;
  atomic_fetch_add(&env->readers[side], 1);
  const policy_own_set_t *s = atomic_load(&env->own);
  size_t n = s ? s->n : 0;
  atomic_fetch_sub(&env->readers[side], 1);
  return n;
}

const atomic_uint_fast64_t *policy_refusals_of(const policy_t *p,
                                               policy_class_t c)
{
  if(!p || !p->env || (unsigned)c >= POLICY_CLASS_COUNT)
    return NULL;
  return &p->env->refusals[c];
}
