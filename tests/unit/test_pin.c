/* test_pin.c - relay key pins (tls/pin.h): the syntax and the list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "tls/pin.h"

#define PIN_A                                                                 \
  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_parse_forms(void **state)
{
  (void)state;
  char hex[65];
  assert_int_equal(tls_pin_parse(PIN_A, hex), 0);
  assert_string_equal(hex, PIN_A);
  /* upper case, and the colon pairs `openssl dgst -c` prints */
  assert_int_equal(
      tls_pin_parse(
          "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
          hex),
      0);
  assert_string_equal(hex, PIN_A);
  char colons[200];
  size_t k = 0;
  for(int i = 0; i < 64; i += 2) {
    if(i)
      colons[k++] = ':';
    colons[k++] = PIN_A[i];
    colons[k++] = PIN_A[i + 1];
  }
  colons[k] = '\0';
  assert_int_equal(tls_pin_parse(colons, hex), 0);
  assert_string_equal(hex, PIN_A);
}

static void test_parse_refusals(void **state)
{
  (void)state;
  char hex[65];
  const char *bad[] = {
      "",
      "abc",
      PIN_A "0", /* 65 digits */
      PIN_A + 1, /* 63 */
      "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      ":" PIN_A, /* a colon first */
  };
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(tls_pin_parse(bad[i], hex), BEACON_EINVAL);
  /* colons must sit between pairs: not after one digit, not doubled,
   * not last */
  assert_int_equal(
      tls_pin_parse(
          "0:123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
          hex),
      BEACON_EINVAL);
  assert_int_equal(
      tls_pin_parse(
          "01::23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
          hex),
      BEACON_EINVAL);
  assert_int_equal(tls_pin_parse(PIN_A ":", hex), BEACON_EINVAL);
  assert_int_equal(tls_pin_parse(NULL, hex), BEACON_EINVAL);
}

static void test_list(void **state)
{
  (void)state;
  tls_pins_t p;
  memset(&p, 0, sizeof(p));
  assert_int_equal(tls_pins_add(&p, PIN_A), 0);
  assert_int_equal(tls_pins_add(&p, PIN_A), 0); /* held once */
  assert_int_equal(p.n, 1);
  assert_int_equal(tls_pins_add(&p, "nope"), BEACON_EINVAL);
  char pin[65];
  for(int i = 1; i < TLS_PINS_MAX; i++) {
    memcpy(pin, PIN_A, sizeof(pin));
    pin[0] = "0123456789abcdef"[i];
    assert_int_equal(tls_pins_add(&p, pin), 0);
  }
  assert_int_equal(p.n, TLS_PINS_MAX);
  memcpy(pin, PIN_A, sizeof(pin));
  pin[1] = 'f';
  assert_int_equal(tls_pins_add(&p, pin), BEACON_ELIMIT);
  /* no pins: anything passes, without hashing */
  tls_pins_t none = {0};
  char presented[65];
  assert_int_equal(tls_pins_verify(&none, NULL, presented), 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_forms),
      cmocka_unit_test(test_parse_refusals),
      cmocka_unit_test(test_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
