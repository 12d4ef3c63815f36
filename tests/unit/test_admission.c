/*
 * test_admission.c - the pre-authentication budget's sans-I/O core
 * (src/relay/admission.c): the relay-wide cap, the per-source cap with
 * IPv6 grouped by /64 and IPv4-mapped IPv6 as IPv4, random early drop
 * between start and full with a scripted random source, the deadline
 * curve, the table under churn, and the rate-limited refusal log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "relay/admission.h"

/* A scripted random source: returns `next` every time. */
typedef struct fake_random {
  uint32_t next;
  unsigned calls;
} fake_random_t;

static uint32_t fake_random(void *ud)
{
  fake_random_t *r = ud;
  r->calls++;
  return r->next;
}

/* A xorshift generator for the statistical and churn tests. */
static uint32_t xorshift(void *ud)
{
  uint32_t *s = ud;
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static admission_source_t v4(const char *text)
{
  struct sockaddr_in in = {.sin_family = AF_INET};
  assert_int_equal(inet_pton(AF_INET, text, &in.sin_addr), 1);
  admission_source_t s;
  assert_int_equal(admission_source_of((struct sockaddr *)&in, &s), 0);
  return s;
}

static admission_source_t v6(const char *text)
{
  struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
  assert_int_equal(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
  admission_source_t s;
  assert_int_equal(admission_source_of((struct sockaddr *)&in6, &s), 0);
  return s;
}

static admission_config_t config(uint32_t start, uint32_t rate, uint32_t full,
                                 uint32_t per_source)
{
  return (admission_config_t){.start = start,
                              .rate = rate,
                              .full = full,
                              .per_source = per_source,
                              .timeout_ms = 10000,
                              .floor_ms = 2000};
}

static void test_bad_config(void **state)
{
  fake_random_t r = {0};
  admission_config_t c = config(10, 30, 5, 0); /* start > full */
  assert_null(admission_new(&c, fake_random, &r));
  c = config(0, 30, 0, 0); /* full 0 */
  assert_null(admission_new(&c, fake_random, &r));
  c = config(1, 101, 5, 0);
  assert_null(admission_new(&c, fake_random, &r));
  c = config(1, 30, 5, 0);
  c.floor_ms = c.timeout_ms + 1;
  assert_null(admission_new(&c, fake_random, &r));
  assert_null(admission_new(&c, NULL, NULL));
  admission_free(NULL);
}

static void test_full_refuses_and_leave_frees(void **state)
{
  fake_random_t r = {0};
  admission_config_t c = config(4, 0, 4, 0); /* no early drop: start = full */
  admission_t *a = admission_new(&c, fake_random, &r);
  assert_non_null(a);
  char ip[32];
  admission_source_t s[5];
  for(int i = 0; i < 5; i++) {
    snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
    s[i] = v4(ip);
  }
  uint64_t dl = 0;
  for(int i = 0; i < 4; i++)
    assert_int_equal(admission_enter(a, &s[i], &dl), ADMISSION_OK);
  assert_int_equal(dl, 10000);
  assert_int_equal(admission_in_progress(a), 4);
  assert_int_equal(admission_enter(a, &s[4], &dl), ADMISSION_FULL);
  admission_leave(a, &s[2]);
  assert_int_equal(admission_in_progress(a), 3);
  assert_int_equal(admission_enter(a, &s[4], &dl), ADMISSION_OK);
  /* leaving a source that never entered changes nothing */
  admission_source_t stranger = v4("198.51.100.1");
  admission_leave(a, &stranger);
  assert_int_equal(admission_in_progress(a), 4);
  admission_free(a);
}

static void test_per_source_holds_when_replacing(void **state)
{
  fake_random_t r = {0};
  admission_config_t c = config(100, 0, 100, 1);
  admission_t *a = admission_new(&c, fake_random, &r);
  admission_source_t x = v4("127.0.0.2");
  assert_int_equal(admission_enter_replacing(a, &x, NULL), ADMISSION_OK);
  assert_int_equal(admission_enter_replacing(a, &x, NULL),
                   ADMISSION_PER_SOURCE);
  admission_free(a);
}

static void test_per_source_ipv4(void **state)
{
  fake_random_t r = {0};
  admission_config_t c = config(100, 0, 100, 3);
  admission_t *a = admission_new(&c, fake_random, &r);
  admission_source_t x = v4("127.0.0.2"), y = v4("127.0.0.3");
  for(int i = 0; i < 3; i++)
    assert_int_equal(admission_enter(a, &x, NULL), ADMISSION_OK);
  assert_int_equal(admission_enter(a, &x, NULL), ADMISSION_PER_SOURCE);
  assert_int_equal(admission_enter(a, &y, NULL), ADMISSION_OK);
  assert_int_equal(admission_source_count(a, &x), 3);
  assert_int_equal(admission_source_count(a, &y), 1);
  admission_leave(a, &x);
  assert_int_equal(admission_enter(a, &x, NULL), ADMISSION_OK);
  assert_int_equal(admission_in_progress(a), 4);
  admission_free(a);
}

static void test_sources_v6_by_64_and_mapped(void **state)
{
  fake_random_t r = {0};
  admission_config_t c = config(100, 0, 100, 2);
  admission_t *a = admission_new(&c, fake_random, &r);
  /* two addresses of one /64 are one source */
  admission_source_t p1 = v6("2001:db8:1:2::1"),
                     p2 = v6("2001:db8:1:2:ffff::9");
  admission_source_t other64 = v6("2001:db8:1:3::1");
  assert_memory_equal(p1.key, p2.key, sizeof(p1.key));
  assert_int_equal(admission_enter(a, &p1, NULL), ADMISSION_OK);
  assert_int_equal(admission_enter(a, &p2, NULL), ADMISSION_OK);
  assert_int_equal(admission_enter(a, &p1, NULL), ADMISSION_PER_SOURCE);
  assert_int_equal(admission_enter(a, &other64, NULL), ADMISSION_OK);
  /* ::ffff:a.b.c.d is a.b.c.d, and not the IPv6 /64 ::ffff:0:0/64 */
  admission_source_t mapped = v6("::ffff:127.0.0.2");
  admission_source_t plain = v4("127.0.0.2"), near = v6("::ffff:127.0.0.3");
  assert_memory_equal(mapped.key, plain.key, sizeof(plain.key));
  assert_memory_not_equal(mapped.key, near.key, sizeof(near.key));
  assert_int_equal(admission_enter(a, &plain, NULL), ADMISSION_OK);
  assert_int_equal(admission_enter(a, &mapped, NULL), ADMISSION_OK);
  assert_int_equal(admission_enter(a, &mapped, NULL), ADMISSION_PER_SOURCE);
  assert_int_equal(admission_enter(a, &near, NULL), ADMISSION_OK);
  /* other families share one key */
  struct sockaddr un = {.sa_family = AF_UNIX};
  admission_source_t u;
  assert_int_equal(admission_source_of(&un, &u), -1);
  admission_free(a);
}

static void test_early_drop_curve(void **state)
{
  fake_random_t r = {0};
  /* start 10, rate 30 %, full 20: p = 30 % at 10, 65 % at 15, 100 % at 20 */
  admission_config_t c = config(10, 30, 20, 0);
  admission_t *a = admission_new(&c, fake_random, &r);
  char ip[32];
  int k = 0;
  admission_source_t s;
  /* below start the random source is not even asked */
  r.calls = 0;
  for(; k < 10; k++) {
    snprintf(ip, sizeof(ip), "10.0.%d.%d", k / 250, k % 250);
    s = v4(ip);
    assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_OK);
  }
  assert_int_equal(r.calls, 0);
  /* at start: rolls under 30 % of 100 * width (= 1000) drop */
  s = v4("10.9.9.9");
  r.next = 299;
  assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_EARLY_DROP);
  r.next = 300;
  assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_OK);
  /* now 11 in progress: p = (30 * 10 + 70 * 1) / 1000 = 37 % */
  r.next = 369;
  assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_EARLY_DROP);
  r.next = 370;
  assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_OK);
  /* the modulus keeps the roll in range: 1370 % 1000 = 370 again */
  r.next = 1000 + 369;
  /* 12 in progress: p = 44 % */
  assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_EARLY_DROP);
  r.next = 999; /* the highest roll */
  for(uint32_t n = admission_in_progress(a); n < 20; n++)
    assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_OK);
  assert_int_equal(admission_in_progress(a), 20);
  r.calls = 0;
  assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_FULL);
  assert_int_equal(r.calls, 0);
  /* one leaves to make room: its replacement skips the dice (which
   * would say drop: 0 < p at 19), but the caps still hold */
  admission_leave(a, &s);
  r.next = 0;
  assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_EARLY_DROP);
  uint64_t dl = 0;
  assert_int_equal(admission_enter_replacing(a, &s, &dl), ADMISSION_OK);
  assert_int_equal(dl, 2800);
  assert_int_equal(admission_enter_replacing(a, &s, &dl), ADMISSION_FULL);
  admission_free(a);
}

