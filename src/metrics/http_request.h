/*
 * http_request.h - a sans-I/O parser for the head of an HTTP/1.x request
 * (RFC 9112 §2-§5), just enough for a metrics endpoint: request line and
 * header syntax are checked, the body is never read (the server answers
 * once and closes). Bytes are fed in pieces of any size, as they arrive.
 *
 *   http_req_t r;
 *   http_req_init(&r);
 *   size_t used = len;
 *   int rc = http_req_parse(&r, buf, &used);
 *   // BEACON_EAGAIN: all of buf consumed, feed more
 *   // 0: r.method / r.path / r.minor are set; used = bytes of the head
 *   // BEACON_ETOOLONG: head over HTTP_REQ_MAX (answer 431)
 *   // BEACON_EINVAL: malformed (answer 400)
 *
 * After a result other than BEACON_EAGAIN the parser consumes nothing and
 * returns BEACON_EINVAL.
 */
#ifndef BEACON_HTTP_REQUEST_H
#define BEACON_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define HTTP_REQ_MAX 8192 /* request line + headers + blank line */
#define HTTP_REQ_MAX_PATH 256
#define HTTP_REQ_MAX_HEADERS 64

typedef enum http_method {
  HTTP_GET = 0,
  HTTP_HEAD = 1,
  HTTP_OTHER = 2 /* syntactically valid token, answered with 405 */
} http_method_t;

typedef struct http_req {
  /* results, valid after 0 */
  http_method_t method;
  int minor;                        /* HTTP/1.<minor>: 0 or 1 */
  char path[HTTP_REQ_MAX_PATH + 1]; /* without the query, NUL-ended */
  /* state */
  int done;
  int skipping; /* leading empty lines before the request line */
  size_t len;
  char buf[HTTP_REQ_MAX];
} http_req_t;

void http_req_init(http_req_t *r);
BEACON_MUST_USE int http_req_parse(http_req_t *r, const uint8_t *in,
                                   size_t *inlen);

#endif
