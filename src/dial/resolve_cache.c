/*
 * resolve_cache.c - positive and negative lookup answers kept for their
 * TTL in a fixed table (resolve_cache.h). A linear scan: the table is
 * small (hundreds of names), and a scan has no hash an attacker could
 * aim collisions at.
 */
#include "dial/resolve_cache.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct cache_entry {
  char name[RESOLVE_CACHE_MAX_NAME + 1]; /* "" when free */
  uint64_t expires_ms;
  int status; /* 0, or the negative answer's code */
  size_t n;
  resolve_ip_t ips[RESOLVE_CACHE_MAX_ADDRS];
} cache_entry_t;

struct resolve_cache {
  size_t capacity;
  cache_entry_t entries[];
};

resolve_cache_t *resolve_cache_new(size_t capacity)
{
  if(capacity == 0 || capacity > SIZE_MAX / sizeof(cache_entry_t) - 1)
    return NULL;
  resolve_cache_t *c =
      calloc(1, sizeof(*c) + capacity * sizeof(cache_entry_t));
  if(c)
    c->capacity = capacity;
  return c;
}

void resolve_cache_free(resolve_cache_t *c)
{
  free(c);
}

static int live(const cache_entry_t *e, uint64_t now_ms)
{
  return e->name[0] && e->expires_ms > now_ms;
}

static cache_entry_t *find(resolve_cache_t *c, const char *name)
{
  for(size_t i = 0; i < c->capacity; i++)
    if(c->entries[i].name[0] && !strcasecmp(c->entries[i].name, name))
      return &c->entries[i];
  return NULL;
}

/* The entry for name: its own, else a free or expired one, else the one
 * expiring soonest. NULL when the name cannot be kept. */
static cache_entry_t *slot_for(resolve_cache_t *c, const char *name,
                               uint64_t now_ms)
{
  size_t len = strlen(name);
  if(len == 0 || len > RESOLVE_CACHE_MAX_NAME)
    return NULL;
  cache_entry_t *e = find(c, name);
  if(!e) {
    e = &c->entries[0];
    for(size_t i = 0; i < c->capacity && live(e, now_ms); i++) {
      cache_entry_t *x = &c->entries[i];
      if(!live(x, now_ms) || x->expires_ms < e->expires_ms)
        e = x;
    }
  }
  memcpy(e->name, name, len + 1);
  return e;
}

int resolve_cache_put(resolve_cache_t *c, const char *name, uint64_t now_ms,
                      uint64_t ttl_ms, const resolve_ip_t *ips, size_t n)
{
  if(ttl_ms == 0 || n == 0)
    return 0;
  cache_entry_t *e = slot_for(c, name, now_ms);
  if(!e)
    return 0;
  if(ttl_ms > RESOLVE_CACHE_MAX_TTL_MS)
    ttl_ms = RESOLVE_CACHE_MAX_TTL_MS;
  if(n > RESOLVE_CACHE_MAX_ADDRS)
    n = RESOLVE_CACHE_MAX_ADDRS;
  e->expires_ms = now_ms + ttl_ms;
  e->status = 0;
  e->n = n;
  memcpy(e->ips, ips, n * sizeof(*ips));
  return 1;
}

int resolve_cache_put_negative(resolve_cache_t *c, const char *name,
                               uint64_t now_ms, int status)
{
  if(status == 0)
    return 0;
  cache_entry_t *e = slot_for(c, name, now_ms);
  if(!e)
    return 0;
  e->expires_ms = now_ms + RESOLVE_CACHE_NEGATIVE_TTL_MS;
  e->status = status;
  e->n = 0;
  return 1;
}

int resolve_cache_get(resolve_cache_t *c, const char *name, uint64_t now_ms,
                      resolve_ip_t *ips, size_t cap, size_t *n, int *status)
{
  cache_entry_t *e = find(c, name);
  if(!e)
    return 0;
  if(!live(e, now_ms)) {
    e->name[0] = 0; /* expired: the slot is free again */
    return 0;
  }
  size_t k = e->n < cap ? e->n : cap;
  memcpy(ips, e->ips, k * sizeof(*ips));
  *n = k;
  *status = e->status;
  return 1;
}

size_t resolve_cache_count(const resolve_cache_t *c, uint64_t now_ms)
{
  size_t k = 0;
  for(size_t i = 0; i < c->capacity; i++)
    if(live(&c->entries[i], now_ms))
      k++;
  return k;
}
