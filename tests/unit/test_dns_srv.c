/* test_dns_srv.c - the answer to an SRV query (dial/dns_srv.h): the
 * records c-ares parses, with the smallest TTL read beside them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dial/dns_srv.h"

/* _beacon._tcp.test: SRV 10 60 8456 a.test (TTL 30), SRV 10 20 8456
 * b.test (60), SRV 20 0 9000 c.test (5), and an A record (30) that
 * is not counted. */
static const uint8_t three[] = {
    0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x5f, 0x62, 0x65, 0x61, 0x63, 0x6f, 0x6e, 0x04, 0x5f, 0x74, 0x63,
    0x70, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x21, 0x00, 0x01, 0xc0,
    0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x0e, 0x00,
    0x0a, 0x00, 0x3c, 0x21, 0x08, 0x01, 0x61, 0x04, 0x74, 0x65, 0x73, 0x74,
    0x00, 0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00,
    0x0e, 0x00, 0x0a, 0x00, 0x14, 0x21, 0x08, 0x01, 0x62, 0x04, 0x74, 0x65,
    0x73, 0x74, 0x00, 0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x05, 0x00, 0x0e, 0x00, 0x14, 0x00, 0x00, 0x23, 0x28, 0x01, 0x63, 0x04,
    0x74, 0x65, 0x73, 0x74, 0x00};

static void test_records_and_ttl(void **state)
{
  (void)state;
  dns_srv_t out[DNS_SRV_MAX];
  size_t n = 0;
  uint32_t ttl = 0;
  assert_int_equal(
      dns_srv_parse(three, sizeof(three), out, DNS_SRV_MAX, &n, &ttl), 0);
  assert_int_equal(n, 3);
  assert_int_equal(ttl, 5);
  int seen = 0;
  for(size_t i = 0; i < n; i++) {
    if(!strcmp(out[i].host, "a.test")) {
      assert_int_equal(out[i].priority, 10);
      assert_int_equal(out[i].weight, 60);
      assert_int_equal(out[i].port, 8456);
      seen |= 1;
    } else if(!strcmp(out[i].host, "b.test")) {
      assert_int_equal(out[i].weight, 20);
      seen |= 2;
    } else if(!strcmp(out[i].host, "c.test")) {
      assert_int_equal(out[i].priority, 20);
      assert_int_equal(out[i].port, 9000);
      seen |= 4;
    }
  }
  assert_int_equal(seen, 7);
  /* the cap holds */
  assert_int_equal(dns_srv_parse(three, sizeof(three), out, 1, &n, &ttl), 0);
  assert_int_equal(n, 1);
}

static void test_truncated_is_an_error(void **state)
{
  (void)state;
  dns_srv_t out[DNS_SRV_MAX];
  size_t n = 7;
  uint32_t ttl = 7;
  for(size_t len = 0; len < sizeof(three); len++) {
    int rc = dns_srv_parse(three, len, out, DNS_SRV_MAX, &n, &ttl);
    assert_true(rc == BEACON_EINVAL || rc == BEACON_ENOTFOUND);
    assert_int_equal(n, 0);
  }
}

/* A target with a dot inside a label (c-ares writes it "\\.") is no
 * name a relay has: that record is left out, the others kept. */
static void test_odd_target_is_skipped(void **state)
{
  (void)state;
  uint8_t odd[sizeof(three)];
  memcpy(odd, three, sizeof(odd));
  size_t at = 0;
  while(at + 1 < sizeof(odd) && !(odd[at] == 0x01 && odd[at + 1] == 0x61))
    at++;
  assert_true(at + 1 < sizeof(odd));
  odd[at + 1] = '.'; /* a.test -> "\..test" */
  dns_srv_t out[DNS_SRV_MAX];
  size_t n = 0;
  uint32_t ttl = 0;
  assert_int_equal(dns_srv_parse(odd, sizeof(odd), out, DNS_SRV_MAX, &n, &ttl),
                   0);
  assert_int_equal(n, 2);
  for(size_t i = 0; i < n; i++)
    assert_true(!strcmp(out[i].host, "b.test") ||
                !strcmp(out[i].host, "c.test"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_records_and_ttl),
      cmocka_unit_test(test_truncated_is_an_error),
      cmocka_unit_test(test_odd_target_is_skipped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
