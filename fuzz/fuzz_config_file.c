/*
 * fuzz_config_file.c - the --config file reader
 * (src/cli_support/config_file.h) on arbitrary bytes. Aborts when an
 * invariant breaks: line numbers only grow and stay within the file's
 * lines; every name is non-empty, letters, digits and '-', not starting
 * with '-'; every value is non-empty, without a control character other
 * than a tab, without blanks at either end, and does not hold a '#'
 * after a blank; nothing is written past text[len].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "cli_support/config_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int blank(char c)
{
  return c == ' ' || c == '\t';
}

static void check_name(const char *n)
{
  CHECK(n[0] && n[0] != '-');
  for(const char *p = n; *p; p++)
    CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-');
}

static void check_value(const char *v)
{
  size_t n = strlen(v);
  CHECK(n && !blank(v[0]) && !blank(v[n - 1]));
  for(size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    CHECK(c >= 0x20 || c == '\t');
    CHECK(c != 0x7f);
    CHECK(!(c == '#' && i && blank(v[i - 1])));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* One guard byte after text[len], which the reader may write. */
  char *text = malloc(size + 2);
  if(!text)
    return 0;
  memcpy(text, data, size);
  text[size] = 'Z';
  text[size + 1] = 'G';
  int lines = 1;
  for(size_t i = 0; i < size; i++)
    lines += data[i] == '\n';

  config_file_t f;
  config_file_entry_t e;
  config_file_event_t ev;
  int last = 0;
  config_file_init(&f, text, size);
  while((ev = config_file_next(&f, &e)) != CONFIG_FILE_END) {
    CHECK(e.line > last && e.line <= lines);
    last = e.line;
    if(ev == CONFIG_FILE_ERROR) {
      CHECK(e.error && e.error[0]);
      continue;
    }
    CHECK(ev == CONFIG_FILE_OPTION);
    CHECK(e.name >= text && e.name < text + size);
    check_name(e.name);
    if(e.value) {
      CHECK(e.value > e.name && e.value < text + size);
      check_value(e.value);
    }
  }
  CHECK(config_file_next(&f, &e) == CONFIG_FILE_END);
  CHECK(text[size + 1] == 'G');
  free(text);
  return 0;
}
