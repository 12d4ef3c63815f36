/* test_config_file.c - the --config file reader
 * (cli_support/config_file.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_support/config_file.h"

/* Reads text and returns its events as "LINE:name=value" (value "-" for
 * a name alone) or "LINE!error", joined with '|'. */
static char *events(const char *text, size_t len)
{
  static char out[2048];
  char *buf = malloc(len + 1);
  config_file_t f;
  config_file_entry_t e;
  config_file_event_t ev;
  size_t n = 0;
  assert_non_null(buf);
  memcpy(buf, text, len);
  buf[len] = 'Z'; /* the reader may write here, never read it */
  out[0] = 0;
  config_file_init(&f, buf, len);
  while((ev = config_file_next(&f, &e)) != CONFIG_FILE_END) {
    if(ev == CONFIG_FILE_OPTION)
      n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%d:%s=%s",
                            n ? "|" : "", e.line, e.name,
                            e.value ? e.value : "-");
    else
      n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%d!%s", n ? "|" : "",
                            e.line, e.error);
    assert_true(n < sizeof(out));
  }
  free(buf);
  return out;
}

#define EVENTS(s) events(s, sizeof(s) - 1)

static void test_options(void **state)
{
  (void)state;
  assert_string_equal(EVENTS("tunnel-addr :8456\n"), "1:tunnel-addr=:8456");
  /* No final newline: the last line still counts. */
  assert_string_equal(EVENTS("workers 4"), "1:workers=4");
  assert_string_equal(EVENTS("allow-group-readable-key\n"),
                      "1:allow-group-readable-key=-");
  assert_string_equal(EVENTS("flag"), "1:flag=-");
  /* Blanks around and inside, tabs, CRLF. */
  assert_string_equal(EVENTS("  \tallow-client   CN=ctl 1, O=fleet \t\r\n"),
                      "1:allow-client=CN=ctl 1, O=fleet");
  /* Repeated names come out in order, each with its line. */
  assert_string_equal(EVENTS("allow 10/8\n\ndeny private\nallow 0/0\n"),
                      "1:allow=10/8|3:deny=private|4:allow=0/0");
  assert_string_equal(EVENTS("L 8080:db:5432\n"), "1:L=8080:db:5432");
}

static void test_comments_and_blanks(void **state)
{
  (void)state;
  assert_string_equal(EVENTS(""), "");
  assert_string_equal(EVENTS("\n\n   \n\t\n"), "");
  assert_string_equal(EVENTS("# a comment\n  # indented\n#\n"), "");
  assert_string_equal(EVENTS("workers 4 # four\n"), "1:workers=4");
  assert_string_equal(EVENTS("workers 4\t# four\n"), "1:workers=4");
  assert_string_equal(EVENTS("keepalive # no value\n"), "1:keepalive=-");
  /* A '#' inside a value is part of it. */
  assert_string_equal(EVENTS("allow-client CN=a#b\n"),
                      "1:allow-client=CN=a#b");
  assert_string_equal(EVENTS("\n# c\nworkers 2\n"), "3:workers=2");
}

static void test_errors(void **state)
{
  (void)state;
  assert_string_equal(EVENTS("--workers 4\n"),
                      "1!expected 'NAME VALUE': write the name without '--'");
  assert_string_equal(EVENTS("workers=4\n"),
                      "1!expected 'NAME VALUE' (a blank, not '=')");
  assert_string_equal(
      EVENTS("work_ers 4\n"),
      "1!expected 'NAME VALUE': a NAME is letters, digits and '-'");
  assert_string_equal(EVENTS("workers 4\rx\n"), "1!a control character");
  assert_string_equal(EVENTS("workers \x1b[4\n"), "1!a control character");
  assert_string_equal(EVENTS("workers \x7f\n"), "1!a control character");
  assert_string_equal(events("a 1\nb \0 2\nc 3", 13),
                      "1:a=1|2!a NUL byte|3:c=3");
  /* Every bad line is reported, the good ones still come through. */
  assert_string_equal(EVENTS("a=1\nb 2\n-c\n"),
                      "1!expected 'NAME VALUE' (a blank, not '=')|2:b=2|"
                      "3!expected 'NAME VALUE': write the name without '--'");
}

static void test_end_is_sticky(void **state)
{
  (void)state;
  char text[] = "a 1\n";
  config_file_t f;
  config_file_entry_t e;
  config_file_init(&f, text, sizeof(text) - 1);
  assert_int_equal(config_file_next(&f, &e), CONFIG_FILE_OPTION);
  assert_int_equal(config_file_next(&f, &e), CONFIG_FILE_END);
  assert_int_equal(config_file_next(&f, &e), CONFIG_FILE_END);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_comments_and_blanks),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_end_is_sticky),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
