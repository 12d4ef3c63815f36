/*
 * fuzz_resolve_cache.c - the lookup cache (src/dial/resolve_cache.h)
 * driven by arbitrary bytes as a sequence of puts, negative puts, gets
 * and clock steps over a few names (any case) and names of any length.
 * Aborts when an invariant breaks: a hit returns what the last put of
 * that name kept, never after its TTL or the caps; a put that was kept
 * is a hit at once; the cache never holds more names than its capacity.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "dial/resolve_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAMES 8
#define CAPACITY 4

/* What the last kept put of each name said. */
typedef struct model {
  int kept;
  int unknown; /* a name from the input may have replaced it */
  uint64_t expires;
  int status;
  size_t n;
  uint8_t tag; /* the first address's last byte */
} model_t;

static const char *const base_names[NAMES] = {
    "a.test", "b.test", "c.example", "d", "e.f.g.h", "x-y.test", "z.z", "q.q"};

/* Name i in a case the input picks. */
static void name_of(int i, uint8_t casebits, char *out)
{
  size_t len = strlen(base_names[i]);
  for(size_t k = 0; k <= len; k++) {
    char ch = base_names[i][k];
    out[k] = (casebits >> (k % 8)) & 1 ? (char)toupper((unsigned char)ch) : ch;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  resolve_cache_t *c = resolve_cache_new(CAPACITY);
  if(!c)
    return 0;
  model_t m[NAMES];
  memset(m, 0, sizeof(m));
  uint64_t now = 0;
  resolve_ip_t ips[RESOLVE_CACHE_MAX_ADDRS + 4], out[RESOLVE_CACHE_MAX_ADDRS];
  char name[RESOLVE_CACHE_MAX_NAME + 64];
  for(size_t p = 0; p + 3 <= size; p += 3) {
    uint8_t op = data[p] & 7, i = data[p] >> 3 & (NAMES - 1),
            arg = data[p + 1];
    name_of(i, data[p + 2], name);
    int just_kept = 0;
    if(op == 0 || op == 1) { /* put arg%21 addresses for arg*97 ms */
      size_t n = arg % (RESOLVE_CACHE_MAX_ADDRS + 5);
      uint64_t ttl = (uint64_t)arg * 97 * (op + 1);
      for(size_t k = 0; k < n; k++) {
        memset(&ips[k], 0, sizeof(ips[k]));
        ips[k].family = AF_INET;
        ips[k].addr[3] = (uint8_t)(data[p + 2] + k);
      }
      int kept = resolve_cache_put(c, name, now, ttl, ips, n);
      CHECK(kept == (n > 0 && ttl > 0));
      if(kept) {
        just_kept = 1;
        if(ttl > RESOLVE_CACHE_MAX_TTL_MS)
          ttl = RESOLVE_CACHE_MAX_TTL_MS;
        m[i] = (model_t){1,
                         0,
                         now + ttl,
                         0,
                         n < RESOLVE_CACHE_MAX_ADDRS ? n
                                                     : RESOLVE_CACHE_MAX_ADDRS,
                         ips[0].addr[3]};
      }
    } else if(op == 2) {
      CHECK(resolve_cache_put_negative(c, name, now, BEACON_ENOTFOUND) == 1);
      just_kept = 1;
      m[i] = (model_t){
          1, 0, now + RESOLVE_CACHE_NEGATIVE_TTL_MS, BEACON_ENOTFOUND, 0, 0};
    } else if(op == 3) {
      now += (uint64_t)arg * 53;
      continue;
    } else if(op == 4) { /* a name of any length, from the input */
      size_t len = arg < size - p - 3 ? arg : size - p - 3;
      if(len > sizeof(name) - 1)
        len = sizeof(name) - 1;
      memcpy(name, data + p + 3, len);
      name[len] = 0;
      size_t nul = strlen(name);
      int kept = resolve_cache_put(c, name, now, 1000, ips, 1);
      CHECK(kept == (nul > 0 && nul <= RESOLVE_CACHE_MAX_NAME));
      /* it may be one of the model's names, in any case */
      for(int k = 0; k < NAMES; k++)
        m[k].unknown = 1;
      continue;
    }
    /* after every put and on every get: a hit is the model's entry */
    size_t n = 99;
    int st = 99;
    int hit =
        resolve_cache_get(c, name, now, out, RESOLVE_CACHE_MAX_ADDRS, &n, &st);
    if(just_kept)
      CHECK(hit);
    if(hit && !m[i].unknown) {
      CHECK(m[i].kept && m[i].expires > now);
      CHECK(st == m[i].status && n == m[i].n);
      if(n)
        CHECK(out[0].family == AF_INET && out[0].addr[3] == m[i].tag);
    }
    CHECK(resolve_cache_count(c, now) <= CAPACITY);
  }
  resolve_cache_free(c);
  return 0;
}
