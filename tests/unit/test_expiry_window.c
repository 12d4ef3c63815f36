/* test_expiry_window.c - when a certificate's end is warned about
 * (common/expiry_window.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/expiry_window.h"

#define HOUR 3600
#define DAY (24 * HOUR)

static void test_long_lived_keeps_fixed(void **state)
{
  (void)state;
  /* a year: the fixed 30 days, as before */
  assert_int_equal(expiry_window(0 + DAY, DAY + 365 * DAY, 30 * DAY),
                   30 * DAY);
  /* exactly three times the fixed time: still the fixed time */
  assert_int_equal(expiry_window(DAY, DAY + 90 * DAY, 30 * DAY), 30 * DAY);
  /* unknown start: the fixed time */
  assert_int_equal(expiry_window(0, 100 * DAY, 14 * DAY), 14 * DAY);
  assert_int_equal(expiry_window(5 * DAY, 5 * DAY, 14 * DAY), 14 * DAY);
}

static void test_short_lived_last_third(void **state)
{
  (void)state;
  int64_t nb = 1000 * DAY, na = nb + 24 * HOUR;
  assert_int_equal(expiry_window(nb, na, 30 * DAY), 8 * HOUR);
  assert_int_equal(expiry_window(nb, nb + 30 * DAY, 14 * DAY), 10 * DAY);
  /* renewed every 8 hours, a 24-hour certificate has 16 hours or more
   * left: quiet; one renewal missed (16 h old): due */
  assert_false(expiry_window_due(nb, na, 30 * DAY, nb));
  assert_false(expiry_window_due(nb, na, 30 * DAY, nb + 8 * HOUR));
  assert_false(expiry_window_due(nb, na, 30 * DAY, nb + 16 * HOUR));
  assert_true(expiry_window_due(nb, na, 30 * DAY, nb + 16 * HOUR + 1));
  assert_true(expiry_window_due(nb, na, 30 * DAY, na + HOUR)); /* expired */
}

static void test_unknown_end(void **state)
{
  (void)state;
  assert_false(expiry_window_due(0, 0, 30 * DAY, 1000));
  /* a year-long certificate 10 days before its end */
  assert_true(
      expiry_window_due(DAY, DAY + 365 * DAY, 30 * DAY, DAY + 355 * DAY));
  assert_false(
      expiry_window_due(DAY, DAY + 365 * DAY, 14 * DAY, DAY + 350 * DAY));
}

static void test_opens_in(void **state)
{
  (void)state;
  int64_t nb = 1000 * DAY, na = nb + 24 * HOUR;
  /* the last third of a 24-hour certificate opens 16 hours in */
  assert_int_equal(expiry_window_opens_in(nb, na, 30 * DAY, nb),
                   16 * HOUR + 1);
  for(int64_t now = nb + 16 * HOUR - 2; now < nb + 16 * HOUR + 3; now++)
    assert_int_equal(expiry_window_opens_in(nb, na, 30 * DAY, now) == 0,
                     expiry_window_due(nb, na, 30 * DAY, now));
  assert_int_equal(expiry_window_opens_in(nb, na, 30 * DAY, na + DAY), 0);
  /* a year-long one: 30 days before its end */
  assert_int_equal(expiry_window_opens_in(DAY, DAY + 365 * DAY, 30 * DAY, DAY),
                   335 * DAY + 1);
  assert_int_equal(expiry_window_opens_in(0, 0, 30 * DAY, 1000), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_long_lived_keeps_fixed),
      cmocka_unit_test(test_short_lived_last_third),
      cmocka_unit_test(test_unknown_end),
      cmocka_unit_test(test_opens_in),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
