/*
 * target.h - the target line `host:port\n` (docs/PROTOCOL.md "The target
 * line"): an incremental, allocation-free parser fed bytes as they arrive,
 * plus validation and formatting of a target string. Sans-I/O: no sockets, no
 * allocation.
 */
#ifndef BEACON_TARGET_H
#define BEACON_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* The whole line without its newline is at most this many bytes; byte 256
 * without a newline is rejected at once. */
#define TARGET_MAX_LINE 255

typedef enum target_kind {
  TARGET_DNS = 1, /* letters, digits, '-', '_', '.'; labels <= 63 bytes */
  TARGET_IPV4 = 2,
  TARGET_IPV6 = 3 /* written in brackets on the wire; stored without */
} target_kind_t;

typedef struct target {
  target_kind_t kind;
  uint16_t port;                  /* 1..65535 */
  char host[TARGET_MAX_LINE + 1]; /* NUL-terminated, no brackets */
} target_t;

typedef struct target_parser {
  size_t len; /* bytes buffered so far */
  int done;   /* 1 after a line or an error */
  char line[TARGET_MAX_LINE + 1];
} target_parser_t;

void target_parser_init(target_parser_t *p);

/*
 * Feeds *inlen bytes. On return *inlen holds how many were consumed: on
 * success exactly through the newline and not one byte further, so the
 * rest of `in` is payload. Returns 0 with *out filled when the line is
 * complete, BEACON_EAGAIN when more bytes are needed (all were consumed),
 * BEACON_ETOOLONG as soon as byte 256 arrives without a newline, or
 * BEACON_EINVAL for a malformed line. After 0 or an error the parser is
 * done; feeding it again returns BEACON_EINVAL.
 */
BEACON_MUST_USE int target_parse(target_parser_t *p, const uint8_t *in,
                                 size_t *inlen, target_t *out);

/* Validates "host:port" (no newline) of len bytes. 0 or BEACON_EINVAL /
 * BEACON_ETOOLONG. out may be NULL to only validate. */
BEACON_MUST_USE int target_from_string(const char *s, size_t len,
                                       target_t *out);

/* Writes "host:port\n" (brackets for IPv6) NUL-terminated into buf.
 * Returns the line length including the newline, or BEACON_ETOOLONG when
 * cap is too small. */
BEACON_MUST_USE int target_format(const target_t *t, char *buf, size_t cap);

#endif
