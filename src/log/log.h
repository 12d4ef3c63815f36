/*
 * log.h - one leveled logger for the I/O layers (never the cores): one
 * line per event on stderr, as text (`TIME LEVEL event k=v ...`) or JSON.
 * A line is built on the stack and written with one write(2), so lines
 * from several threads never interleave. Values are escaped; payload
 * bytes and keys are never passed here.
 *
 *   log_line_t l;
 *   if(log_begin(&l, LOG_INFO, "stream_done")) {
 *     log_u64(&l, "tunnel", id);
 *     log_str(&l, "target", "node:22");
 *     log_end(&l);
 *   }
 */
#ifndef BEACON_LOG_H
#define BEACON_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum log_level {
  LOG_DEBUG = 0,
  LOG_INFO = 1,
  LOG_WARN = 2,
  LOG_ERROR = 3
} log_level_t;

#define LOG_LINE_MAX 2048

typedef struct log_line {
  size_t len;
  int json;
  int truncated;
  char buf[LOG_LINE_MAX];
} log_line_t;

/* Process-wide settings; call once at start-up before threads. */
void log_setup(log_level_t min_level, int json);
/* Changes the level while threads log (a reload). */
void log_set_level(log_level_t min_level);
/* Parses "debug|info|warn|error" / "text|json"; -1 when unknown. */
int log_level_parse(const char *s);
int log_format_parse(const char *s);
int log_enabled(log_level_t level);

/* Starts a line; returns 0 (and writes nothing) below the level. */
int log_begin(log_line_t *l, log_level_t level, const char *event);
void log_str(log_line_t *l, const char *key, const char *val);
void log_u64(log_line_t *l, const char *key, uint64_t val);
void log_i64(log_line_t *l, const char *key, int64_t val);
void log_ms(log_line_t *l, const char *key, uint64_t ms); /* "1.234s" */
/* A point in time (seconds since the epoch): ISO 8601 UTC in text
 * ("2026-12-10T08:00:00Z"), a number in JSON, as log processors expect. */
void log_time(log_line_t *l, const char *key, int64_t unix_seconds);
void log_end(log_line_t *l);

/* A one-field convenience: event with msg="...". */
void log_msg(log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
