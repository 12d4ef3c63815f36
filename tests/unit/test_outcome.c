/* test_outcome.c - the one outcome table (common/outcome.h): every
 * outcome through every mapping, the classification, and the beacon/1
 * reason codes from the relay's side to the controller's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "common/outcome.h"

/* What docs/ARCHITECTURE.md "Outcomes", docs/OPERATIONS.md "Outcomes and
 * directions" and docs/PROTOCOL.md "Refusal codes" promise, row by row. */
static const struct {
  outcome_t o;
  const char *word, *label;
  uint32_t reason;
  uint8_t socks;
  int http, code;
} want[] = {
    {OUTCOME_OK, "ok", "ok", 0, 0x00, 200, 0},
    {OUTCOME_REFUSED, "dial_error", "refused", 1, 0x05, 502, BEACON_EREFUSED},
    {OUTCOME_NOT_FOUND, "dial_error", "not_found", 2, 0x04, 502,
     BEACON_ENOTFOUND},
    {OUTCOME_UNREACHABLE, "dial_error", "unreachable", 3, 0x03, 502,
     BEACON_EUNREACH},
    {OUTCOME_TARGET_TIMEOUT, "dial_error", "timeout", 4, 0x06, 504,
     BEACON_ETIMEDOUT},
    {OUTCOME_POLICY, "refused", "policy", 5, 0x02, 403, BEACON_EPOLICY},
    {OUTCOME_BAD_TARGET, "bad_target", "other", 6, 0x04, 502, BEACON_EINVAL},
    {OUTCOME_RESOURCE, "resource", "other", 7, 0x01, 503, BEACON_ELIMIT},
    {OUTCOME_DIAL_OTHER, "dial_error", "other", 3, 0x01, 502, BEACON_EUNREACH},
    {OUTCOME_REVOKED, "revoked", "tunnel", 8, 0x01, 503, BEACON_ECLOSED},
    {OUTCOME_RELAY_RESET, "refused", "refused", 0, 0x05, 502, BEACON_ERESET},
    {OUTCOME_TUNNEL, "tunnel", "tunnel", 0, 0x01, 503, BEACON_ECLOSED},
    {OUTCOME_LINE_TIMEOUT, "timeout", "other", 6, 0x01, 502, BEACON_ETIMEDOUT},
    {OUTCOME_RESET, "reset", "other", 0, 0x01, 502, BEACON_ERESET},
    {OUTCOME_RESET_BY_TARGET, "reset_by_target", "other", 0, 0x01, 502,
     BEACON_ERESET},
    {OUTCOME_RESET_BY_CLIENT, "reset_by_client", "other", 0, 0x01, 502,
     BEACON_EIO},
    {OUTCOME_TUNNEL_LOST, "tunnel_lost", "tunnel", 0, 0x01, 503,
     BEACON_ECLOSED},
    {OUTCOME_LOCAL_ERROR, "error", "other", 0, 0x01, 502, BEACON_EIO},
    {OUTCOME_BAD_REQUEST, "bad_request", "other", 0, 0x01, 400, BEACON_EPROTO},
    {OUTCOME_NO_REQUEST, "handshake_timeout_or_eof", "other", 0, 0x01, 408,
     BEACON_ETIMEDOUT},
    {OUTCOME_BAD_RESPONSE, "bad_response", "other", 0, 0x01, 502,
     BEACON_EPROTO},
};
#define NWANT (sizeof(want) / sizeof(want[0]))

/* Every enum value has exactly one expected row, and every lookup of
 * every value gives it. */
static void every_outcome_every_mapping(void **state)
{
  (void)state;
  assert_int_equal(NWANT, OUTCOME_COUNT);
  for(int o = 0; o < OUTCOME_COUNT; o++) {
    size_t i = 0;
    while(i < NWANT && want[i].o != (outcome_t)o)
      i++;
    assert_true(i < NWANT);
    assert_string_equal(outcome_word((outcome_t)o), want[i].word);
    outcome_label_t l = outcome_label((outcome_t)o);
    assert_true(l < OUTCOME_LABEL_COUNT);
    assert_string_equal(outcome_label_names[l], want[i].label);
    assert_int_equal(outcome_reason((outcome_t)o), want[i].reason);
    assert_int_equal(outcome_socks_reply((outcome_t)o), want[i].socks);
    assert_int_equal(outcome_http_status((outcome_t)o), want[i].http);
    assert_int_equal(outcome_code((outcome_t)o), want[i].code);
  }
  /* Out of range reads as a dial failure, never out of bounds. */
  assert_string_equal(outcome_word(OUTCOME_COUNT), "dial_error");
  assert_string_equal(outcome_word((outcome_t)-1), "dial_error");
}

static void labels_and_reason_names(void **state)
{
  (void)state;
  static const char *const labels[] = {"ok",          "refused", "not_found",
                                       "unreachable", "timeout", "policy",
                                       "other",       "tunnel"};
  assert_int_equal(sizeof(labels) / sizeof(labels[0]), OUTCOME_LABEL_COUNT);
  for(int l = 0; l < OUTCOME_LABEL_COUNT; l++)
    assert_string_equal(outcome_label_names[l], labels[l]);
  /* A failure family leaves out "ok" and nothing else. */
  assert_int_equal(OUTCOME_LABEL_FIRST_FAILURE, 1);
  static const char *const reasons[] = {
      "unspecified", "refused",    "not_found",   "unreachable", "timed_out",
      "policy",      "bad_target", "relay_limit", "revoked"};
  for(uint32_t r = 0; r < 9; r++)
    assert_string_equal(outcome_reason_name(r), reasons[r]);
  assert_string_equal(outcome_reason_name(9), "unspecified");
  assert_string_equal(outcome_reason_name(UINT32_MAX), "unspecified");
}

