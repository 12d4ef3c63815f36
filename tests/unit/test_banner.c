/* test_banner.c - naming what answered a TLS handshake without TLS
 * (tls/banner.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tls/banner.h"

static const char *guess(const char *s)
{
  return tls_banner_guess((const uint8_t *)s, strlen(s));
}

static void test_tls_records_are_not_banners(void **state)
{
  (void)state;
  static const uint8_t hello[] = {0x16, 0x03, 0x03, 0x00, 0x7a};
  static const uint8_t alert[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46};
  assert_null(tls_banner_guess(hello, sizeof(hello)));
  assert_null(tls_banner_guess(alert, sizeof(alert)));
  assert_null(tls_banner_guess(hello, 1)); /* too short to tell */
  assert_null(tls_banner_guess(hello, 0));
}

static void test_known_servers(void **state)
{
  (void)state;
  assert_string_equal(guess("HTTP/1.1 400 Bad Request\r\n"), "an HTTP server");
  assert_string_equal(guess("SSH-2.0-OpenSSH_9.2p1\r\n"), "an SSH server");
  assert_string_equal(guess("-ERR unknown command"), "a Redis server");
  assert_string_equal(guess("-NOAUTH Authentication required."),
                      "a Redis server");
}

static void test_anything_else(void **state)
{
  (void)state;
  assert_string_equal(guess("220 smtp.example ESMTP\r\n"),
                      "a peer that does not speak TLS");
  static const uint8_t v2[] = {0x16, 0x02};
  assert_string_equal(tls_banner_guess(v2, sizeof(v2)),
                      "a peer that does not speak TLS");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_records_are_not_banners),
      cmocka_unit_test(test_known_servers),
      cmocka_unit_test(test_anything_else),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
