/*
 * http_body.h - where an HTTP/1.1 message body ends (RFC 9112 §6), for
 * the forward proxy of `beacon forward`: a sans-I/O scanner fed the bytes
 * that follow a head, in any split. It never changes them (a chunked
 * body is passed on as it came, with its trailers); it only says how
 * many belong to this message, so that a persistent connection can tell
 * where the next message starts. No I/O, no allocation.
 */
#ifndef BEACON_PROXY_HTTP_BODY_H
#define BEACON_PROXY_HTTP_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Longest chunk-size line (extensions included) and trailer section a
 * body may carry; longer is refused as malformed. */
#define HTTP_BODY_MAX_LINE 4096
#define HTTP_BODY_MAX_TRAILERS 8192

typedef enum http_body_kind {
  HTTP_BODY_NONE = 0,    /* no body: the message ends with its head */
  HTTP_BODY_LENGTH,      /* Content-Length bytes */
  HTTP_BODY_CHUNKED,     /* chunked, through the last chunk's trailers */
  HTTP_BODY_UNTIL_CLOSE, /* a response that ends when its sender closes */
} http_body_kind_t;

typedef struct http_body {
  http_body_kind_t kind;
  uint64_t left;   /* LENGTH: bytes to come; CHUNKED: of the current chunk */
  int state;       /* CHUNKED: where in the framing */
  int digits;      /* CHUNKED: hex digits of the current size */
  size_t line;     /* CHUNKED: bytes of the current size or trailer line */
  size_t trailers; /* CHUNKED: bytes of trailers so far */
  int cr_first;    /* CHUNKED: the trailer line so far is one CR */
  int done;
} http_body_t;

/* A body of the given kind (length is the Content-Length for LENGTH). */
void http_body_init(http_body_t *b, http_body_kind_t kind, uint64_t length);

/* Scans up to n bytes; *used returns how many belong to the body (the
 * rest, if b->done, starts the next message). 0, or BEACON_EINVAL for a
 * malformed chunked framing (the connection cannot be reused, and the
 * bytes cannot be trusted: close it). */
BEACON_MUST_USE int http_body_scan(http_body_t *b, const uint8_t *in, size_t n,
                                   size_t *used);

#endif
