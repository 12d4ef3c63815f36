/*
 * fuzz_target.c - the target-line parser (docs/PROTOCOL.md "The target line")
 * on arbitrary bytes. Aborts when an invariant breaks: consumed <= len and
 * exactly through the first newline; the same result whole, byte at a time,
 * and in uneven chunks; agreement with target_from_string(); and every
 * accepted target formats to a line that parses back to the same target.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "target/target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct result {
  int rc;
  size_t consumed;
  target_t t;
} result_t;

/* Feeds data in chunks whose sizes come from step(); stops at the first
 * result other than BEACON_EAGAIN, like the relay does. */
static void feed(const uint8_t *data, size_t size, size_t (*step)(size_t),
                 result_t *res)
{
  target_parser_t p;
  size_t off = 0;

  target_parser_init(&p);
  memset(res, 0, sizeof(*res));
  res->rc = BEACON_EAGAIN;
  while(off < size) {
    size_t n = step(off);
    if(n > size - off)
      n = size - off;
    size_t used = n;
    res->rc = target_parse(&p, data + off, &used, &res->t);
    CHECK(used <= n);
    off += used;
    if(res->rc != BEACON_EAGAIN) {
      size_t zero = 1;
      /* A finished parser refuses more input and consumes nothing. */
      CHECK(target_parse(&p, (const uint8_t *)"x", &zero, &res->t) ==
            BEACON_EINVAL);
      CHECK(zero == 0);
      break;
    }
    CHECK(used == n);
  }
  res->consumed = off;
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
  return (size_t)(chunk_src[off] % 7) + 1;
}

static int same(const result_t *a, const result_t *b)
{
  if(a->rc != b->rc || a->consumed != b->consumed)
    return 0;
  if(a->rc)
    return 1;
  return a->t.kind == b->t.kind && a->t.port == b->t.port &&
         !strcmp(a->t.host, b->t.host);
}

static void round_trip(const target_t *t)
{
  char line[TARGET_MAX_LINE + 2];
  target_t back;
  int n = target_format(t, line, sizeof(line));

  CHECK(n >= 4 && (size_t)n <= TARGET_MAX_LINE + 1);
  CHECK((size_t)n == strlen(line) && line[n - 1] == '\n');
  CHECK(target_from_string(line, (size_t)n - 1, &back) == 0);
  CHECK(back.kind == t->kind && back.port == t->port &&
        !strcmp(back.host, t->host));
  /* One byte too small must fail cleanly. */
  CHECK(target_format(t, line, (size_t)n) == BEACON_ETOOLONG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  result_t a, b, c;
  const uint8_t *nl = memchr(data, '\n', size);

  chunk_src = data;
  feed(data, size, whole, &a);
  feed(data, size, one, &b);
  feed(data, size, uneven, &c);
  CHECK(same(&a, &b) && same(&a, &c));
  CHECK(a.consumed <= size);

  if(nl && (size_t)(nl - data) <= TARGET_MAX_LINE) {
    /* The line ends at the first newline, whatever follows it. */
    size_t len = (size_t)(nl - data);
    target_t t;
    CHECK(a.rc == 0 || a.rc == BEACON_EINVAL);
    if(a.rc == 0)
      CHECK(a.consumed == len + 1);
    else
      CHECK(a.consumed <= len + 1);
    if(a.consumed == len + 1) {
      /* Rejected at the newline rather than on a bad byte: the line as
       * a string must get the same verdict. */
      int r = target_from_string((const char *)data, len, &t);
      CHECK(r == a.rc);
      if(!r)
        CHECK(t.kind == a.t.kind && t.port == a.t.port &&
              !strcmp(t.host, a.t.host));
    }
  } else if(size > TARGET_MAX_LINE) {
    CHECK(a.rc == BEACON_ETOOLONG || a.rc == BEACON_EINVAL);
    if(a.rc == BEACON_ETOOLONG)
      CHECK(a.consumed == TARGET_MAX_LINE + 1);
  } else {
    CHECK(a.rc == BEACON_EAGAIN || a.rc == BEACON_EINVAL);
    if(a.rc == BEACON_EAGAIN)
      CHECK(a.consumed == size);
  }
  if(a.rc == 0) {
    CHECK(a.t.port >= 1);
    CHECK(a.t.kind == TARGET_DNS || a.t.kind == TARGET_IPV4 ||
          a.t.kind == TARGET_IPV6);
    round_trip(&a.t);
  }

  /* The whole input as a "host:port" string. */
  {
    target_t t;
    int r = target_from_string((const char *)data, size, &t);
    CHECK(r == 0 || r == BEACON_EINVAL || r == BEACON_ETOOLONG);
    CHECK(r != BEACON_ETOOLONG || size > TARGET_MAX_LINE);
    CHECK(target_from_string((const char *)data, size, NULL) == r);
    if(!r)
      round_trip(&t);
  }
  return 0;
}
