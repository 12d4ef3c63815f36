/* test_suggest.c - "did you mean" for mistyped option names
 * (common/suggest.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/suggest.h"

static const char *const names[] = {
    "tunnel-addr", "metrics-addr", "max-tunnels",  "max-streams",
    "allow",       "deny",         "allow-client", "dial-timeout",
};

static const char *best(const char *typed)
{
  suggest_t s;
  suggest_init(&s, typed);
  for(size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    suggest_offer(&s, names[i]);
  return suggest_best(&s);
}

static void test_distance(void **state)
{
  (void)state;
  assert_int_equal(suggest_distance("", ""), 0);
  assert_int_equal(suggest_distance("abc", ""), 3);
  assert_int_equal(suggest_distance("tunnel-adr", "tunnel-addr"), 1);
  assert_int_equal(suggest_distance("tunnle-addr", "tunnel-addr"), 1);
  assert_int_equal(suggest_distance("kitten", "sitting"), 3);
  char longer[SUGGEST_MAX_WORD + 2];
  memset(longer, 'a', sizeof(longer) - 1);
  longer[sizeof(longer) - 1] = 0;
  assert_int_equal(suggest_distance(longer, "a"), SIZE_MAX);
}

static void test_typos_found(void **state)
{
  (void)state;
  assert_string_equal(best("tunnel-adr"), "tunnel-addr");
  assert_string_equal(best("tunnle-addr"), "tunnel-addr");
  assert_string_equal(best("max-tunnel"), "max-tunnels");
  assert_string_equal(best("alow"), "allow");
  assert_string_equal(best("dial-timout"), "dial-timeout");
}

static void test_no_wild_guesses(void **state)
{
  (void)state;
  assert_null(best("verbose"));
  assert_null(best("x"));
  /* The word itself is no suggestion. */
  assert_null(best("deny"));
}

static void test_tie_suggests_nothing(void **state)
{
  (void)state;
  suggest_t s;
  suggest_init(&s, "cab");
  suggest_offer(&s, "cat");
  suggest_offer(&s, "car");
  assert_null(suggest_best(&s));
  suggest_offer(&s, "cab2"); /* as close again: still a tie */
  assert_null(suggest_best(&s));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_distance),
      cmocka_unit_test(test_typos_found),
      cmocka_unit_test(test_no_wild_guesses),
      cmocka_unit_test(test_tie_suggests_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
