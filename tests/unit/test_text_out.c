/* test_text_out.c - text into a fixed buffer (common/text_out.h): what
 * fits is written, the length counts on, overflow is reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/text_out.h"

static void test_fits(void **state)
{
  (void)state;
  char buf[16];
  text_out_t o;
  text_out_init(&o, buf, sizeof(buf));
  text_out_str(&o, "GET / ");
  text_out_put(&o, "HTTP/1.1xyz", 8);
  assert_int_equal(o.len, 14);
  assert_memory_equal(buf, "GET / HTTP/1.1", 14);
  assert_false(text_out_overflowed(&o));
  text_out_str(&o, "\r\n"); /* exactly full */
  assert_int_equal(o.len, 16);
  assert_false(text_out_overflowed(&o));
}

static void test_overflow_counts_on(void **state)
{
  (void)state;
  char buf[8];
  memset(buf, '#', sizeof(buf));
  text_out_t o;
  text_out_init(&o, buf, 5);
  text_out_str(&o, "abc");
  text_out_str(&o, "defgh"); /* "de" fits */
  assert_true(text_out_overflowed(&o));
  assert_int_equal(o.len, 8); /* what it would have taken */
  assert_memory_equal(buf, "abcde###", 8);
  text_out_str(&o, "ij"); /* nothing more is written */
  assert_int_equal(o.len, 10);
  assert_memory_equal(buf, "abcde###", 8);
}

static void test_empty_buffer(void **state)
{
  (void)state;
  text_out_t o;
  text_out_init(&o, NULL, 0);
  text_out_str(&o, "");
  assert_false(text_out_overflowed(&o));
  text_out_str(&o, "x");
  assert_true(text_out_overflowed(&o));
  assert_int_equal(o.len, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fits),
      cmocka_unit_test(test_overflow_counts_on),
      cmocka_unit_test(test_empty_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
