/* test_pool.c - the sans-I/O parts of a relay pool (client/pool.h):
 * syntax, backoff schedule, member choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/pool.h"
#include "common/error.h"

static uint32_t xs(void *ud)
{
  uint32_t *x = ud;
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

static void test_parse_forms(void **state)
{
  (void)state;
  target_t m[POOL_MAX_MEMBERS];
  assert_int_equal(pool_parse("a.example:8456", m, POOL_MAX_MEMBERS), 1);
  assert_string_equal(m[0].host, "a.example");
  assert_int_equal(pool_parse("a:1,b:2,[::1]:3", m, POOL_MAX_MEMBERS), 3);
  assert_string_equal(m[1].host, "b");
  assert_int_equal(m[1].port, 2);
  assert_string_equal(m[2].host, "::1");
  assert_int_equal(m[2].kind, TARGET_IPV6);
  assert_int_equal(pool_parse("127.0.0.1:1,127.0.0.2:1", m, 2), 2);
  assert_int_equal(pool_parse("srv:_beacon._tcp.example.org,a:1", m, 4), 2);
  assert_true(pool_is_srv(&m[0]));
  assert_string_equal(m[0].host, "_beacon._tcp.example.org");
  assert_false(pool_is_srv(&m[1]));
}

static void test_parse_refusals(void **state)
{
  (void)state;
  target_t m[4];
  const char *bad[] = {"",         ",",       "a:1,",     ",a:1",
                       "a:1,,b:2", "a",       "a:1, b:2", "a:0",
                       "a:1;b:2",  "a:1,a:1", "srv:",     "srv:a..b",
                       "srv:.a",   "srv:a b", "srv:a:1",  "srv:a,srv:a"};
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(pool_parse(bad[i], m, 4), BEACON_EINVAL);
  assert_int_equal(pool_parse("a:1,b:1,c:1,d:1,e:1", m, 4), BEACON_ELIMIT);
  assert_int_equal(pool_parse(NULL, m, 4), BEACON_EINVAL);
}

static void test_backoff_widens_and_caps(void **state)
{
  (void)state;
  /* the largest random value shows each attempt's ceiling */
  uint64_t prev = 0;
  for(unsigned a = 0; a < 5; a++) {
    uint64_t top = pool_backoff_delay(a, 1000, 30000, UINT32_MAX);
    uint64_t ceiling = 1000ull << a;
    assert_true(top <= ceiling);
    assert_true(top >= prev / 2); /* grows with the attempt on average */
    prev = ceiling;
  }
  for(unsigned a = 5; a < 80; a++)
    for(uint32_t r = 0; r < 100000; r += 977)
      assert_true(pool_backoff_delay(a, 1000, 30000, r) <= 30000);
  /* full jitter: the whole range, 0 included */
  assert_int_equal(pool_backoff_delay(3, 1000, 30000, 0), 0);
  assert_int_equal(pool_backoff_delay(3, 1000, 30000, 8000), 8000);
  assert_int_equal(pool_backoff_delay(3, 1000, 30000, 8001), 0);
  /* a huge base does not overflow */
  assert_true(pool_backoff_delay(40, UINT64_MAX / 2, 30000, 12345) <= 30000);
}

static void test_choose_skips_unusable(void **state)
{
  (void)state;
  pool_candidate_t c[3] = {{0, 0, 0, 0, 0}, {1, 5, 1, 0, 0}, {0, 0, 0, 0, 0}};
  for(uint32_t r = 0; r < 50; r++)
    assert_int_equal(pool_choose(c, 3, r, r * 7 + 1), 1);
  c[1].usable = 0;
  assert_int_equal(pool_choose(c, 3, 1, 2), -1);
  assert_int_equal(pool_choose(c, 0, 1, 2), -1);
}

