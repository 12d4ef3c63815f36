/*
 * test_api.c - the codes beacon.h documents for the calls that fail
 * before any connection: configuration setters, beacon_tunnel_new()'s
 * checks, beacon_dial()'s argument checks, and the error helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"

static void test_add_relay(void **state)
{
  beacon_config_t *cfg = beacon_config_new();
  assert_non_null(cfg);
  assert_int_equal(beacon_config_add_relay(NULL, "a:1"), BEACON_EINVAL);
  assert_int_equal(beacon_config_add_relay(cfg, NULL), BEACON_EINVAL);
  assert_int_equal(beacon_config_add_relay(cfg, "no-port"), BEACON_EINVAL);
  char big[300];
  memset(big, 'a', sizeof(big));
  strcpy(big + sizeof(big) - 4, ":1");
  assert_int_equal(beacon_config_add_relay(cfg, big), BEACON_ETOOLONG);
  beacon_config_free(cfg);
  /* srv:NAME in the first hop only: inner hops resolve nothing */
  cfg = beacon_config_new();
  assert_non_null(cfg);
  assert_int_equal(beacon_config_add_relay(cfg, "srv:_beacon._tcp.example"),
                   0);
  assert_int_equal(beacon_config_add_relay(cfg, "a:1,srv:_b._tcp.example"),
                   BEACON_EINVAL);
  assert_int_equal(beacon_config_add_relay(cfg, "a:1"), 0);
  beacon_config_free(cfg);
  cfg = beacon_config_new();
  assert_non_null(cfg);
  for(int i = 0; i < 8; i++)
    assert_int_equal(beacon_config_add_relay(cfg, "[::1]:8444"), 0);
  assert_int_equal(beacon_config_add_relay(cfg, "relay:8444"), BEACON_ELIMIT);
  beacon_config_free(cfg);
  beacon_config_free(NULL);
}

static void test_identity(void **state)
{
  beacon_config_t *cfg = beacon_config_new();
  assert_non_null(cfg);
  assert_int_equal(beacon_config_set_identity(cfg, "c", NULL, "a"),
                   BEACON_EINVAL);
  assert_int_equal(beacon_config_set_identity(NULL, "c", "k", "a"),
                   BEACON_EINVAL);
  assert_int_equal(beacon_config_set_identity(cfg, "c", "k", "a"), 0);
  assert_int_equal(beacon_config_set_dir(cfg, NULL), BEACON_EINVAL);
  char *dir = malloc(5000);
  assert_non_null(dir);
  memset(dir, 'd', 4999);
  dir[4999] = 0;
  assert_int_equal(beacon_config_set_dir(cfg, dir), BEACON_ETOOLONG);
  free(dir);
  assert_int_equal(beacon_config_set_dir(cfg, "/nonexistent"), 0);
  beacon_config_free(cfg);
}

static void test_relay_trust(void **state)
{
  beacon_config_t *cfg = beacon_config_new();
  assert_non_null(cfg);
  assert_int_equal(beacon_config_set_crl(NULL, "crl.pem"), BEACON_EINVAL);
  assert_int_equal(beacon_config_set_crl(cfg, "crl.pem"), 0);
  assert_int_equal(beacon_config_set_crl(cfg, NULL), 0); /* removed */
  assert_int_equal(beacon_config_set_crl(cfg, "crl2.pem"), 0);
  const char *pin =
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  assert_int_equal(beacon_config_add_relay_spki(NULL, pin), BEACON_EINVAL);
  assert_int_equal(beacon_config_add_relay_spki(cfg, NULL), BEACON_EINVAL);
  assert_int_equal(beacon_config_add_relay_spki(cfg, "abcd"), BEACON_EINVAL);
  char p[65];
  for(int i = 0; i < 16; i++) {
    memcpy(p, pin, sizeof(p));
    p[0] = "0123456789abcdef"[i];
    assert_int_equal(beacon_config_add_relay_spki(cfg, p), 0);
  }
  p[1] = 'f';
  assert_int_equal(beacon_config_add_relay_spki(cfg, p), BEACON_ELIMIT);
  beacon_config_free(cfg); /* frees the CRL path (ASan) */
}

