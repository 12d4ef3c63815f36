/*
 * fuzz_http_connect.c - the HTTP CONNECT request parser
 * (src/proxy/http_connect.h) on arbitrary bytes. Aborts when an
 * invariant breaks: consumed <= len; on success exactly through the blank
 * line that ends the header; the same outcome, consumed count, status and
 * target whole, byte at a time, and in uneven chunks; errors carry a
 * status of 400, 405 or 431; every accepted target is a valid target
 * string; every response formats within its buffer with a Content-Length
 * that matches its body.
 *
 * The parser is linked from the proxy layer (beacon_proxy), which depends
 * only on the target layer: the fuzz build needs no client layer and no
 * libuv.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "proxy/http_connect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct result {
  int rc;
  int status;
  int forward;
  size_t consumed;
  char target[TARGET_MAX_LINE + 1];
} result_t;

static void feed(const uint8_t *data, size_t size, size_t (*step)(size_t),
                 result_t *res)
{
  static proxy_http_t h;
  size_t off = 0;

  proxy_http_init(&h);
  memset(res, 0, sizeof(*res));
  res->rc = BEACON_EAGAIN;
  while(off < size) {
    size_t n = step(off);
    if(n > size - off)
      n = size - off;
    size_t used = n;
    res->rc = proxy_http_feed(&h, data + off, &used);
    CHECK(used <= n);
    off += used;
    if(res->rc != BEACON_EAGAIN) {
      size_t zero = 1;
      CHECK(proxy_http_feed(&h, (const uint8_t *)"x", &zero) == BEACON_EINVAL);
      CHECK(zero == 0);
      break;
    }
    CHECK(used == n);
  }
  res->consumed = off;
  res->status = h.status;
  res->forward = h.forward;
  if(res->rc == 0) {
    size_t tl = strlen(h.target);
    CHECK(h.status == 0);
    /* A forward-proxy request leaves its target to http_forward.h. */
    CHECK(h.forward ? tl == 0 : target_from_string(h.target, tl, NULL) == 0);
    memcpy(res->target, h.target, tl + 1);
    /* Exactly through the blank line: the last bytes are LF LF or
     * LF CR LF. */
    CHECK(off >= 2 && data[off - 1] == '\n');
    CHECK(data[off - 2] == '\n' ||
          (off >= 3 && data[off - 2] == '\r' && data[off - 3] == '\n'));
  } else if(res->rc == BEACON_EINVAL) {
    CHECK(h.status == 400 || h.status == 405);
  } else if(res->rc == BEACON_ETOOLONG) {
    CHECK(h.status == 431 && off == HTTP_CONNECT_MAX_HEADER);
  } else {
    CHECK(res->rc == BEACON_EAGAIN && off == size);
  }
}

static const uint8_t *chunk_src;

static size_t whole(size_t off)
{
  return (size_t)-1;
}

static size_t one(size_t off)
{
  return 1;
}

static size_t uneven(size_t off)
{
  return (size_t)(chunk_src[off] % 13) + 1;
}

static int same(const result_t *a, const result_t *b)
{
  return a->rc == b->rc && a->status == b->status &&
         a->forward == b->forward && a->consumed == b->consumed &&
         !strcmp(a->target, b->target);
}

/* Responses: the Content-Length header counts exactly the body. */
static void check_response(int status, const char *detail)
{
  char out[512];
  size_t n = proxy_http_response(out, sizeof(out), status, detail);
  CHECK(n > 0 && n < sizeof(out) && strlen(out) == n);
  if(status == 200)
    return;
  const char *cl = strstr(out, "Content-Length: ");
  const char *body = strstr(out, "\r\n\r\n");
  CHECK(cl && body);
  CHECK((size_t)strtoul(cl + 16, NULL, 10) == n - (size_t)(body + 4 - out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static result_t a, b, c;

  chunk_src = data;
  feed(data, size, whole, &a);
  feed(data, size, one, &b);
  feed(data, size, uneven, &c);
  CHECK(same(&a, &b));
  CHECK(same(&a, &c));

  /* The detail comes from error messages; any bytes but NUL. */
  char detail[300];
  size_t dl = size < sizeof(detail) - 1 ? size : sizeof(detail) - 1;
  memcpy(detail, data, dl);
  detail[dl] = 0;
  check_response(a.status ? a.status : 502, detail);
  return 0;
}