/* The relay's dial: the BEACON_E* code dial/dial.h reports, and the OS
 * error folded into BEACON_EIO. */
static void classify_the_relays_dial(void **state)
{
  (void)state;
  static const struct {
    int code, os_err;
    outcome_t o;
  } cases[] = {
      {0, 0, OUTCOME_OK},
      {BEACON_EREFUSED, -111, OUTCOME_REFUSED},
      {BEACON_ENOTFOUND, 0, OUTCOME_NOT_FOUND},
      {BEACON_EUNREACH, 0, OUTCOME_UNREACHABLE},
      {BEACON_ETIMEDOUT, -110, OUTCOME_TARGET_TIMEOUT},
      {BEACON_EPOLICY, 0, OUTCOME_POLICY},
      {BEACON_EINVAL, 0, OUTCOME_BAD_TARGET},
      {BEACON_ETOOLONG, 0, OUTCOME_BAD_TARGET},
      {BEACON_ENOMEM, 0, OUTCOME_RESOURCE},
      {BEACON_ELIMIT, 0, OUTCOME_RESOURCE},
      {BEACON_EIO, -113 /* EHOSTUNREACH */, OUTCOME_UNREACHABLE},
      {BEACON_EIO, -101 /* ENETUNREACH */, OUTCOME_UNREACHABLE},
      {BEACON_EIO, -13 /* EACCES */, OUTCOME_DIAL_OTHER},
      {BEACON_ERESET, -104, OUTCOME_DIAL_OTHER},
      {BEACON_ECLOSED, 0, OUTCOME_DIAL_OTHER},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_int_equal(
        outcome_classify(cases[i].code, cases[i].os_err, OUTCOME_AT_DIAL),
        cases[i].o);
  /* A relay's own dial never blames a tunnel. */
  for(int code = -599; code <= 0; code++)
    for(int os = -120; os <= 0; os += 7)
      assert_int_not_equal(
          outcome_label(outcome_classify(code, os, OUTCOME_AT_DIAL)),
          OUTCOME_LABEL_TUNNEL);
}

/* A controller's failure that is not the relay's verdict: a dead relay,
 * TLS, certificates, a lost connection are the tunnel's, never a
 * refusing target (SOCKS 0x05). */
static void classify_the_tunnel(void **state)
{
  (void)state;
  assert_int_equal(outcome_classify(0, 0, OUTCOME_AT_TUNNEL), OUTCOME_OK);
  static const int tunnel_codes[] = {
      BEACON_EREFUSED, BEACON_ETLS,      BEACON_EVERIFY, BEACON_ETIMEDOUT,
      BEACON_ECLOSED,  BEACON_ERESET,    BEACON_EPROTO,  BEACON_EGOAWAY,
      BEACON_EIO,      BEACON_ENOTFOUND, BEACON_ELIMIT,  BEACON_ECONFIG,
      BEACON_ENOMEM};
  for(size_t i = 0; i < sizeof(tunnel_codes) / sizeof(tunnel_codes[0]); i++) {
    outcome_t o = outcome_classify(tunnel_codes[i], -111, OUTCOME_AT_TUNNEL);
    assert_int_equal(o, OUTCOME_TUNNEL);
    assert_int_equal(outcome_socks_reply(o), 0x01);
    assert_int_equal(outcome_http_status(o), 503);
    assert_string_equal(outcome_word(o), "tunnel");
    assert_string_equal(outcome_label_names[outcome_label(o)], "tunnel");
  }
  /* A target refused before it reached the wire. */
  assert_int_equal(outcome_classify(BEACON_EINVAL, 0, OUTCOME_AT_TUNNEL),
                   OUTCOME_BAD_TARGET);
  assert_int_equal(outcome_classify(BEACON_ETOOLONG, 0, OUTCOME_AT_TUNNEL),
                   OUTCOME_BAD_TARGET);
}

/* What the relay sends for an outcome is what the controller reads:
 * the same row (a dial failure without a code of its own reads as
 * unreachable), and the code docs/PROTOCOL.md "Refusal codes" lists. */
static void reasons_from_relay_to_controller(void **state)
{
  (void)state;
  static const int code_of_reason[] = {
      BEACON_ERESET,   BEACON_EREFUSED,  BEACON_ENOTFOUND,
      BEACON_EUNREACH, BEACON_ETIMEDOUT, BEACON_EPOLICY,
      BEACON_EINVAL,   BEACON_ELIMIT,    BEACON_ECLOSED};
  for(uint32_t r = 0; r < 9; r++) {
    outcome_t o = outcome_from_reason(r);
    assert_int_equal(outcome_reason(o), r);
    assert_int_equal(outcome_code(o), code_of_reason[r]);
  }
  assert_int_equal(outcome_from_reason(0), OUTCOME_RELAY_RESET);
  assert_int_equal(outcome_from_reason(99), OUTCOME_RELAY_RESET);
  for(int o = OUTCOME_REFUSED; o <= OUTCOME_REVOKED; o++) {
    outcome_t read = outcome_from_reason(outcome_reason((outcome_t)o));
    assert_int_equal(read, o == OUTCOME_DIAL_OTHER ? OUTCOME_UNREACHABLE
                                                   : (outcome_t)o);
    /* Both sides count it under the same label, but "other". */
    if(o != OUTCOME_DIAL_OTHER)
      assert_int_equal(outcome_label(read), outcome_label((outcome_t)o));
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_outcome_every_mapping),
      cmocka_unit_test(labels_and_reason_names),
      cmocka_unit_test(classify_the_relays_dial),
      cmocka_unit_test(classify_the_tunnel),
      cmocka_unit_test(reasons_from_relay_to_controller),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