static void test_early_drop_rate_statistics(void **state)
{
  uint32_t seed = 12345;
  admission_config_t c = config(10, 30, 60, 0);
  admission_t *a = admission_new(&c, xorshift, &seed);
  admission_source_t s = v4("203.0.113.7");
  for(int i = 0; i < 10; i++)
    assert_int_equal(admission_enter(a, &s, NULL), ADMISSION_OK);
  /* at start, enter-then-leave keeps the level: about 30 % dropped */
  int drops = 0, n = 20000;
  for(int i = 0; i < n; i++) {
    if(admission_enter(a, &s, NULL) == ADMISSION_EARLY_DROP)
      drops++;
    else
      admission_leave(a, &s);
  }
  assert_true(drops > n * 27 / 100 && drops < n * 33 / 100);
  admission_free(a);
}

static void test_deadline_shrinks(void **state)
{
  fake_random_t r = {.next = 999999};
  admission_config_t c = config(10, 0, 20, 0);
  admission_t *a = admission_new(&c, fake_random, &r);
  assert_int_equal(admission_deadline(a, 0), 10000);
  assert_int_equal(admission_deadline(a, 10), 10000);
  assert_int_equal(admission_deadline(a, 15), 6000);
  assert_int_equal(admission_deadline(a, 19), 2800);
  assert_int_equal(admission_deadline(a, 20), 2000);
  assert_int_equal(admission_deadline(a, 500), 2000);
  /* and admission hands it out from the level before this connection */
  admission_source_t s = v4("198.51.100.9");
  uint64_t dl = 0;
  for(int i = 0; i < 15; i++)
    assert_int_equal(admission_enter(a, &s, &dl), ADMISSION_OK);
  assert_int_equal(dl, admission_deadline(a, 14));
  assert_int_equal(dl, 6800);
  /* start = full: the full deadline until refused */
  admission_config_t flat = config(5, 0, 5, 0);
  admission_t *b = admission_new(&flat, fake_random, &r);
  assert_int_equal(admission_deadline(b, 4), 10000);
  assert_int_equal(admission_deadline(b, 5), 2000);
  admission_free(b);
  admission_free(a);
}

