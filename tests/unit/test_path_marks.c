/*
 * test_path_marks.c - the marks below the mux by round trip
 * (src/conn/path_marks.c): unknown and long round trips keep the small
 * marks, a round trip of the millisecond clock's floor lifts them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn/path_marks.h"
#include "mux/mux.h"

static void test_far_when_unknown_or_long(void **state)
{
  static const uint64_t rtts[] = {0, PATH_NEAR_RTT_MS + 1, 50, 150};
  for(size_t i = 0; i < sizeof(rtts) / sizeof(rtts[0]); i++) {
    path_marks_t pm;
    path_marks_for(&pm, rtts[i], 256 * 1024, 1024 * 1024);
    assert_false(path_is_near(rtts[i]));
    assert_int_equal(pm.high_water, 256 * 1024);
    assert_int_equal(pm.stream_queue, MUX_STREAM_QUEUED_MAX);
    assert_int_equal(pm.notsent_lowat, PATH_FAR_NOTSENT_LOWAT);
    assert_int_equal(pm.max_window, UINT32_MAX);
  }
}

static void test_near_lifts_the_marks(void **state)
{
  path_marks_t pm;
  for(uint64_t rtt = 1; rtt <= PATH_NEAR_RTT_MS; rtt++) {
    path_marks_for(&pm, rtt, 256 * 1024, 1024 * 1024);
    assert_true(path_is_near(rtt));
    assert_int_equal(pm.high_water, 1024 * 1024);
    assert_true(pm.stream_queue > MUX_STREAM_QUEUED_MAX);
    assert_int_equal(pm.notsent_lowat, 0);
    assert_int_equal(pm.max_window, PATH_NEAR_MAX_WINDOW);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_far_when_unknown_or_long),
      cmocka_unit_test(test_near_lifts_the_marks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
