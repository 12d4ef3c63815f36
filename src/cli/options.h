/*
 * options.h - the flags of a subcommand as one table: getopt_long's
 * option list, the value parsers (seconds, sizes, counts) and the options
 * part of --help all come from it, so the parser and its usage text
 * cannot drift apart, and every subcommand reports a bad flag the same
 * way:
 *
 *   beacon CMD: --flag 'value': expected ...
 *   Run 'beacon CMD --help' for usage.
 *
 * with exit code 2 (CLI_EXIT_USAGE).
 *
 * A flag may be followed by the word yes or no ("--json no"), so the
 * command line can turn off what a config file turned on.
 *
 * A command with check_config set also takes --config FILE: the same
 * options from a file (cli_support/config_file.h), one "NAME VALUE" a
 * line, NAME a long option without "--"; a flag is NAME alone, or NAME
 * yes / NAME no. The command line wins: an option given there replaces
 * every line of the file that sets the same thing (a repeatable option's
 * whole list; --allow and --deny, which build one rule list, together).
 * Errors in the file print as
 *
 *   FILE:LINE: message
 *
 * all of them, and exit 3 (CLI_EXIT_CONFIG), as for any bad file.
 */
#ifndef BEACON_CLI_OPTIONS_H
#define BEACON_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum cli_opt_kind {
  CLI_OPT_FLAG,     /* no value: *flag = 1 */
  CLI_OPT_STRING,   /* *str = the value (points into argv) */
  CLI_OPT_SECONDS,  /* *ms = seconds ("15", "0.5") in ms, >= min ms */
  CLI_OPT_SIZE,     /* *size = bytes, K/M/G suffixes (powers of 1024) */
  CLI_OPT_COUNT,    /* *count = a whole number in min..max */
  CLI_OPT_INTEGER,  /* *integer = a signed whole number in min..max */
  CLI_OPT_REPEATED, /* list[(*n)++] = the value, at most max of them */
  CLI_OPT_CUSTOM    /* parse(ctx, value, why, cap) decides */
} cli_opt_kind_t;

/* 0, or nonzero with why set to what was expected ("expected ...") or
 * what is wrong with the value. CLI_EXIT_FAILURE means the parser itself
 * failed (out of memory) and is passed on as the exit code. */
typedef int (*cli_opt_parse_fn)(void *ctx, const char *value, char *why,
                                size_t cap);
/* 0 when value is well-formed; nonzero with why set ("expected ...")
 * when not. Checks the form only: what needs the network or the file
 * system (resolving, binding) is the command's. */
typedef int (*cli_opt_check_fn)(const char *value, char *why, size_t cap);

typedef struct cli_opt {
  const char *name; /* long name, without "--" */
  char short_name;  /* 0: none */
  cli_opt_kind_t kind;
  const char *metavar; /* the value's name in --help; NULL for flags */
  /* Where the value goes; the member that matches kind. */
  int *flag;
  const char **str;
  uint64_t *ms;
  size_t *size;
  uint32_t *count;
  long *integer;
  const char **list;
  int *n; /* REPEATED: entries in list so far */
  cli_opt_parse_fn parse;
  void *ctx;
  /* STRING and REPEATED: the value's form, checked as it is parsed, so
   * a bad address in a config file is reported as FILE:LINE. */
  cli_opt_check_fn check;
  long long min, max; /* COUNT and INTEGER range, SECONDS minimum (ms),
                         REPEATED most entries */
  /* --help: the description, '\n' continuing at the column; NULL: the
   * option is not listed (another entry's label covers it). */
  const char *help;
  const char *label; /* replaces "--name METAVAR" in --help */
} cli_opt_t;

typedef struct cli_command {
  const char *name;   /* "egress", "pki sign": for messages */
  const char *usage;  /* --help before the options ("Usage: ...") */
  const char *footer; /* --help after the options; NULL: none */
  const cli_opt_t *opts;
  size_t nopts;
  int in_order;    /* stop at the first operand (connect's TARGET) */
  int help_column; /* where descriptions start in --help */
  /* Non-NULL: --config FILE and --check-config are options too, and
   * *check_config = 1 when --check-config is given. */
  int *check_config;
  /* Non-NULL: the config file's text (which the values point into) is
   * handed over here for the caller to free, instead of kept for the
   * life of the process (a reload parses again). */
  char **config_text;
  FILE *err; /* where error lines go; NULL: stderr */
} cli_command_t;

/* Parses argv[1..] (argv[0] is the subcommand). Returns CLI_GO_ON with
 * *first_operand set to the index of the first operand, CLI_EXIT_OK
 * after printing --help on stdout, or an exit code after one line on
 * stderr. */
int cli_options_parse(const cli_command_t *cmd, int argc, char **argv,
                      int *first_operand);

/* Prints cmd's --help: its usage, the options from its table ("-h,
 * --help" last), then its footer. */
void cli_options_help(const cli_command_t *cmd, FILE *f);

/* A usage error: "beacon CMD: MESSAGE" and where to find the usage on
 * stderr. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