/* Many sources entering and leaving in random order: the counts per
 * source always match a plain array, so the table's deletion never loses
 * or duplicates an entry. */
static void test_table_churn(void **state)
{
  uint32_t seed = 777;
  enum { FULL = 64, NSRC = 200 };
  admission_config_t c = config(FULL, 0, FULL, 3);
  admission_t *a = admission_new(&c, xorshift, &seed);
  uint32_t model[NSRC] = {0}, total = 0;
  admission_source_t src[NSRC];
  char ip[64];
  for(int i = 0; i < NSRC; i++) {
    snprintf(ip, sizeof(ip), "2001:db8:%x::1", i);
    src[i] = v6(ip);
  }
  for(int step = 0; step < 100000; step++) {
    uint32_t x = xorshift(&seed), i = x % NSRC;
    if(x & 0x10000) {
      enum admission_verdict v = admission_enter(a, &src[i], NULL);
      enum admission_verdict want = total >= FULL   ? ADMISSION_FULL
                                    : model[i] >= 3 ? ADMISSION_PER_SOURCE
                                                    : ADMISSION_OK;
      assert_int_equal(v, want);
      if(v == ADMISSION_OK) {
        model[i]++;
        total++;
      }
    } else if(model[i]) {
      admission_leave(a, &src[i]);
      model[i]--;
      total--;
    }
    if(step % 997 == 0)
      for(int k = 0; k < NSRC; k++)
        assert_int_equal(admission_source_count(a, &src[k]), model[k]);
  }
  assert_int_equal(admission_in_progress(a), total);
  admission_free(a);
}

static void test_refusal_log_rate_limit(void **state)
{
  fake_random_t r = {0};
  admission_config_t c = config(1, 0, 1, 0);
  admission_t *a = admission_new(&c, fake_random, &r);
  /* the first refusal of a kind is logged at once */
  assert_int_equal(admission_refusal_to_log(a, ADMISSION_PER_SOURCE, 5000), 1);
  /* then at most one line a second, carrying the count held back */
  for(int i = 0; i < 9; i++)
    assert_int_equal(
        admission_refusal_to_log(a, ADMISSION_PER_SOURCE, 5000 + i * 100), 0);
  /* another kind has its own second */
  assert_int_equal(admission_refusal_to_log(a, ADMISSION_FULL, 5500), 1);
  assert_int_equal(admission_refusal_to_log(a, ADMISSION_PER_SOURCE, 6000),
                   10);
  assert_int_equal(admission_refusal_to_log(a, ADMISSION_PER_SOURCE, 6999), 0);
  assert_int_equal(admission_refusal_to_log(a, ADMISSION_PER_SOURCE, 7000), 2);
  assert_int_equal(admission_refusal_to_log(a, ADMISSION_NVERDICTS, 7000), 0);
  assert_string_equal(admission_verdict_name(ADMISSION_EARLY_DROP),
                      "early_drop");
  assert_string_equal(admission_verdict_name(ADMISSION_FULL),
                      "max_handshakes");
  assert_string_equal(admission_verdict_name(ADMISSION_PER_SOURCE),
                      "per_source");
  assert_string_equal(admission_verdict_name(ADMISSION_EVICTED), "evicted");
  assert_int_equal(admission_refusal_to_log(a, ADMISSION_EVICTED, 7000), 1);
  admission_free(a);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_full_refuses_and_leave_frees),
      cmocka_unit_test(test_per_source_ipv4),
      cmocka_unit_test(test_per_source_holds_when_replacing),
      cmocka_unit_test(test_sources_v6_by_64_and_mapped),
      cmocka_unit_test(test_early_drop_curve),
      cmocka_unit_test(test_early_drop_rate_statistics),
      cmocka_unit_test(test_deadline_shrinks),
      cmocka_unit_test(test_table_churn),
      cmocka_unit_test(test_refusal_log_rate_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
