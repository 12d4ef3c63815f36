/*
 * admission.c - the pre-authentication budget (admission.h): a counter,
 * a per-source table and the early-drop and deadline curves.
 *
 * The table is open addressing with linear probing, sized for twice
 * `full` sources (there are never more than `full` in it), so it never
 * grows and never fills. Its hash is keyed with a random seed so that
 * nobody can choose sources that collide.
 */
#include "relay/admission.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
  admission_source_t src;
  uint32_t count; /* 0 = free */
} slot_t;

struct admission {
  admission_config_t cfg;
  admission_random_fn random;
  void *random_ud;
  uint64_t seed;
  uint32_t in_progress;
  size_t mask; /* table size - 1 */
  slot_t *table;
  struct {
    uint64_t held;    /* refusals since the last line */
    uint64_t last_ms; /* when the last line was written */
    int logged;       /* a line was ever written */
  } log[ADMISSION_NVERDICTS];
};

static const char *const verdict_names[ADMISSION_NVERDICTS] = {
    "ok", "max_handshakes", "per_source", "early_drop", "evicted"};

const char *admission_verdict_name(enum admission_verdict v)
{
  return (unsigned)v < ADMISSION_NVERDICTS ? verdict_names[v] : "?";
}

int admission_source_of(const struct sockaddr *sa, admission_source_t *out)
{
  memset(out, 0, sizeof(*out));
  if(sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    out->key[0] = 4;
    memcpy(out->key + 1, &in->sin_addr, 4);
    return 0;
  }
  if(sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    const uint8_t *b = in6->sin6_addr.s6_addr;
    if(IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      /* A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d. */
      out->key[0] = 4;
      memcpy(out->key + 1, b + 12, 4);
    } else {
      out->key[0] = 6; /* one end site: its /64 */
      memcpy(out->key + 1, b, 8);
    }
    return 0;
  }
  return -1;
}

admission_t *admission_new(const admission_config_t *cfg,
                           admission_random_fn random, void *random_ud)
{
  if(!cfg || !random || !cfg->full || cfg->start > cfg->full ||
     cfg->rate > 100 || cfg->floor_ms > cfg->timeout_ms)
    return NULL;
  admission_t *a = calloc(1, sizeof(*a));
  if(!a)
    return NULL;
  size_t size = 16;
  while(size < 2 * (size_t)cfg->full)
    size *= 2;
  a->table = calloc(size, sizeof(*a->table));
  if(!a->table) {
    free(a);
    return NULL;
  }
  a->mask = size - 1;
  a->cfg = *cfg;
  a->random = random;
  a->random_ud = random_ud;
  a->seed = ((uint64_t)random(random_ud) << 32) | random(random_ud);
  return a;
}

void admission_free(admission_t *a)
{
  if(!a)
    return;
  free(a->table);
  free(a);
}

static size_t hash_of(const admission_t *a, const admission_source_t *src)
{
  uint64_t h = a->seed ^ 0x9e3779b97f4a7c15ull;
  for(size_t i = 0; i < sizeof(src->key); i++) {
    h ^= src->key[i];
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  h ^= h >> 32;
  return (size_t)h & a->mask;
}

/* The slot holding src, or the free slot where it would go. */
static size_t find(const admission_t *a, const admission_source_t *src)
{
  size_t i = hash_of(a, src);
  while(a->table[i].count &&
        memcmp(a->table[i].src.key, src->key, sizeof(src->key)))
    i = (i + 1) & a->mask;
  return i;
}

/* Empties slot i and moves later entries of its probe run back, so that
 * every entry stays reachable from its home slot without tombstones. */
static void remove_at(admission_t *a, size_t i)
{
  size_t j = i;
  a->table[i].count = 0;
  for(;;) {
    j = (j + 1) & a->mask;
    if(!a->table[j].count)
      return;
    size_t home = hash_of(a, &a->table[j].src);
    /* Entry j may fill hole i unless its home lies cyclically in (i, j]. */
    int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if(stays)
      continue;
    a->table[i] = a->table[j];
    a->table[j].count = 0;
    i = j;
  }
}

uint64_t admission_deadline(const admission_t *a, uint32_t in_progress)
{
  const admission_config_t *c = &a->cfg;
  if(in_progress <= c->start || c->full == c->start)
    return in_progress < c->full ? c->timeout_ms : c->floor_ms;
  if(in_progress >= c->full)
    return c->floor_ms;
  uint64_t span = c->timeout_ms - c->floor_ms;
  uint64_t over = in_progress - c->start, width = c->full - c->start;
  return c->timeout_ms - span * over / width;
}

/* Random early drop between start and full, as OpenSSH's MaxStartups:
 * rate % at start, rising linearly to 100 % at full. */
static int early_drop(admission_t *a)
{
  const admission_config_t *c = &a->cfg;
  if(a->in_progress < c->start)
    return 0;
  uint64_t width = c->full - c->start; /* > 0: full is refused before */
  uint64_t over = a->in_progress - c->start;
  /* in 1/(100 * width) units, so no precision is lost */
  uint64_t p = (uint64_t)c->rate * width + (100 - c->rate) * over;
  uint64_t roll = (uint64_t)a->random(a->random_ud) % (100 * width);
  return roll < p;
}

static enum admission_verdict enter(admission_t *a,
                                    const admission_source_t *src,
                                    uint64_t *deadline_ms, int may_drop)
{
  if(a->in_progress >= a->cfg.full)
    return ADMISSION_FULL;
  size_t i = find(a, src);
  if(a->cfg.per_source && a->table[i].count >= a->cfg.per_source)
    return ADMISSION_PER_SOURCE;
  if(may_drop && early_drop(a))
    return ADMISSION_EARLY_DROP;
  if(deadline_ms)
    *deadline_ms = admission_deadline(a, a->in_progress);
  if(!a->table[i].count)
    a->table[i].src = *src;
  a->table[i].count++;
  a->in_progress++;
  return ADMISSION_OK;
}

enum admission_verdict admission_enter(admission_t *a,
                                       const admission_source_t *src,
                                       uint64_t *deadline_ms)
{
  return enter(a, src, deadline_ms, 1);
}

enum admission_verdict admission_enter_replacing(admission_t *a,
                                                 const admission_source_t *src,
                                                 uint64_t *deadline_ms)
{
  return enter(a, src, deadline_ms, 0);
}

void admission_leave(admission_t *a, const admission_source_t *src)
{
  size_t i = find(a, src);
  if(!a->table[i].count)
    return; /* not admitted: a caller bug, but never a negative count */
  a->in_progress--;
  if(!--a->table[i].count)
    remove_at(a, i);
}

uint32_t admission_in_progress(const admission_t *a)
{
  return a->in_progress;
}

uint32_t admission_source_count(const admission_t *a,
                                const admission_source_t *src)
{
  return a->table[find(a, src)].count;
}

uint64_t admission_refusal_to_log(admission_t *a, enum admission_verdict v,
                                  uint64_t now_ms)
{
  if((unsigned)v >= ADMISSION_NVERDICTS)
    return 0;
  a->log[v].held++;
  if(a->log[v].logged && now_ms - a->log[v].last_ms < 1000)
    return 0;
  uint64_t n = a->log[v].held;
  a->log[v].held = 0;
  a->log[v].last_ms = now_ms;
  a->log[v].logged = 1;
  return n;
}