static void ignore_log(int level, const char *event, const char *message,
                       void *ud)
{
  (void)level;
  (void)event;
  (void)message;
  (void)ud;
}

static void test_set_log(void **state)
{
  beacon_config_t *cfg = beacon_config_new();
  assert_non_null(cfg);
  assert_int_equal(beacon_config_set_log(NULL, ignore_log, NULL),
                   BEACON_EINVAL);
  assert_int_equal(beacon_config_set_log(cfg, ignore_log, cfg), 0);
  assert_int_equal(beacon_config_set_log(cfg, NULL, NULL), 0); /* default */
  beacon_config_free(cfg);
}

static void test_tunnel_new(void **state)
{
  beacon_tunnel_t *t = (beacon_tunnel_t *)&t;
  beacon_error_t err;
  beacon_config_t *cfg = beacon_config_new();
  assert_non_null(cfg);
  assert_int_equal(beacon_tunnel_new(NULL, cfg, &err), BEACON_EINVAL);
  assert_int_equal(err.code, BEACON_EINVAL);
  assert_int_equal(beacon_tunnel_new(&t, NULL, NULL), BEACON_ECONFIG);
  assert_null(t);
  assert_int_equal(beacon_tunnel_new(&t, cfg, &err), BEACON_ECONFIG);
  assert_int_equal(err.code, BEACON_ECONFIG);
  assert_int_equal(beacon_config_add_relay(cfg, "127.0.0.1:9"), 0);
  assert_int_equal(beacon_tunnel_new(&t, cfg, &err), BEACON_ECONFIG);
  /* Files that do not exist fail here, not at the first dial. */
  assert_int_equal(beacon_config_set_dir(cfg, "/nonexistent"), 0);
  assert_int_equal(beacon_tunnel_new(&t, cfg, &err), BEACON_ECONFIG);
  assert_null(t);
  assert_true(err.message[0] != 0);
  beacon_config_free(cfg);
}

static void test_dial_arguments(void **state)
{
  beacon_error_t err;
  assert_int_equal(beacon_dial(NULL, "a:1", 0, &err), BEACON_EINVAL);
  assert_int_equal(err.code, BEACON_EINVAL);
}

static void test_error_helpers(void **state)
{
  assert_string_equal(beacon_err_name(BEACON_EPROTO), "EPROTO");
  assert_string_equal(beacon_err_name(-1), "EUNKNOWN");
  assert_string_equal(beacon_strerror(BEACON_ENOMEM), "out of memory");
  assert_string_equal(beacon_strerror(12345), "unknown error");
  const int fatal[] = {BEACON_EPROTO, BEACON_ETLS, BEACON_EVERIFY,
                       BEACON_ETIMEDOUT, BEACON_ENOMEM};
  for(size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
    assert_int_equal(beacon_is_fatal(fatal[i]), 1);
  assert_int_equal(beacon_is_fatal(0), 0);
  assert_int_equal(beacon_is_fatal(BEACON_EINVAL), 0);
  assert_int_equal(beacon_is_fatal(BEACON_EREFUSED), 0);
}

static void test_version(void **state)
{
  assert_string_equal(beacon_version(), BEACON_VERSION);
  assert_int_equal(beacon_version_number(), BEACON_VERSION_NUMBER);
  assert_int_equal(BEACON_VERSION_NUMBER >> 16, BEACON_VERSION_MAJOR);
  char want[32];
  snprintf(want, sizeof(want), "%d.%d.%d", BEACON_VERSION_MAJOR,
           BEACON_VERSION_MINOR, BEACON_VERSION_PATCH);
  assert_string_equal(BEACON_VERSION, want);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_relay),
      cmocka_unit_test(test_identity),
      cmocka_unit_test(test_set_log),
      cmocka_unit_test(test_relay_trust),
      cmocka_unit_test(test_tunnel_new),
      cmocka_unit_test(test_dial_arguments),
      cmocka_unit_test(test_error_helpers),
      cmocka_unit_test(test_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
