/*
 * http_connect.h - a sans-I/O parser for an HTTP/1.1 CONNECT request
 * (RFC 9110 §9.3.6) for `beacon forward --http-connect`. Fed bytes as
 * they arrive, in any split; it consumes exactly through the blank line
 * that ends the header and not one byte further. The header is bounded
 * (HTTP_CONNECT_MAX_HEADER). No I/O, no allocation.
 */
#ifndef BEACON_PROXY_HTTP_CONNECT_H
#define BEACON_PROXY_HTTP_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"
#include "common/error.h"

#define HTTP_CONNECT_MAX_HEADER 8192

typedef struct proxy_http {
  int done;
  /* Another method with an absolute-form http:// URI: a forward-proxy
   * request, whose head is buf[start, len) (target stays empty). */
  int forward;
  int status;   /* the error status to answer with: 400, 405 or 431 */
  size_t len;   /* bytes buffered, leading empty lines included */
  size_t start; /* where the request line starts in buf */
  char buf[HTTP_CONNECT_MAX_HEADER];
  char target[TARGET_MAX_LINE + 1];
} proxy_http_t;

void proxy_http_init(proxy_http_t *h);

/* Feeds *inlen bytes; *inlen returns the count consumed. Returns
 * BEACON_EAGAIN (all consumed, more needed), 0 with h->target set (a
 * valid CONNECT host:port) or h->forward set, or BEACON_EINVAL /
 * BEACON_ETOOLONG with h->status set (answer it with proxy_http_response(),
 * then close). */
BEACON_MUST_USE int proxy_http_feed(proxy_http_t *h, const uint8_t *in,
                                    size_t *inlen);

/* Formats the response for status (200, 400, 403, 405, 408, 431, 502,
 * 503, 504; the failures' statuses come from common/outcome.h) with a
 * short text body for errors; returns its length (out is NUL-terminated
 * and cap must be >= 256). */
size_t proxy_http_response(char *out, size_t cap, int status,
                           const char *detail);

#endif
