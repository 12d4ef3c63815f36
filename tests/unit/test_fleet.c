/* test_fleet.c - the sans-I/O decisions of fleet discovery
 * (client/fleet.h): when a name is looked up again, and which members
 * an answer adds and removes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/fleet.h"

static fleet_addr_t at(const char *host, uint16_t port)
{
  fleet_addr_t a;
  memset(&a, 0, sizeof(a));
  strcpy(a.host, host);
  a.port = port;
  return a;
}

static void test_ttl_is_clamped(void **state)
{
  (void)state;
  assert_int_equal(fleet_next_lookup_ms(1, 60, 5, 300), 60000);
  assert_int_equal(fleet_next_lookup_ms(1, 0, 5, 300), 5000); /* hosts file */
  assert_int_equal(fleet_next_lookup_ms(1, 1, 5, 300), 5000);
  assert_int_equal(fleet_next_lookup_ms(1, 86400, 5, 300), 300000);
  assert_int_equal(fleet_next_lookup_ms(1, 86400, 5, 2),
                   5000); /* floor wins */
  assert_int_equal(fleet_next_lookup_ms(0, 600, 5, 300), FLEET_RETRY_S * 1000);
  assert_int_equal(fleet_next_lookup_ms(0, 600, 1, 300), 1000);
}

static void test_answer_moves_members(void **state)
{
  (void)state;
  fleet_addr_t cur[2] = {at("127.0.0.1", 8456), at("127.0.0.2", 8456)};
  fleet_addr_t ans[2] = {at("127.0.0.2", 8456), at("127.0.0.3", 8456)};
  int keep[2], fresh[2];
  assert_int_equal(fleet_compare(cur, 2, ans, 2, keep, fresh), 2);
  assert_int_equal(keep[0], 0);
  assert_int_equal(keep[1], 1);
  assert_int_equal(fresh[0], 0);
  assert_int_equal(fresh[1], 1);
}

static void test_same_answer_changes_nothing(void **state)
{
  (void)state;
  fleet_addr_t cur[2] = {at("Relay.Example", 1), at("b.example", 2)};
  fleet_addr_t ans[3] = {at("b.example", 2), at("relay.example", 1),
                         at("b.example", 2)};
  int keep[2], fresh[3];
  assert_int_equal(fleet_compare(cur, 2, ans, 3, keep, fresh), 0);
  assert_true(keep[0] && keep[1]);
  assert_false(fresh[0] || fresh[1] || fresh[2]);
}

/* A port is part of a member: the same host on another port is new. */
static void test_port_counts(void **state)
{
  (void)state;
  fleet_addr_t cur[1] = {at("a", 1)};
  fleet_addr_t ans[1] = {at("a", 2)};
  int keep[1], fresh[1];
  assert_int_equal(fleet_compare(cur, 1, ans, 1, keep, fresh), 2);
  assert_false(keep[0]);
  assert_true(fresh[0]);
}

/* An empty answer keeps everything: DNS trouble must not empty a pool. */
static void test_empty_answer_keeps_all(void **state)
{
  (void)state;
  fleet_addr_t cur[2] = {at("a", 1), at("b", 1)};
  int keep[2] = {0, 0}, fresh[1];
  assert_int_equal(fleet_compare(cur, 2, NULL, 0, keep, fresh), 0);
  assert_true(keep[0] && keep[1]);
}

static void test_first_answer_adds_all(void **state)
{
  (void)state;
  fleet_addr_t ans[2] = {at("a", 1), at("b", 1)};
  int fresh[2];
  assert_int_equal(fleet_compare(NULL, 0, ans, 2, NULL, fresh), 2);
  assert_true(fresh[0] && fresh[1]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ttl_is_clamped),
      cmocka_unit_test(test_answer_moves_members),
      cmocka_unit_test(test_same_answer_changes_nothing),
      cmocka_unit_test(test_port_counts),
      cmocka_unit_test(test_empty_answer_keeps_all),
      cmocka_unit_test(test_first_answer_adds_all),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
