/*
 * fuzz_http_request.c - the metrics endpoint's request parser
 * (src/metrics/http_request.c) on arbitrary bytes. Aborts when an
 * invariant breaks: the verdict and the bytes consumed do not depend on
 * how the input is split; consumed <= len; a finished parser takes
 * nothing more; an accepted head ends in an empty line and yields an
 * origin-form path without its query, within the path limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "metrics/http_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct result {
  int rc;
  size_t consumed;
  http_method_t method;
  int minor;
  char path[HTTP_REQ_MAX_PATH + 1];
} result_t;

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

static void feed(http_req_t *r, const uint8_t *data, size_t size,
                 size_t (*step)(size_t), result_t *res)
{
  size_t off = 0;

  http_req_init(r);
  memset(res, 0, sizeof(*res));
  res->rc = BEACON_EAGAIN;
  while(off < size) {
    size_t n = step(off);
    if(n > size - off)
      n = size - off;
    size_t used = n;
    res->rc = http_req_parse(r, data + off, &used);
    CHECK(used <= n);
    off += used;
    if(res->rc != BEACON_EAGAIN) {
      size_t zero = 1;
      CHECK(http_req_parse(r, (const uint8_t *)"x", &zero) == BEACON_EINVAL);
      CHECK(zero == 0);
      break;
    }
    CHECK(used == n);
  }
  res->consumed = off;
  if(res->rc == 0) {
    res->method = r->method;
    res->minor = r->minor;
    memcpy(res->path, r->path, sizeof(res->path));
  }
}

static int same(const result_t *a, const result_t *b)
{
  if(a->rc != b->rc || a->consumed != b->consumed)
    return 0;
  return a->rc || (a->method == b->method && a->minor == b->minor &&
                   !strcmp(a->path, b->path));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* The parser holds an 8 KiB buffer: keep it off the fuzzer's stack. */
  static http_req_t r;
  result_t a, b, c;

  chunk_src = data;
  feed(&r, data, size, whole, &a);
  feed(&r, data, size, one, &b);
  feed(&r, data, size, uneven, &c);
  CHECK(same(&a, &b) && same(&a, &c));
  CHECK(a.consumed <= size);
  CHECK(a.rc == 0 || a.rc == BEACON_EAGAIN || a.rc == BEACON_EINVAL ||
        a.rc == BEACON_ETOOLONG);
  if(a.rc == BEACON_EAGAIN)
    CHECK(a.consumed == size);
  if(a.rc == 0) {
    size_t len = strlen(a.path);
    CHECK(a.consumed >= 2 && data[a.consumed - 1] == '\n');
    CHECK(len >= 1 && len <= HTTP_REQ_MAX_PATH && a.path[0] == '/');
    CHECK(!strchr(a.path, '?'));
    CHECK(a.minor == 0 || a.minor == 1);
    CHECK(a.method == HTTP_GET || a.method == HTTP_HEAD ||
          a.method == HTTP_OTHER);
    for(size_t i = 0; i < len; i++)
      CHECK(a.path[i] > 0x20 && a.path[i] < 0x7f);
  }
  return 0;
}
