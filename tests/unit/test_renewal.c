/* test_renewal.c - when a controller moves to a renewed certificate
 * (client/renewal.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/renewal.h"

#define HOUR 3600

static void test_long_lived_rotates_at_two_thirds(void **state)
{
  (void)state;
  /* 24 h: two thirds (16 h) is sooner than 5 minutes before the end */
  assert_int_equal(renewal_rotate_at(1000, 1000 + 24 * HOUR),
                   1000 + 16 * HOUR);
  /* 90 days: the same rule */
  assert_int_equal(renewal_rotate_at(0 + 1, 1 + 90 * 24 * HOUR),
                   1 + 60 * 24 * HOUR);
}

static void test_short_lived_rotates_at_lead_or_start(void **state)
{
  (void)state;
  /* 10 minutes: two thirds is 400 s, 5 minutes before the end is 300 s:
   * the sooner wins */
  assert_int_equal(renewal_rotate_at(5000, 5600), 5300);
  /* 12 minutes: the lead (420 s) is sooner than two thirds (480 s) */
  assert_int_equal(renewal_rotate_at(5000, 5720), 5420);
  /* 90 s: the lead lies before notBefore, so due from the start */
  assert_int_equal(renewal_rotate_at(5000, 5090), 5000);
  /* 1 s lifetime, and no lifetime at all */
  assert_int_equal(renewal_rotate_at(5000, 5001), 5000);
  assert_int_equal(renewal_rotate_at(5000, 5000), 5000);
}

static void test_odd_lifetimes_do_not_overflow(void **state)
{
  (void)state;
  /* two thirds of 3 s is 2 s; of 4 s, 2 s (rounded down); of a huge
   * lifetime, no overflow */
  assert_int_equal(renewal_rotate_at(100, 103), 100); /* lead sooner */
  int64_t big = INT64_MAX / 2;
  int64_t at = renewal_rotate_at(1, big);
  assert_true(at > 1 && at < big - RENEWAL_LEAD_SECONDS);
}

static void test_unknown_dates(void **state)
{
  (void)state;
  assert_int_equal(renewal_rotate_at(1000, 0), 0);
  /* unknown notBefore: only the lead counts, never before the end... */
  assert_int_equal(renewal_rotate_at(0, 10000), 10000);
  /* ...and a notBefore after notAfter is treated the same */
  assert_int_equal(renewal_rotate_at(20000, 10000), 10000);
}

static void test_decide(void **state)
{
  (void)state;
  int64_t nb = 1000, na = 1000 + 24 * HOUR, due = 1000 + 16 * HOUR;
  /* before the rotation time: wait, renewed or not */
  assert_int_equal(renewal_decide(nb, na, na + HOUR, due - 1), RENEWAL_WAIT);
  assert_int_equal(renewal_decide(nb, na, na, due - 1), RENEWAL_WAIT);
  /* at it: rotate to a certificate that outlives the tunnel's */
  assert_int_equal(renewal_decide(nb, na, na + 1, due), RENEWAL_ROTATE);
  /* the same certificate, or an older one, is no renewal */
  assert_int_equal(renewal_decide(nb, na, na, due), RENEWAL_NO_NEWER);
  assert_int_equal(renewal_decide(nb, na, na - 5, due + HOUR),
                   RENEWAL_NO_NEWER);
  /* past notAfter it is still due (the relay drains the tunnel) */
  assert_int_equal(renewal_decide(nb, na, na + HOUR, na + 10), RENEWAL_ROTATE);
  /* unknown expiry: never due */
  assert_int_equal(renewal_decide(nb, 0, na, na), RENEWAL_WAIT);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_long_lived_rotates_at_two_thirds),
      cmocka_unit_test(test_short_lived_rotates_at_lead_or_start),
      cmocka_unit_test(test_odd_lifetimes_do_not_overflow),
      cmocka_unit_test(test_unknown_dates),
      cmocka_unit_test(test_decide),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
