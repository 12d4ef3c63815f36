/*
 * test_resolve_cache.c - the lookup cache's sans-I/O core
 * (src/dial/resolve_cache.c) on a clock of the test's own: TTLs, the
 * negative TTL, the cap on a TTL, the size bound and what it evicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "dial/resolve_cache.h"

static resolve_ip_t v4(uint8_t last)
{
  resolve_ip_t ip;
  memset(&ip, 0, sizeof(ip));
  ip.family = AF_INET;
  ip.addr[0] = 192;
  ip.addr[1] = 0;
  ip.addr[2] = 2;
  ip.addr[3] = last;
  return ip;
}

static int get(resolve_cache_t *c, const char *name, uint64_t now,
               resolve_ip_t *out, size_t *n, int *status)
{
  *n = 99;
  *status = 99;
  return resolve_cache_get(c, name, now, out, RESOLVE_CACHE_MAX_ADDRS, n,
                           status);
}

static void test_ttl(void **state)
{
  resolve_cache_t *c = resolve_cache_new(4);
  assert_non_null(c);
  resolve_ip_t ips[2] = {v4(1), v4(2)}, out[RESOLVE_CACHE_MAX_ADDRS];
  size_t n;
  int st;
  assert_int_equal(get(c, "a.test", 1000, out, &n, &st), 0);
  assert_int_equal(resolve_cache_put(c, "a.test", 1000, 30000, ips, 2), 1);
  assert_int_equal(get(c, "a.test", 1000, out, &n, &st), 1);
  assert_int_equal(n, 2);
  assert_int_equal(st, 0);
  assert_memory_equal(out, ips, sizeof(ips));
  /* names match without regard to case */
  assert_int_equal(get(c, "A.Test", 30999, out, &n, &st), 1);
  /* gone at the TTL, and its slot free again */
  assert_int_equal(get(c, "a.test", 31000, out, &n, &st), 0);
  assert_int_equal(resolve_cache_count(c, 31000), 0);
  /* a TTL of 0 and an empty answer are not kept */
  assert_int_equal(resolve_cache_put(c, "b.test", 0, 0, ips, 2), 0);
  assert_int_equal(resolve_cache_put(c, "b.test", 0, 5000, ips, 0), 0);
  assert_int_equal(get(c, "b.test", 0, out, &n, &st), 0);
  /* a long TTL is capped */
  assert_int_equal(resolve_cache_put(c, "c.test", 0, 86400000, ips, 1), 1);
  assert_int_equal(
      get(c, "c.test", RESOLVE_CACHE_MAX_TTL_MS - 1, out, &n, &st), 1);
  assert_int_equal(get(c, "c.test", RESOLVE_CACHE_MAX_TTL_MS, out, &n, &st),
                   0);
  /* a fresh answer replaces the old one */
  assert_int_equal(resolve_cache_put(c, "d.test", 0, 1000, ips, 2), 1);
  assert_int_equal(resolve_cache_put(c, "D.TEST", 500, 1000, &ips[1], 1), 1);
  assert_int_equal(get(c, "d.test", 1400, out, &n, &st), 1);
  assert_int_equal(n, 1);
  assert_memory_equal(&out[0], &ips[1], sizeof(ips[1]));
  assert_int_equal(resolve_cache_count(c, 1400), 1);
  resolve_cache_free(c);
}

static void test_negative(void **state)
{
  resolve_cache_t *c = resolve_cache_new(4);
  resolve_ip_t out[RESOLVE_CACHE_MAX_ADDRS];
  size_t n;
  int st;
  assert_int_equal(resolve_cache_put_negative(c, "nx.test", 0, 0), 0);
  assert_int_equal(
      resolve_cache_put_negative(c, "nx.test", 100, BEACON_ENOTFOUND), 1);
  assert_int_equal(get(c, "nx.test", 100, out, &n, &st), 1);
  assert_int_equal(n, 0);
  assert_int_equal(st, BEACON_ENOTFOUND);
  assert_int_equal(
      get(c, "nx.test", 100 + RESOLVE_CACHE_NEGATIVE_TTL_MS - 1, out, &n, &st),
      1);
  assert_int_equal(
      get(c, "nx.test", 100 + RESOLVE_CACHE_NEGATIVE_TTL_MS, out, &n, &st), 0);
  resolve_cache_free(c);
}

static void test_bounds(void **state)
{
  resolve_cache_t *c = resolve_cache_new(3);
  resolve_ip_t many[RESOLVE_CACHE_MAX_ADDRS + 4], out[RESOLVE_CACHE_MAX_ADDRS];
  for(int i = 0; i < RESOLVE_CACHE_MAX_ADDRS + 4; i++)
    many[i] = v4((uint8_t)i);
  size_t n;
  int st;
  /* at most RESOLVE_CACHE_MAX_ADDRS addresses, at most cap copied out */
  assert_int_equal(resolve_cache_put(c, "m.test", 0, 10000, many,
                                     RESOLVE_CACHE_MAX_ADDRS + 4),
                   1);
  assert_int_equal(get(c, "m.test", 0, out, &n, &st), 1);
  assert_int_equal(n, RESOLVE_CACHE_MAX_ADDRS);
  assert_int_equal(resolve_cache_get(c, "m.test", 0, out, 2, &n, &st), 1);
  assert_int_equal(n, 2);
  /* names too long for DNS, and empty ones, are not kept */
  char longname[RESOLVE_CACHE_MAX_NAME + 2];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = 0;
  assert_int_equal(resolve_cache_put(c, longname, 0, 1000, many, 1), 0);
  assert_int_equal(resolve_cache_put(c, "", 0, 1000, many, 1), 0);
  longname[RESOLVE_CACHE_MAX_NAME] = 0;
  assert_int_equal(resolve_cache_put(c, longname, 0, 1000, many, 1), 1);
  /* full (m 10 s, long 1 s, n 5 s): a new name evicts the one expiring
   * soonest */
  assert_int_equal(resolve_cache_put(c, "n.test", 0, 5000, many, 1), 1);
  assert_int_equal(resolve_cache_count(c, 0), 3);
  assert_int_equal(resolve_cache_put(c, "o.test", 0, 8000, many, 1), 1);
  assert_int_equal(get(c, longname, 0, out, &n, &st), 0);
  assert_int_equal(get(c, "m.test", 0, out, &n, &st), 1);
  assert_int_equal(get(c, "n.test", 0, out, &n, &st), 1);
  /* an expired entry goes before a live one expiring sooner */
  assert_int_equal(resolve_cache_put(c, "p.test", 6000, 1000, many, 1), 1);
  assert_int_equal(get(c, "n.test", 6000, out, &n, &st), 0);
  assert_int_equal(get(c, "o.test", 6000, out, &n, &st), 1);
  assert_int_equal(get(c, "m.test", 6000, out, &n, &st), 1);
  assert_int_equal(resolve_cache_count(c, 6000), 3);
  /* many names through a small table: never more than its capacity */
  char name[32];
  for(int i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "h%d.test", i);
    assert_int_equal(resolve_cache_put(c, name, 7000, 60000, many, 1), 1);
  }
  assert_int_equal(resolve_cache_count(c, 7000), 3);
  assert_int_equal(get(c, "h999.test", 7000, out, &n, &st), 1);
  assert_null(resolve_cache_new(0));
  resolve_cache_free(c);
  resolve_cache_free(NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ttl),
      cmocka_unit_test(test_negative),
      cmocka_unit_test(test_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
