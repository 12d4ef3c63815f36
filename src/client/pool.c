/*
 * pool.c - the sans-I/O parts of a relay pool (pool.h): syntax, backoff
 * schedule and member choice.
 */
#include "client/pool.h"

#include <string.h>

#include "common/error.h"

/* "srv:NAME": a DNS name (letters, digits, '-', '_', '.') whose SRV
 * records list the members; port 0 marks it. */
static int parse_srv(const char *p, size_t len, target_t *out)
{
  p += POOL_SRV_PREFIX_LEN;
  len -= POOL_SRV_PREFIX_LEN;
  if(len == 0 || len > POOL_SRV_NAME_MAX || p[0] == '.')
    return BEACON_EINVAL;
  for(size_t i = 0; i < len; i++) {
    char ch = p[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
             (ch == '.' && p[i - 1] != '.');
    if(!ok)
      return BEACON_EINVAL;
  }
  memset(out, 0, sizeof(*out));
  out->kind = TARGET_DNS;
  out->port = 0;
  memcpy(out->host, p, len);
  out->host[len] = '\0';
  return 0;
}

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
    int rc = len > POOL_SRV_PREFIX_LEN && !strncmp(p, "srv:", 4)
                 ? parse_srv(p, len, &out[n])
                 : target_from_string(p, len, &out[n]);
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

/* RFC 2782's selection among usable[0..k): weight-0 members first,
 * then a running sum of weights; the first whose sum reaches r. */
static int weighted_pick(const pool_candidate_t *c, const int *usable, int k,
                         uint32_t r)
{
  uint64_t total = 0;
  for(int j = 0; j < k; j++)
    total += c[usable[j]].weight;
  uint64_t want = (uint64_t)r % (total + 1), sum = 0;
  for(int zero = 1; zero >= 0; zero--)
    for(int j = 0; j < k; j++) {
      const pool_candidate_t *m = &c[usable[j]];
      if((m->weight == 0) != zero)
        continue;
      sum += m->weight;
      if(sum >= want)
        return usable[j];
    }
  return usable[k - 1];
}

int pool_choose(const pool_candidate_t *c, int n, uint32_t r1, uint32_t r2)
{
  int usable[POOL_MAX_MEMBERS];
  int k = 0;
  uint32_t best = UINT32_MAX;
  for(int i = 0; i < n && i < POOL_MAX_MEMBERS; i++)
    if(c[i].usable && c[i].priority < best)
      best = c[i].priority;
  int weights_differ = 0;
  for(int i = 0; i < n && k < POOL_MAX_MEMBERS; i++)
    if(c[i].usable && c[i].priority == best) {
      weights_differ |= k > 0 && c[i].weight != c[usable[0]].weight;
      usable[k++] = i;
    }
  if(k == 0)
    return -1;
  if(k == 1)
    return usable[0];
  if(weights_differ)
    return weighted_pick(c, usable, k, r1);
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
