/* log.c - see log.h. */
#define _POSIX_C_SOURCE 200809L
#include "log/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Atomic: a reload changes it while other threads log. */
static atomic_int min_level = LOG_INFO;
static int use_json;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_setup(log_level_t level, int json)
{
  atomic_store(&min_level, (int)level);
  use_json = json;
}

void log_set_level(log_level_t level)
{
  atomic_store(&min_level, (int)level);
}

int log_level_parse(const char *s)
{
  for(int i = 0; i < 4; i++)
    if(!strcmp(s, level_names[i]))
      return i;
  if(!strcmp(s, "warning"))
    return LOG_WARN;
  return -1;
}

int log_format_parse(const char *s)
{
  if(!strcmp(s, "text"))
    return 0;
  if(!strcmp(s, "json"))
    return 1;
  return -1;
}

int log_enabled(log_level_t level)
{
  return (int)level >= atomic_load(&min_level);
}

static void put(log_line_t *l, const char *s, size_t n)
{
  /* Keep room for the closing brace and newline. */
  size_t room = sizeof(l->buf) - 3 - l->len;
  if(n > room) {
    n = room;
    l->truncated = 1;
  }
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void puts_(log_line_t *l, const char *s)
{
  put(l, s, strlen(s));
}

/* Escapes a value: JSON string rules, or for text a quoted form when the
 * value holds spaces, quotes, '=' or control bytes. */
static void put_value(log_line_t *l, const char *v)
{
  int quote = l->json || !*v;
  if(!quote)
    for(const char *p = v; *p; p++)
      if(*p == ' ' || *p == '"' || *p == '=' || *p == '\\' ||
         (unsigned char)*p < 0x20 || *p == 0x7f)
        quote = 1;
  if(quote)
    put(l, "\"", 1);
  for(const unsigned char *p = (const unsigned char *)v; *p; p++) {
    char esc[8];
    if(*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      put(l, esc, 2);
    } else if(*p < 0x20 || *p == 0x7f) {
      snprintf(esc, sizeof(esc), "\\u%04x", *p);
      put(l, esc, 6);
    } else {
      put(l, (const char *)p, 1);
    }
  }
  if(quote)
    put(l, "\"", 1);
}

static void put_key(log_line_t *l, const char *key)
{
  if(l->json) {
    put(l, ",\"", 2);
    puts_(l, key);
    put(l, "\":", 2);
  } else {
    put(l, " ", 1);
    puts_(l, key);
    put(l, "=", 1);
  }
}

int log_begin(log_line_t *l, log_level_t level, const char *event)
{
  if((int)level < atomic_load(&min_level))
    return 0;
  struct timespec ts;
  struct tm tm;
  char when[40];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
  l->len = 0;
  l->truncated = 0;
  l->json = use_json;
  if(l->json) {
    puts_(l, "{\"ts\":\"");
    puts_(l, when);
    puts_(l, "\",\"level\":\"");
    puts_(l, level_names[level]);
    puts_(l, "\",\"event\":");
    put_value(l, event);
  } else {
    puts_(l, when);
    put(l, " ", 1);
    puts_(l, level_names[level]);
    put(l, " ", 1);
    puts_(l, event);
  }
  return 1;
}

void log_str(log_line_t *l, const char *key, const char *val)
{
  put_key(l, key);
  put_value(l, val ? val : "");
}

void log_u64(log_line_t *l, const char *key, uint64_t val)
{
  char num[24];
  put_key(l, key);
  put(l, num,
      (size_t)snprintf(num, sizeof(num), "%llu", (unsigned long long)val));
}

void log_i64(log_line_t *l, const char *key, int64_t val)
{
  char num[24];
  put_key(l, key);
  put(l, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)val));
}

void log_ms(log_line_t *l, const char *key, uint64_t ms)
{
  char num[32];
  put_key(l, key);
  if(l->json)
    put(l, num, (size_t)snprintf(num, sizeof(num), "%.3f", ms / 1000.0));
  else
    put(l, num, (size_t)snprintf(num, sizeof(num), "%.3fs", ms / 1000.0));
}

void log_time(log_line_t *l, const char *key, int64_t unix_seconds)
{
  char when[40];
  struct tm tm;
  time_t t = (time_t)unix_seconds;
  if(l->json || !gmtime_r(&t, &tm) ||
     !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
    log_i64(l, key, unix_seconds);
    return;
  }
  put_key(l, key);
  puts_(l, when);
}

void log_end(log_line_t *l)
{
  if(l->json)
    l->buf[l->len++] = '}';
  l->buf[l->len++] = '\n';
  const char *p = l->buf;
  size_t left = l->len;
  while(left) {
    ssize_t w = write(STDERR_FILENO, p, left);
    if(w <= 0)
      break;
    p += w;
    left -= (size_t)w;
  }
}

void log_msg(log_level_t level, const char *event, const char *fmt, ...)
{
  log_line_t l;
  char msg[1024];
  va_list ap;
  if(!log_begin(&l, level, event))
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  log_str(&l, "msg", msg);
  log_end(&l);
}
