/*
 * test_cert_deadline.c - when a tunnel ends because a certificate does
 * (src/relay/cert_deadline.c): the controller's notAfter starts the
 * drain and grace ends it; the relay's own certificate ends the drain at
 * its notAfter; a renewed relay certificate moves the deadline; the
 * timer never sleeps past CERT_DEADLINE_LOOK_MS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "relay/cert_deadline.h"

#define S 1000 /* ms */
#define T0 ((int64_t)1700000000 * S)

static void test_controller_expiry(void **state)
{
  (void)state;
  /* controller ends at T0, relay's own far later, grace 30 s */
  cert_deadline_t d = cert_deadline_of(T0, T0 + 86400 * S, 30 * S);
  assert_int_equal(d.why, RELAY_CERT_END_EXPIRED);
  assert_int_equal(d.go_away_at, T0);
  assert_int_equal(d.close_at, T0 + 30 * S);
  assert_int_equal(cert_deadline_step(&d, T0 - 1, 0), CERT_DEADLINE_WAIT);
  assert_int_equal(cert_deadline_next(&d, 0), T0);
  assert_int_equal(cert_deadline_step(&d, T0, 0), CERT_DEADLINE_GO_AWAY);
  /* once Go Away went out, wait for the grace to run out */
  assert_int_equal(cert_deadline_step(&d, T0 + 5 * S, 1), CERT_DEADLINE_WAIT);
  assert_int_equal(cert_deadline_next(&d, 1), T0 + 30 * S);
  assert_int_equal(cert_deadline_step(&d, T0 + 30 * S, 1),
                   CERT_DEADLINE_CLOSE);
  /* a look that comes late (a suspended host) closes at once */
  assert_int_equal(cert_deadline_step(&d, T0 + 99 * S, 0),
                   CERT_DEADLINE_CLOSE);
}

static void test_relay_cert_first(void **state)
{
  (void)state;
  /* the relay's own ends before the controller's + grace: its drain
   * is over by its notAfter */
  cert_deadline_t d = cert_deadline_of(T0 + 3600 * S, T0, 30 * S);
  assert_int_equal(d.why, RELAY_CERT_END_OWN_EXPIRING);
  assert_int_equal(d.go_away_at, T0 - 30 * S);
  assert_int_equal(d.close_at, T0);
  assert_int_equal(cert_deadline_step(&d, T0 - 31 * S, 0), CERT_DEADLINE_WAIT);
  assert_int_equal(cert_deadline_step(&d, T0 - 30 * S, 0),
                   CERT_DEADLINE_GO_AWAY);
  assert_int_equal(cert_deadline_step(&d, T0, 1), CERT_DEADLINE_CLOSE);
  /* a reload with a renewed one moves everything back to the
   * controller's schedule */
  cert_deadline_t r = cert_deadline_of(T0 + 3600 * S, T0 + 86400 * S, 30 * S);
  assert_int_equal(r.why, RELAY_CERT_END_EXPIRED);
  assert_int_equal(cert_deadline_step(&r, T0 - 30 * S, 0), CERT_DEADLINE_WAIT);
}

static void test_unknown_dates(void **state)
{
  (void)state;
  cert_deadline_t d = cert_deadline_of(0, 0, 30 * S);
  assert_int_equal(d.go_away_at, INT64_MAX);
  assert_int_equal(d.close_at, INT64_MAX);
  assert_int_equal(cert_deadline_step(&d, T0, 0), CERT_DEADLINE_WAIT);
  assert_int_equal(cert_deadline_next(&d, 0), INT64_MAX);
  /* only the relay's own known */
  d = cert_deadline_of(0, T0, 10 * S);
  assert_int_equal(d.why, RELAY_CERT_END_OWN_EXPIRING);
  assert_int_equal(d.close_at, T0);
  /* a huge grace does not overflow */
  d = cert_deadline_of(T0, 0, UINT64_MAX);
  assert_true(d.close_at > T0);
  assert_int_equal(cert_deadline_step(&d, T0, 1), CERT_DEADLINE_WAIT);
  /* no grace: Go Away and close at the same instant */
  d = cert_deadline_of(T0, 0, 0);
  assert_int_equal(cert_deadline_step(&d, T0, 0), CERT_DEADLINE_CLOSE);
}

static void test_delay(void **state)
{
  (void)state;
  assert_int_equal(cert_deadline_delay_ms(T0, T0), 0);
  assert_int_equal(cert_deadline_delay_ms(T0 - 5, T0), 0);
  assert_int_equal(cert_deadline_delay_ms(T0 + 250, T0), 250);
  assert_int_equal(cert_deadline_delay_ms(T0 + 3600 * S, T0),
                   CERT_DEADLINE_LOOK_MS);
  assert_int_equal(cert_deadline_delay_ms(INT64_MAX, T0),
                   CERT_DEADLINE_LOOK_MS);
}

static void test_names(void **state)
{
  (void)state;
  assert_string_equal(relay_cert_end_name(RELAY_CERT_END_REVOKED), "revoked");
  assert_string_equal(relay_cert_end_name(RELAY_CERT_END_NOT_ALLOWED),
                      "not_allowed");
  assert_string_equal(relay_cert_end_name(RELAY_CERT_END_EXPIRED),
                      "cert_expired");
  assert_string_equal(relay_cert_end_name(RELAY_CERT_END_OWN_EXPIRING),
                      "relay_cert_expiring");
  assert_string_equal(relay_cert_end_name(RELAY_CERT_END_COUNT), "?");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_controller_expiry),
      cmocka_unit_test(test_relay_cert_first),
      cmocka_unit_test(test_unknown_dates),
      cmocka_unit_test(test_delay),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
