/* options.c - table-driven flags for every subcommand (cli/options.h). */
#include "cli/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define MAX_OPTS 40

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "beacon %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nRun 'beacon %s --help' for usage.\n", cmd);
  return CLI_EXIT_USAGE;
}

/* "--name", or "-c" for a short-only option. */
static const char *flag_name(const cli_opt_t *o, char buf[4])
{
  if(o->name)
    return o->name; /* printed after "--" */
  buf[0] = o->short_name;
  buf[1] = 0;
  return buf;
}

/* A whole number in min..max; 0, or -1 when it is not one. */
static int parse_integer(const char *s, long long min, long long max,
                         long long *out)
{
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if(errno || end == s || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* Writes what was expected into why; returns -1. */
static int expected(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int expected(char *why, size_t cap, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return -1;
}

/* SECONDS, SIZE, COUNT and INTEGER values: 0, or -1 with why set. */
static int parse_number(const cli_opt_t *o, const char *v, char *why,
                        size_t cap)
{
  long long n;
  if(o->kind == CLI_OPT_SECONDS) {
    long ms = cli_parse_seconds(v);
    if(ms < 0 || ms < o->min)
      return expected(why, cap, "expected a number of seconds%s",
                      o->min > 0 ? " > 0" : "");
    *o->ms = (uint64_t)ms;
  } else if(o->kind == CLI_OPT_SIZE) {
    n = cli_parse_size(v);
    if(n < 0)
      return expected(why, cap, "expected a size such as 64M");
    *o->size = (size_t)n;
  } else if((o->kind == CLI_OPT_COUNT && v[0] == '-') ||
            parse_integer(v, o->min, o->max, &n)) {
    return expected(why, cap, "expected %s %lld..%lld",
                    o->kind == CLI_OPT_COUNT ? "a count" : "a whole number",
                    o->min, o->max);
  } else if(o->kind == CLI_OPT_COUNT) {
    *o->count = (uint32_t)n;
  } else {
    *o->integer = (long)n;
  }
  return 0;
}

/* Any value: 0, -1 with why set, or CLI_EXIT_FAILURE from a custom
 * parser. */
static int parse_value(const cli_opt_t *o, const char *v, char *why,
                       size_t cap)
{
  switch(o->kind) {
  case CLI_OPT_FLAG:
    *o->flag = 1;
    return 0;
  case CLI_OPT_STRING:
    *o->str = v;
    return 0;
  case CLI_OPT_REPEATED:
    if(*o->n >= o->max)
      return expected(why, cap, "at most %lld of them", o->max);
    o->list[(*o->n)++] = v;
    return 0;
  case CLI_OPT_CUSTOM:
    return o->parse(o->ctx, v, why, cap);
  default:
    return parse_number(o, v, why, cap);
  }
}

/* Stores one value; 0, or an exit code after the error line. */
static int store(const cli_command_t *cmd, const cli_opt_t *o, const char *v)
{
  char why[256] = "", shortname[4];
  const char *name = flag_name(o, shortname);
  const char *dashes = o->name ? "--" : "-";
  int rc = parse_value(o, v, why, sizeof(why));
  if(rc == CLI_EXIT_FAILURE) {
    fprintf(stderr, "beacon %s: %s%s: %s\n", cmd->name, dashes, name, why);
    return rc;
  }
  if(rc)
    return cli_usage_error(cmd->name, "%s%s '%s': %s", dashes, name, v, why);
  return 0;
}

/* getopt_long's view of the table; the value of option i is 256 + i. */
static void getopt_table(const cli_command_t *cmd, struct option *longs,
                         char *shorts)
{
  size_t ns = 0, nl = 0;
  shorts[ns++] = cmd->in_order ? '+' : ':';
  if(cmd->in_order)
    shorts[ns++] = ':';
  shorts[ns++] = 'h';
  for(size_t i = 0; i < cmd->nopts; i++) {
    const cli_opt_t *o = &cmd->opts[i];
    int arg = o->kind == CLI_OPT_FLAG ? no_argument : required_argument;
    if(o->name)
      longs[nl++] = (struct option){o->name, arg, NULL, 256 + (int)i};
    if(o->short_name) {
      shorts[ns++] = o->short_name;
      if(arg == required_argument)
        shorts[ns++] = ':';
    }
  }
  longs[nl++] = (struct option){"help", no_argument, NULL, 'h'};
  longs[nl] = (struct option){NULL, 0, NULL, 0};
  shorts[ns] = 0;
}

/* The table entry getopt_long returned c for, or NULL. */
static const cli_opt_t *find(const cli_command_t *cmd, int c)
{
  if(c >= 256 && (size_t)(c - 256) < cmd->nopts)
    return &cmd->opts[c - 256];
  for(size_t i = 0; i < cmd->nopts; i++)
    if(cmd->opts[i].short_name && cmd->opts[i].short_name == c)
      return &cmd->opts[i];
  return NULL;
}

/* An unknown option, or one without its value (getopt returned '?' or
 * ':'). */
static int bad_option(const cli_command_t *cmd, int c, char **argv)
{
  const cli_opt_t *o = find(cmd, optopt);
  char shortname[4];
  if(c == ':' && o)
    return cli_usage_error(cmd->name, "%s%s: a value is needed",
                           o->name ? "--" : "-", flag_name(o, shortname));
  if(optopt > 0 && optopt < 256)
    return cli_usage_error(cmd->name, "unknown option '-%c'", optopt);
  return cli_usage_error(cmd->name, "unknown or incomplete option '%s'",
                         argv[optind - 1]);
}

int cli_options_parse(const cli_command_t *cmd, int argc, char **argv,
                      int *first_operand)
{
  struct option longs[MAX_OPTS + 2];
  char shorts[2 * MAX_OPTS + 4];
  if(cmd->nopts > MAX_OPTS)
    abort(); /* a table larger than MAX_OPTS is a programming error */
  getopt_table(cmd, longs, shorts);
  optind = 1;
  opterr = 0;
  for(;;) {
    int c = getopt_long(argc, argv, shorts, longs, NULL);
    if(c == -1)
      break;
    if(c == 'h') {
      cli_options_help(cmd, stdout);
      return CLI_EXIT_OK;
    }
    const cli_opt_t *o = c == '?' || c == ':' ? NULL : find(cmd, c);
    if(!o)
      return bad_option(cmd, c, argv);
    int rc = store(cmd, o, optarg);
    if(rc)
      return rc;
  }
  *first_operand = optind;
  return CLI_GO_ON;
}

/* "--name METAVAR", "-c, --name METAVAR", "-c METAVAR" or o->label. */
static void format_label(const cli_opt_t *o, char *out, size_t cap)
{
  char both[8] = "", shortname[4];
  if(o->label) {
    snprintf(out, cap, "%s", o->label);
    return;
  }
  if(o->name && o->short_name)
    snprintf(both, sizeof(both), "-%c, ", o->short_name);
  snprintf(out, cap, "%s%s%s%s%s", both, o->name ? "--" : "-",
           flag_name(o, shortname), o->metavar ? " " : "",
           o->metavar ? o->metavar : "");
}

void cli_options_help(const cli_command_t *cmd, FILE *f)
{
  int col = cmd->help_column;
  fputs(cmd->usage, f);
  for(size_t i = 0; i < cmd->nopts; i++) {
    const cli_opt_t *o = &cmd->opts[i];
    char label[128];
    if(!o->help)
      continue;
    format_label(o, label, sizeof(label));
    int used = fprintf(f, "  %s", label);
    /* A label too long for the column gets two spaces. */
    fprintf(f, "%*s", used <= col - 2 ? col - used : 2, "");
    for(const char *h = o->help; *h; h++) {
      fputc(*h, f);
      if(*h == '\n' && h[1])
        fprintf(f, "%*s", col, "");
    }
    fputc('\n', f);
  }
  fprintf(f, "  -h, --help%*sthis text\n", col - 12 > 1 ? col - 12 : 1, "");
  if(cmd->footer)
    fputs(cmd->footer, f);
}
