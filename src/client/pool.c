/*
 * pool.c - the sans-I/O parts of a relay pool (pool.h): syntax, backoff
 * schedule and member choice.
 */
#include "client/pool.h"

#include <string.h>

#include "common/error.h"

int pool_parse(const char *spec, target_t *out, int cap)
{
  if(!spec || !*spec)
    return BEACON_EINVAL;
  int n = 0;
  const char *p = spec;
  for(;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if(n >= cap)
      return BEACON_ELIMIT;
    int rc = target_from_string(p, len, &out[n]);
    if(rc)
      return rc;
    /* The same relay twice would only double its share. */
    for(int i = 0; i < n; i++)
      if(out[i].port == out[n].port && !strcmp(out[i].host, out[n].host))
        return BEACON_EINVAL;
    n++;
    if(!end)
      return n;
    p = end + 1;
  }
}

uint64_t pool_backoff_delay(unsigned attempt, uint64_t base_ms,
                            uint64_t cap_ms, uint32_t r)
{
  uint64_t ceiling = cap_ms;
  if(attempt < 32 && (base_ms << attempt) >> attempt == base_ms &&
     (base_ms << attempt) < cap_ms)
    ceiling = base_ms << attempt;
  return (uint64_t)r % (ceiling + 1);
}

/* The RTT counts from POOL_RTT_FLOOR_MS up: below that (a LAN, loopback)
 * differences are noise. */
static uint64_t rtt_of(const pool_candidate_t *c)
{
  return c->rtt_ms < POOL_RTT_FLOOR_MS ? POOL_RTT_FLOOR_MS : c->rtt_ms;
}

int pool_choose(const pool_candidate_t *c, int n, uint32_t r1, uint32_t r2)
{
  int usable[POOL_MAX_MEMBERS];
  int k = 0;
  for(int i = 0; i < n && k < POOL_MAX_MEMBERS; i++)
    if(c[i].usable)
      usable[k++] = i;
  if(k == 0)
    return -1;
  if(k == 1)
    return usable[0];
  int a = usable[r1 % (uint32_t)k];
  /* the second pick among the other k - 1 */
  uint32_t j = r2 % (uint32_t)(k - 1);
  int b = usable[j >= r1 % (uint32_t)k ? j + 1 : j];
  uint64_t ra = rtt_of(&c[a]), rb = rtt_of(&c[b]);
  /* Paths within a factor of two are alike: the open streams decide
   * alone, so that one noisy sample does not take every stream. */
  if(ra < 2 * rb && rb < 2 * ra)
    ra = rb = 1;
  uint64_t la = ((uint64_t)c[a].streams + 1) * ra;
  uint64_t lb = ((uint64_t)c[b].streams + 1) * rb;
  return lb < la ? b : a;
}

void pool_shuffle(int *order, int n, uint32_t (*next)(void *ud), void *ud)
{
  for(int i = n - 1; i > 0; i--) {
    int j = (int)(next(ud) % (uint32_t)(i + 1));
    int tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
}
