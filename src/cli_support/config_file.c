/* config_file.c - lines of a --config file into options
 * (cli_support/config_file.h). */
#include "cli_support/config_file.h"

#include <string.h>

void config_file_init(config_file_t *f, char *text, size_t len)
{
  f->text = text;
  f->len = len;
  f->pos = 0;
  f->line = 0;
}

static int blank(char c)
{
  return c == ' ' || c == '\t';
}

static int name_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-';
}

/* What is wrong with the line [s, end), or NULL: control characters
 * other than a tab (a CR is allowed last, before the LF). */
static const char *bad_bytes(const char *s, const char *end)
{
  for(const char *p = s; p < end; p++) {
    unsigned char c = (unsigned char)*p;
    if(c == 0)
      return "a NUL byte";
    if(c == '\r' && p + 1 == end)
      continue;
    if((c < 0x20 && c != '\t') || c == 0x7f)
      return "a control character";
  }
  return NULL;
}

/* Fills e from the line [s, end); 0 for a blank or comment line. */
static config_file_event_t one_line(char *s, char *end, config_file_entry_t *e)
{
  if((e->error = bad_bytes(s, end)))
    return CONFIG_FILE_ERROR;
  if(end > s && end[-1] == '\r')
    end--;
  while(s < end && blank(*s))
    s++;
  if(s == end || *s == '#')
    return CONFIG_FILE_END;
  char *name = s;
  while(s < end && name_char(*s))
    s++;
  if(*name == '-') {
    e->error = "expected 'NAME VALUE': write the name without '--'";
    return CONFIG_FILE_ERROR;
  }
  if(s < end && !blank(*s)) {
    e->error = *s == '=' ? "expected 'NAME VALUE' (a blank, not '=')"
                         : "expected 'NAME VALUE': a NAME is letters, "
                           "digits and '-'";
    return CONFIG_FILE_ERROR;
  }
  char *name_end = s;
  while(s < end && blank(*s))
    s++;
  /* A comment starts at a '#' after a blank, not inside a value. */
  char *value = s;
  for(char *p = s; p < end; p++)
    if(*p == '#' && (p == s || blank(p[-1]))) {
      end = p;
      break;
    }
  while(end > value && blank(end[-1]))
    end--;
  *name_end = 0;
  e->name = name;
  e->value = NULL;
  if(end > value) {
    *end = 0;
    e->value = value;
  }
  return CONFIG_FILE_OPTION;
}

config_file_event_t config_file_next(config_file_t *f, config_file_entry_t *e)
{
  while(f->pos < f->len) {
    char *s = f->text + f->pos;
    char *nl = memchr(s, '\n', f->len - f->pos);
    char *end = nl ? nl : f->text + f->len;
    f->pos = (size_t)(end - f->text) + (nl ? 1 : 0);
    f->line++;
    e->line = f->line;
    e->name = e->value = e->error = NULL;
    config_file_event_t ev = one_line(s, end, e);
    if(ev != CONFIG_FILE_END)
      return ev;
  }
  return CONFIG_FILE_END;
}