static void test_choose_prefers_less_loaded(void **state)
{
  (void)state;
  pool_candidate_t c[2] = {{1, 10, 1, 0, 0}, {1, 0, 1, 0, 0}};
  for(uint32_t r = 0; r < 20; r++)
    assert_int_equal(pool_choose(c, 2, r, r + 3), 1);
  /* a slower path weighs more: 1 stream at 1 ms beats 0 at 50 ms */
  pool_candidate_t d[2] = {{1, 1, 1, 0, 0}, {1, 0, 50, 0, 0}};
  assert_int_equal(pool_choose(d, 2, 0, 0), 0);
  assert_int_equal(pool_choose(d, 2, 1, 0), 0);
  /* round trips within a factor of two are alike: idle members share */
  pool_candidate_t e[2] = {{1, 0, 12, 0, 0}, {1, 0, 20, 0, 0}};
  int got[2] = {0, 0};
  uint32_t x = 7;
  for(int i = 0; i < 200; i++)
    got[pool_choose(e, 2, xs(&x), xs(&x))]++;
  assert_in_range(got[0], 70, 130);
  /* and then streams decide */
  e[0].streams = 3;
  assert_int_equal(pool_choose(e, 2, 0, 0), 1);
}

/* Streams placed one after another on three equal members spread
 * evenly; a fourth, slow member gets less. */
static void test_choose_spreads(void **state)
{
  (void)state;
  pool_candidate_t c[4] = {
      {1, 0, 2, 0, 0}, {1, 0, 2, 0, 0}, {1, 0, 2, 0, 0}, {0, 0, 2, 0, 0}};
  uint32_t x = 12345;
  for(int i = 0; i < 300; i++) {
    int k = pool_choose(c, 4, xs(&x), xs(&x));
    assert_true(k >= 0 && k < 3);
    c[k].streams++;
  }
  for(int i = 0; i < 3; i++)
    assert_in_range(c[i].streams, 90, 110);
  c[3].usable = 1;
  c[3].rtt_ms = 40;
  for(int i = 0; i < 400; i++) {
    int k = pool_choose(c, 4, xs(&x), xs(&x));
    c[k].streams++;
  }
  assert_true(c[3].streams < c[0].streams / 2);
}

/* A lower SRV priority takes every stream while one of its members is
 * usable; a higher one only when none is. */
static void test_choose_lowest_priority_first(void **state)
{
  (void)state;
  pool_candidate_t c[3] = {{.usable = 1, .priority = 20},
                           {.usable = 1, .priority = 10},
                           {.usable = 1, .priority = 10}};
  for(uint32_t r = 0; r < 200; r++)
    assert_int_not_equal(pool_choose(c, 3, r, r * 3 + 1), 0);
  c[1].usable = c[2].usable = 0;
  assert_int_equal(pool_choose(c, 3, 5, 6), 0);
}

/* Weights share a priority's streams (RFC 2782): 3 to 1, and a weight
 * of 0 only when the running sum is 0. */
static void test_choose_weighted(void **state)
{
  (void)state;
  pool_candidate_t c[3] = {{.usable = 1, .priority = 1, .weight = 30},
                           {.usable = 1, .priority = 1, .weight = 10},
                           {.usable = 1, .priority = 1, .weight = 0}};
  int hits[3] = {0};
  for(uint32_t r = 0; r < 4100; r++)
    hits[pool_choose(c, 3, r, 0)]++;
  /* r mod 41: 0 picks the weight-0 member, 1..30 the first, 31..40 the
   * second */
  assert_int_equal(hits[2], 100);
  assert_int_equal(hits[0], 3000);
  assert_int_equal(hits[1], 1000);
  /* busy or not, the weights decide, not the load */
  c[0].streams = 1000;
  assert_int_equal(pool_choose(c, 3, 1, 0), 0);
}

static void test_shuffle_is_a_permutation(void **state)
{
  (void)state;
  uint32_t x = 99;
  int first[5] = {0};
  for(int round = 0; round < 500; round++) {
    int o[5] = {0, 1, 2, 3, 4};
    pool_shuffle(o, 5, xs, &x);
    int seen = 0;
    for(int i = 0; i < 5; i++)
      seen |= 1 << o[i];
    assert_int_equal(seen, 31);
    first[o[0]]++;
  }
  for(int i = 0; i < 5; i++)
    assert_in_range(first[i], 60, 140); /* each goes first about 1 in 5 */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_forms),
      cmocka_unit_test(test_parse_refusals),
      cmocka_unit_test(test_backoff_widens_and_caps),
      cmocka_unit_test(test_choose_skips_unusable),
      cmocka_unit_test(test_choose_prefers_less_loaded),
      cmocka_unit_test(test_choose_spreads),
      cmocka_unit_test(test_choose_lowest_priority_first),
      cmocka_unit_test(test_choose_weighted),
      cmocka_unit_test(test_shuffle_is_a_permutation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
