/* options.c - table-driven flags for every subcommand (cli/options.h). */
#include "cli/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_support/config_file.h"
#include "common/suggest.h"

#define MAX_OPTS 40
/* getopt_long's values of --config and --check-config: past the table's. */
#define OPT_CONFIG (256 + MAX_OPTS)
#define OPT_CHECK_CONFIG (257 + MAX_OPTS)
/* A config file is a page of text; anything larger is a mistake. */
#define CONFIG_MAX_BYTES (1 << 20)

/* Where errors go during cli_options_parse(): cmd->err or stderr. */
static FILE *error_stream;

static FILE *err_out(void)
{
  return error_stream ? error_stream : stderr;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fprintf(err_out(), "beacon %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(err_out(), fmt, ap);
  va_end(ap);
  fprintf(err_out(), "\nRun 'beacon %s --help' for usage.\n", cmd);
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
    *o->flag = !v || strcmp(v, "no") != 0; /* v: NULL, "yes" or "no" */
    return 0;
  case CLI_OPT_STRING:
    if(o->check && o->check(v, why, cap))
      return -1;
    *o->str = v;
    return 0;
  case CLI_OPT_REPEATED:
    if(o->check && o->check(v, why, cap))
      return -1;
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
    fprintf(err_out(), "beacon %s: %s%s: %s\n", cmd->name, dashes, name, why);
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
  if(cmd->check_config) {
    longs[nl++] =
        (struct option){"config", required_argument, NULL, OPT_CONFIG};
    longs[nl++] =
        (struct option){"check-config", no_argument, NULL, OPT_CHECK_CONFIG};
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

/* The option of cmd closest to name ("tunnel-adr": "tunnel-addr"), or
 * NULL when none is close enough to be what was meant. */
static const char *closest_option(const cli_command_t *cmd, const char *name)
{
  suggest_t s;
  suggest_init(&s, name);
  for(size_t i = 0; i < cmd->nopts; i++)
    suggest_offer(&s, cmd->opts[i].name);
  if(cmd->check_config) {
    suggest_offer(&s, "config");
    suggest_offer(&s, "check-config");
  }
  suggest_offer(&s, "help");
  return suggest_best(&s);
}

/* " (did you mean '--tunnel-addr'?)" for a mistyped option name, or
 * "". prefix is "--" on the command line and "" in a file. */
static void did_you_mean(const cli_command_t *cmd, const char *name,
                         const char *prefix, char *out, size_t cap)
{
  const char *best = closest_option(cmd, name);
  if(best)
    snprintf(out, cap, " (did you mean '%s%s'?)", prefix, best);
  else
    out[0] = 0;
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
  const char *arg = argv[optind - 1];
  char name[SUGGEST_MAX_WORD + 1] = "", hint[SUGGEST_MAX_WORD + 32] = "";
  if(!strncmp(arg, "--", 2)) {
    size_t n = strcspn(arg + 2, "=");
    if(n < sizeof(name)) {
      memcpy(name, arg + 2, n);
      name[n] = 0;
      did_you_mean(cmd, name, "--", hint, sizeof(hint));
    }
  }
  return cli_usage_error(cmd->name, "unknown or incomplete option '%s'%s", arg,
                         hint);
}

/* ---- config files (cli/options.h) ---- */

/* Where an option's value goes: two options with the same destination
 * (--allow and --deny: one rule list) are set together, so a command
 * line that gives one replaces the file's lines of both. */
static const void *destination(const cli_opt_t *o)
{
  switch(o->kind) {
  case CLI_OPT_FLAG:
    return o->flag;
  case CLI_OPT_STRING:
    return o->str;
  case CLI_OPT_SECONDS:
    return o->ms;
  case CLI_OPT_SIZE:
    return o->size;
  case CLI_OPT_COUNT:
    return o->count;
  case CLI_OPT_INTEGER:
    return o->integer;
  case CLI_OPT_REPEATED:
    return o->list;
  default:
    return o->ctx;
  }
}

/* 1 when the command line set option i or one with its destination. */
static int on_command_line(const cli_command_t *cmd,
                           const unsigned char *given, size_t i)
{
  const void *d = destination(&cmd->opts[i]);
  for(size_t j = 0; j < cmd->nopts; j++)
    if(given[j] && (j == i || (d && destination(&cmd->opts[j]) == d)))
      return 1;
  return 0;
}

/* The file's bytes, NUL-terminated; the values of its options point into
 * them, so they stay for the life of the process. */
static char *config_text;

/* Reads path into a new buffer, kept in config_text (or handed over in
 * *cmd->config_text, which the caller then owns) and *text. 0, or an
 * exit code after one line. */
static int read_config(const cli_command_t *cmd, const char *path, char **text,
                       size_t *len)
{
  char *buf = malloc(CONFIG_MAX_BYTES + 2);
  FILE *f = buf ? fopen(path, "rb") : NULL;
  if(!f) {
    fprintf(err_out(), "beacon %s: --config %s: %s\n", cmd->name, path,
            buf ? strerror(errno) : "out of memory");
    free(buf);
    return buf ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
  }
  *len = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
  int e = ferror(f) ? errno : 0;
  fclose(f);
  if(e || *len > CONFIG_MAX_BYTES) {
    fprintf(err_out(), "beacon %s: --config %s: %s\n", cmd->name, path,
            e ? strerror(e) : "larger than 1 MiB");
    free(buf);
    return CLI_EXIT_CONFIG;
  }
  buf[*len] = 0;
  /* Kept as long as the values: a reload's copy need not be 1 MiB. */
  char *fit = realloc(buf, *len + 2);
  if(fit)
    buf = fit;
  if(cmd->config_text) {
    *cmd->config_text = buf;
  } else {
    free(config_text);
    config_text = buf;
  }
  *text = buf;
  return 0;
}

/* The table entry a file names, or NULL. */
static const cli_opt_t *find_name(const cli_command_t *cmd, const char *name,
                                  size_t *index)
{
  for(size_t i = 0; i < cmd->nopts; i++)
    if(cmd->opts[i].name && !strcmp(cmd->opts[i].name, name)) {
      *index = i;
      return &cmd->opts[i];
    }
  return NULL;
}

/* One option of the file: 0, -1 after a "FILE:LINE:" error line, or
 * CLI_EXIT_FAILURE. */
static int file_option(const cli_command_t *cmd, const unsigned char *given,
                       const char *path, const config_file_entry_t *e)
{
  char why[256] = "";
  size_t i = 0;
  const cli_opt_t *o = find_name(cmd, e->name, &i);
  const char *v = e->value;
  int rc;
  if(!strcmp(e->name, "config") || !strcmp(e->name, "check-config"))
    snprintf(why, sizeof(why), "%s: only on the command line", e->name);
  else if(!o) {
    char hint[SUGGEST_MAX_WORD + 32];
    did_you_mean(cmd, e->name, "", hint, sizeof(hint));
    snprintf(why, sizeof(why), "unknown option '%s'%s", e->name, hint);
  } else if(o->kind != CLI_OPT_FLAG && !v)
    snprintf(why, sizeof(why), "%s: a value is needed", e->name);
  if(why[0]) {
    fprintf(err_out(), "%s:%d: %s\n", path, e->line, why);
    return -1;
  }
  if(on_command_line(cmd, given, i))
    return 0;
  if(o->kind == CLI_OPT_FLAG) {
    if(v && strcmp(v, "yes") && strcmp(v, "no")) {
      fprintf(err_out(), "%s:%d: %s '%s': expected yes or no\n", path, e->line,
              e->name, v);
      return -1;
    }
    *o->flag = !v || !strcmp(v, "yes");
    return 0;
  }
  rc = parse_value(o, v, why, sizeof(why));
  if(rc == CLI_EXIT_FAILURE) {
    fprintf(err_out(), "%s:%d: %s: %s\n", path, e->line, e->name, why);
    return rc;
  }
  if(rc)
    fprintf(err_out(), "%s:%d: %s '%s': %s\n", path, e->line, e->name, v, why);
  return rc ? -1 : 0;
}

/* Stores the options of the file that the command line does not set.
 * 0, or an exit code after a line for each error. */
static int apply_config(const cli_command_t *cmd, const char *path,
                        const unsigned char *given)
{
  size_t len;
  char *text = NULL;
  int rc = read_config(cmd, path, &text, &len), errors = 0;
  if(rc)
    return rc;
  config_file_t f;
  config_file_entry_t e;
  config_file_event_t ev;
  config_file_init(&f, text, len);
  while((ev = config_file_next(&f, &e)) != CONFIG_FILE_END) {
    if(ev == CONFIG_FILE_ERROR) {
      fprintf(err_out(), "%s:%d: %s\n", path, e.line, e.error);
      errors++;
    } else if((rc = file_option(cmd, given, path, &e)) == CLI_EXIT_FAILURE) {
      return rc;
    } else if(rc) {
      errors++;
    }
  }
  return errors ? CLI_EXIT_CONFIG : 0;
}

/* One pass over argv. With given, only notes which options are there
 * (and --config, --help); without, stores their values. CLI_GO_ON, or an
 * exit code. */
static int walk_argv(const cli_command_t *cmd, int argc, char **argv,
                     const char *shorts, const struct option *longs,
                     unsigned char *given, const char **config)
{
  optind = 0; /* glibc: start afresh, the previous pass included */
  opterr = 0;
  for(;;) {
    int c = getopt_long(argc, argv, shorts, longs, NULL);
    if(c == -1)
      return CLI_GO_ON;
    if(c == 'h') {
      cli_options_help(cmd, stdout);
      return CLI_EXIT_OK;
    }
    if(c == OPT_CONFIG || c == OPT_CHECK_CONFIG) {
      if(c == OPT_CONFIG && config)
        *config = optarg;
      if(c == OPT_CHECK_CONFIG)
        *cmd->check_config = 1;
      continue;
    }
    const cli_opt_t *o = c == '?' || c == ':' ? NULL : find(cmd, c);
    if(!o)
      return bad_option(cmd, c, argv);
    /* "--flag yes" and "--flag no", as in a config file: the command
     * line can then turn off what a file turned on. */
    const char *v = optarg;
    if(o->kind == CLI_OPT_FLAG && optind < argc &&
       (!strcmp(argv[optind], "yes") || !strcmp(argv[optind], "no")))
      v = argv[optind++];
    if(given) {
      given[o - cmd->opts] = 1;
      continue;
    }
    int rc = store(cmd, o, v);
    if(rc)
      return rc;
  }
}

static int parse(const cli_command_t *cmd, int argc, char **argv,
                 int *first_operand)
{
  struct option longs[MAX_OPTS + 4];
  char shorts[2 * MAX_OPTS + 4];
  unsigned char given[MAX_OPTS] = {0};
  const char *config = NULL;
  if(cmd->nopts > MAX_OPTS)
    abort(); /* a table larger than MAX_OPTS is a programming error */
  getopt_table(cmd, longs, shorts);
  /* The file first, without what the command line sets; then the
   * command line. */
  int rc = walk_argv(cmd, argc, argv, shorts, longs, given, &config);
  if(rc != CLI_GO_ON)
    return rc;
  if(config && (rc = apply_config(cmd, config, given)))
    return rc;
  rc = walk_argv(cmd, argc, argv, shorts, longs, NULL, NULL);
  if(rc == CLI_GO_ON)
    *first_operand = optind;
  return rc;
}

int cli_options_parse(const cli_command_t *cmd, int argc, char **argv,
                      int *first_operand)
{
  error_stream = cmd->err;
  int rc = parse(cmd, argc, argv, first_operand);
  error_stream = NULL;
  return rc;
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
  if(cmd->check_config) {
    fprintf(f,
            "  --config FILE%*soptions from FILE, one 'NAME VALUE' a\n"
            "%*sline; the command line wins\n",
            col - 15 > 1 ? col - 15 : 1, "", col, "");
    fprintf(f,
            "  --check-config%*scheck the options and every file and\n"
            "%*saddress they name, then exit, starting\n"
            "%*snothing\n",
            col - 16 > 1 ? col - 16 : 1, "", col, "", col, "");
  }
  fprintf(f, "  -h, --help%*sthis text\n", col - 12 > 1 ? col - 12 : 1, "");
  if(cmd->footer)
    fputs(cmd->footer, f);
}
