/*
 * fuzz_pool.c - the relay-pool syntax and member choice
 * (src/client/pool.h) on arbitrary bytes. Aborts when an invariant
 * breaks: pool_parse() returns a member count within its cap or one of
 * its documented codes; the members are distinct and, formatted and
 * joined with commas, parse back to the same members; pool_choose()
 * returns a usable member, or -1 exactly when none is; a backoff delay
 * never exceeds its cap.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "client/pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static target_t members[POOL_MAX_MEMBERS], again[POOL_MAX_MEMBERS];

static void check_parse(const uint8_t *data, size_t size)
{
  char *spec = malloc(size + 1);
  if(!spec)
    return;
  memcpy(spec, data, size);
  spec[size] = '\0';
  int n = pool_parse(spec, members, POOL_MAX_MEMBERS);
  free(spec);
  if(n <= 0) {
    CHECK(n == BEACON_EINVAL || n == BEACON_ETOOLONG || n == BEACON_ELIMIT);
    return;
  }
  CHECK(n <= POOL_MAX_MEMBERS);
  /* (TARGET_MAX_LINE + 1) per member: a formatted line and a comma */
  static char joined[POOL_MAX_MEMBERS * (TARGET_MAX_LINE + 2)];
  size_t off = 0;
  for(int i = 0; i < n; i++) {
    for(int j = 0; j < i; j++)
      CHECK(members[i].port != members[j].port ||
            strcmp(members[i].host, members[j].host));
    int len =
        pool_is_srv(&members[i])
            ? snprintf(joined + off, sizeof(joined) - off, "srv:%s\n",
                       members[i].host)
            : target_format(&members[i], joined + off, sizeof(joined) - off);
    CHECK(len > 0);
    off += (size_t)len;
    CHECK(joined[off - 1] == '\n');
    joined[off - 1] = i + 1 < n ? ',' : '\0';
  }
  CHECK(pool_parse(joined, again, POOL_MAX_MEMBERS) == n);
  for(int i = 0; i < n; i++)
    CHECK(again[i].port == members[i].port &&
          !strcmp(again[i].host, members[i].host));
}

static uint32_t word(const uint8_t *d, size_t size, size_t at)
{
  uint32_t w = 0;
  for(size_t i = 0; i < 4; i++)
    w = w << 8 | (at + i < size ? d[at + i] : 0);
  return w;
}

static void check_choice(const uint8_t *data, size_t size)
{
  pool_candidate_t c[POOL_MAX_MEMBERS];
  int n = size ? data[0] % (POOL_MAX_MEMBERS + 1) : 0;
  int any = 0;
  for(int i = 0; i < n; i++) {
    size_t at = 1 + (size_t)i * 9;
    c[i].usable = at < size && (data[at] & 1);
    c[i].streams = word(data, size, at + 1);
    c[i].rtt_ms = word(data, size, at + 5);
    uint32_t pw = word(data, size, at + 2);
    c[i].priority = (uint16_t)(pw & 3); /* few priorities: groups */
    c[i].weight = (uint16_t)(pw >> 16);
    any |= c[i].usable;
  }
  int got = pool_choose(c, n, word(data, size, size / 2),
                        word(data, size, size / 3));
  CHECK(any ? got >= 0 && got < n && c[got].usable : got == -1);
  /* never a higher priority while a lower one is usable */
  for(int i = 0; got >= 0 && i < n; i++)
    CHECK(!c[i].usable || c[i].priority >= c[got].priority);
  uint64_t cap = 1 + word(data, size, 1) % 60000;
  uint64_t base = 1 + word(data, size, 5) % 5000;
  CHECK(pool_backoff_delay(size ? data[0] : 0, base, cap,
                           word(data, size, 9)) <= cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_parse(data, size);
  check_choice(data, size);
  return 0;
}
