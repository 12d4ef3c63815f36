/* test_hostport.c - the listen-address parser (common/hostport.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/hostport.h"

static void ok(const char *s, int flags, const char *host, uint16_t port)
{
  char h[64];
  uint16_t p = 0;
  assert_int_equal(hostport_split(s, flags, h, sizeof(h), &p), 0);
  assert_string_equal(h, host);
  assert_int_equal(p, port);
}

static void bad(const char *s, int flags)
{
  char h[64];
  uint16_t p;
  assert_int_equal(hostport_split(s, flags, h, sizeof(h), &p), BEACON_EINVAL);
}

static void test_forms(void **state)
{
  (void)state;
  ok("127.0.0.1:8456", 0, "127.0.0.1", 8456);
  ok("relay.example:1", 0, "relay.example", 1);
  ok("[::1]:65535", 0, "::1", 65535);
  ok(":9100", 0, "", 9100);
  ok("9100", HOSTPORT_BARE_PORT, "", 9100);
  ok("0", HOSTPORT_BARE_PORT, "", 0);
}

static void test_refusals(void **state)
{
  (void)state;
  bad("9100", 0); /* a bare port only where the caller allows it */
  bad("", HOSTPORT_BARE_PORT);
  bad("::1:80", 0); /* IPv6 needs brackets */
  bad("[::1]80", 0);
  bad("[]:80", 0);
  bad("[::1:80", 0);
  bad("host:", 0);
  bad("host:65536", 0);
  bad("host:-1", 0);
  bad("host:80x", 0);
  bad("host:+80", 0);
  char h[4];
  uint16_t p;
  assert_int_equal(hostport_split("toolong:1", 0, h, sizeof(h), &p),
                   BEACON_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forms),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
