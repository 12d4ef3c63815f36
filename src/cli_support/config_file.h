/*
 * config_file.h - the text of a `--config FILE` as a list of options, with
 * no I/O: the caller reads the file and gives its bytes; the option layer
 * (cli/options.h) decides what each name means.
 *
 * One option a line: NAME, then blanks, then the VALUE (the rest of the
 * line, no quoting); NAME alone for a flag. Blank lines and lines whose
 * first non-blank character is '#' are skipped; a '#' after a blank ends
 * the line's value (a comment). Leading and trailing blanks (space, tab)
 * and a CR before the LF are dropped. NAME is letters, digits and '-'
 * (a long option without its "--"). Any other control character, a NUL
 * among them, is an error of its line.
 *
 *   config_file_t f;
 *   config_file_entry_t e;
 *   config_file_init(&f, text, len);
 *   while(config_file_next(&f, &e) != CONFIG_FILE_END) ...
 *
 * The reader writes NULs into text (text[len] too: give it len + 1
 * bytes), so name and value are C strings that live as long as text.
 * After an error it carries on at the next line.
 */
#ifndef BEACON_CLI_SUPPORT_CONFIG_FILE_H
#define BEACON_CLI_SUPPORT_CONFIG_FILE_H

#include <stddef.h>

typedef enum config_file_event {
  CONFIG_FILE_END = 0, /* no more lines */
  CONFIG_FILE_OPTION,  /* e->name, e->value (NULL: the name alone) */
  CONFIG_FILE_ERROR    /* e->error says what is wrong with e->line */
} config_file_event_t;

typedef struct config_file_entry {
  int line; /* 1-based */
  const char *name;
  const char *value;
  const char *error;
} config_file_entry_t;

typedef struct config_file {
  char *text;
  size_t len, pos;
  int line;
} config_file_t;

void config_file_init(config_file_t *f, char *text, size_t len);
config_file_event_t config_file_next(config_file_t *f, config_file_entry_t *e);

#endif
