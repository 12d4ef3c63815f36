/*
 * restart_only.c - what a reload leaves to a restart (restart_only.h):
 * the listening sockets, the worker threads, the metrics endpoint, the
 * log format, and the budgets sized at start (memory, handshakes).
 */
#include "relay/restart_only.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"

/* Each option's value as its config line has it; "" for one left at
 * its "derive it" value (0, none), as an operator leaves it out. */
typedef void (*format_fn)(const relay_config_t *c, char *out, size_t cap);

static void text_of(const char *v, char *out, size_t cap)
{
  snprintf(out, cap, "%s", v ? v : "");
}

static void fmt_config_dir(const relay_config_t *c, char *out, size_t cap)
{
  text_of(c->config_dir, out, cap);
}

static void fmt_tunnel_addr(const relay_config_t *c, char *out, size_t cap)
{
  text_of(c->tunnel_addr, out, cap);
}

static void fmt_metrics_addr(const relay_config_t *c, char *out, size_t cap)
{
  text_of(c->metrics_addr, out, cap);
}

static void fmt_running_config(const relay_config_t *c, char *out, size_t cap)
{
  text_of(c->running_config, out, cap);
}

static void fmt_workers(const relay_config_t *c, char *out, size_t cap)
{
  if(c->workers)
    snprintf(out, cap, "%u", c->workers);
  else
    out[0] = 0;
}

static void fmt_log_format(const relay_config_t *c, char *out, size_t cap)
{
  snprintf(out, cap, "%s", c->log_json ? "json" : "text");
}

static void fmt_memory_limit(const relay_config_t *c, char *out, size_t cap)
{
  if(c->memory_limit)
    snprintf(out, cap, "%zu", c->memory_limit);
  else
    out[0] = 0;
}

static void fmt_handshake_timeout(const relay_config_t *c, char *out,
                                  size_t cap)
{
  snprintf(out, cap, "%llu.%03llu",
           (unsigned long long)(c->handshake_timeout_ms / 1000),
           (unsigned long long)(c->handshake_timeout_ms % 1000));
}

static void fmt_handshakes(const relay_config_t *c, char *out, size_t cap)
{
  snprintf(out, cap, "%u:%u:%u", c->max_handshakes_start,
           c->max_handshakes_rate, c->max_handshakes);
}

static void fmt_per_source(const relay_config_t *c, char *out, size_t cap)
{
  snprintf(out, cap, "%u", c->max_handshakes_per_source);
}

typedef struct restart_option {
  const char *name;
  format_fn format;
} restart_option_t;

static const restart_option_t restart_options[] = {
    {"config-dir", fmt_config_dir},
    {"tunnel-addr", fmt_tunnel_addr},
    {"workers", fmt_workers},
    {"metrics-addr", fmt_metrics_addr},
    {"log-format", fmt_log_format},
    {"memory-limit", fmt_memory_limit},
    {"handshake-timeout", fmt_handshake_timeout},
    {"max-handshakes", fmt_handshakes},
    {"max-handshakes-per-source", fmt_per_source},
    {"running-config", fmt_running_config},
};

#define RESTART_OPTIONS (sizeof(restart_options) / sizeof(restart_options[0]))
#define VALUE_MAX 4096

size_t relay_config_restart_only(const relay_config_t *running,
                                 const relay_config_t *next,
                                 const char **names, size_t cap)
{
  char a[VALUE_MAX], b[VALUE_MAX];
  size_t n = 0;
  for(size_t i = 0; i < RESTART_OPTIONS; i++) {
    restart_options[i].format(running, a, sizeof(a));
    restart_options[i].format(next, b, sizeof(b));
    if(!strcmp(a, b))
      continue;
    if(n < cap)
      names[n] = restart_options[i].name;
    n++;
  }
  return n;
}

int relay_config_option_text(const relay_config_t *cfg, const char *name,
                             char *out, size_t cap)
{
  for(size_t i = 0; i < RESTART_OPTIONS; i++)
    if(!strcmp(restart_options[i].name, name)) {
      restart_options[i].format(cfg, out, cap);
      if(!out[0])
        snprintf(out, cap, "(default)");
      return 0;
    }
  snprintf(out, cap, "?");
  return -1;
}

void relay_restart_only_keep(const relay_config_t *running,
                             relay_config_t *next)
{
  next->config_dir = running->config_dir;
  next->tunnel_addr = running->tunnel_addr;
  next->workers = running->workers;
  next->metrics_addr = running->metrics_addr;
  next->log_json = running->log_json;
  next->memory_limit = running->memory_limit;
  next->handshake_timeout_ms = running->handshake_timeout_ms;
  next->max_handshakes_start = running->max_handshakes_start;
  next->max_handshakes_rate = running->max_handshakes_rate;
  next->max_handshakes = running->max_handshakes;
  next->max_handshakes_per_source = running->max_handshakes_per_source;
  next->running_config = running->running_config;
}

/* The lines, as `beacon egress --config` reads them. */
static void write_lines(FILE *f, const relay_config_t *c)
{
  char v[VALUE_MAX];
  fprintf(f, "# written by beacon egress: the options a reload cannot\n"
             "# change, as this relay runs them (--check-config reads it)\n");
  for(size_t i = 0; i < RESTART_OPTIONS; i++) {
    restart_options[i].format(c, v, sizeof(v));
    if(v[0])
      fprintf(f, "%s %s\n", restart_options[i].name, v);
  }
}

void relay_restart_only_write(const relay_config_t *cfg)
{
  char tmp[4096];
  if(!cfg->running_config)
    return;
  int n = snprintf(tmp, sizeof(tmp), "%s.tmp", cfg->running_config);
  FILE *f = n > 0 && (size_t)n < sizeof(tmp) ? fopen(tmp, "w") : NULL;
  int e = f ? 0 : errno ? errno : ENAMETOOLONG;
  if(f) {
    write_lines(f, cfg);
    if(fclose(f))
      e = errno;
    else if(rename(tmp, cfg->running_config))
      e = errno;
    if(e)
      remove(tmp);
  }
  if(e) {
    log_line_t l;
    if(log_begin(&l, LOG_WARN, "running_config_failed")) {
      log_str(&l, "file", cfg->running_config);
      log_str(&l, "error", strerror(e));
      log_end(&l);
    }
  }
}
