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

static int same_text(const char *a, const char *b)
{
  return (!a && !b) || (a && b && !strcmp(a, b));
}

/* One row per option: its name and whether two configurations differ
 * in it. */
typedef struct restart_option {
  const char *name;
  int (*differs)(const relay_config_t *a, const relay_config_t *b);
} restart_option_t;

#define DIFFERS_TEXT(field)                                                   \
  static int differs_##field(const relay_config_t *a,                         \
                             const relay_config_t *b)                         \
  {                                                                           \
    return !same_text(a->field, b->field);                                    \
  }
#define DIFFERS(field)                                                        \
  static int differs_##field(const relay_config_t *a,                         \
                             const relay_config_t *b)                         \
  {                                                                           \
    return a->field != b->field;                                              \
  }

DIFFERS_TEXT(config_dir)
DIFFERS_TEXT(tunnel_addr)
DIFFERS_TEXT(metrics_addr)
DIFFERS_TEXT(running_config)
DIFFERS(workers)
DIFFERS(log_json)
DIFFERS(memory_limit)
DIFFERS(handshake_timeout_ms)
DIFFERS(max_handshakes_per_source)

static int differs_handshakes(const relay_config_t *a, const relay_config_t *b)
{
  return a->max_handshakes_start != b->max_handshakes_start ||
         a->max_handshakes_rate != b->max_handshakes_rate ||
         a->max_handshakes != b->max_handshakes;
}

static const restart_option_t restart_options[] = {
    {"config-dir", differs_config_dir},
    {"tunnel-addr", differs_tunnel_addr},
    {"workers", differs_workers},
    {"metrics-addr", differs_metrics_addr},
    {"log-format", differs_log_json},
    {"memory-limit", differs_memory_limit},
    {"handshake-timeout", differs_handshake_timeout_ms},
    {"max-handshakes", differs_handshakes},
    {"max-handshakes-per-source", differs_max_handshakes_per_source},
    {"running-config", differs_running_config},
};

size_t relay_config_restart_only(const relay_config_t *running,
                                 const relay_config_t *next,
                                 const char **names, size_t cap)
{
  size_t n = 0;
  size_t count = sizeof(restart_options) / sizeof(restart_options[0]);
  for(size_t i = 0; i < count; i++) {
    if(!restart_options[i].differs(running, next))
      continue;
    if(n < cap)
      names[n] = restart_options[i].name;
    n++;
  }
  return n;
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

/* The lines, as `beacon egress --config` reads them; an option left at
 * its "derive it" value (0, none) is left out, as the operator did. */
static void write_lines(FILE *f, const relay_config_t *c)
{
  fprintf(f, "# written by beacon egress: the options a reload cannot\n"
             "# change, as this relay runs them (--check-config reads it)\n");
  fprintf(f, "config-dir %s\n", c->config_dir);
  fprintf(f, "tunnel-addr %s\n", c->tunnel_addr);
  if(c->workers)
    fprintf(f, "workers %u\n", c->workers);
  if(c->metrics_addr)
    fprintf(f, "metrics-addr %s\n", c->metrics_addr);
  fprintf(f, "log-format %s\n", c->log_json ? "json" : "text");
  if(c->memory_limit)
    fprintf(f, "memory-limit %zu\n", c->memory_limit);
  fprintf(f, "handshake-timeout %llu.%03llu\n",
          (unsigned long long)(c->handshake_timeout_ms / 1000),
          (unsigned long long)(c->handshake_timeout_ms % 1000));
  fprintf(f, "max-handshakes %u:%u:%u\n", c->max_handshakes_start,
          c->max_handshakes_rate, c->max_handshakes);
  fprintf(f, "max-handshakes-per-source %u\n", c->max_handshakes_per_source);
  fprintf(f, "running-config %s\n", c->running_config);
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
