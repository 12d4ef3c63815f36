/*
 * test_error.c - error_from_os(), the one mapping from errno values and
 * libuv statuses to BEACON_E* codes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <uv.h>

#include "common/error.h"

static void test_maps(void **state)
{
  assert_int_equal(error_from_os(0), 0);
  assert_int_equal(error_from_os(7), 7);
  assert_int_equal(error_from_os(-ECONNREFUSED), BEACON_EREFUSED);
  assert_int_equal(error_from_os(UV_ECONNREFUSED), BEACON_EREFUSED);
  assert_int_equal(error_from_os(UV_ETIMEDOUT), BEACON_ETIMEDOUT);
  assert_int_equal(error_from_os(-ENOMEM), BEACON_ENOMEM);
  assert_int_equal(error_from_os(UV_EAI_MEMORY), BEACON_ENOMEM);
  assert_int_equal(error_from_os(UV_ECONNRESET), BEACON_ERESET);
  assert_int_equal(error_from_os(UV_EPIPE), BEACON_ERESET);
  assert_int_equal(error_from_os(UV_EOF), BEACON_ECLOSED);
  assert_int_equal(error_from_os(UV_EAI_NONAME), BEACON_ENOTFOUND);
  assert_int_equal(error_from_os(UV_EAI_AGAIN), BEACON_ENOTFOUND);
  assert_int_equal(error_from_os(-ENAMETOOLONG), BEACON_ETOOLONG);
  assert_int_equal(error_from_os(UV_EHOSTUNREACH), BEACON_EIO);
  assert_int_equal(error_from_os(-EACCES), BEACON_EIO);
}

static void test_beacon_codes_pass_through(void **state)
{
  for(int c = -599; c <= -500; c++)
    assert_int_equal(error_from_os(c), c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_maps),
      cmocka_unit_test(test_beacon_codes_pass_through),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
