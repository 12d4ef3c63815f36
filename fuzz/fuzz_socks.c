/*
 * fuzz_socks.c - the SOCKS5 handshake parser (src/proxy/socks.h) on
 * arbitrary bytes. Aborts when an invariant breaks: consumed <= len and
 * nothing consumed after the end; the same outcome, consumed count,
 * reply bytes and target whole, byte at a time, and in uneven chunks;
 * every reply is a method selection (05 00 / 05 FF) or a 10-byte
 * request reply; every accepted target is a valid target string.
 *
 * The parser is linked from the proxy layer (beacon_proxy), which depends
 * only on the target layer: the fuzz build needs no client layer and no
 * libuv.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "proxy/socks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct result {
  int rc;
  size_t consumed;
  uint8_t out[2 + SOCKS_REPLY_SIZE]; /* every reply sent, in order */
  size_t out_len;
  char target[TARGET_MAX_LINE + 1];
} result_t;

static void check_reply(const uint8_t *r, size_t n)
{
  CHECK(n == 2 || n == SOCKS_REPLY_SIZE);
  CHECK(r[0] == 5);
  if(n == 2) {
    CHECK(r[1] == 0x00 || r[1] == 0xff);
    return;
  }
  static const uint8_t tail[8] = {0, 1, 0, 0, 0, 0, 0, 0};
  CHECK(r[1] >= SOCKS_GENERAL_FAILURE && r[1] <= SOCKS_ATYP_UNSUPPORTED);
  CHECK(!memcmp(r + 2, tail, sizeof(tail)));
}

static void feed(const uint8_t *data, size_t size, size_t (*step)(size_t),
                 result_t *res)
{
  proxy_socks_t s;
  size_t off = 0;

  proxy_socks_init(&s);
  memset(res, 0, sizeof(*res));
  res->rc = BEACON_EAGAIN;
  while(off < size) {
    size_t n = step(off);
    if(n > size - off)
      n = size - off;
    size_t used = n;
    res->rc = proxy_socks_feed(&s, data + off, &used);
    CHECK(used <= n);
    off += used;
    if(s.reply_len) {
      /* The method selection and a request reply may come together. */
      if(s.reply_len == 2 + SOCKS_REPLY_SIZE) {
        check_reply(s.reply, 2);
        check_reply(s.reply + 2, SOCKS_REPLY_SIZE);
      } else {
        check_reply(s.reply, s.reply_len);
      }
      CHECK(res->out_len + s.reply_len <= sizeof(res->out));
      memcpy(res->out + res->out_len, s.reply, s.reply_len);
      res->out_len += s.reply_len;
      s.reply_len = 0;
    }
    if(res->rc != BEACON_EAGAIN) {
      size_t zero = 1;
      CHECK(res->rc == 0 || res->rc == BEACON_EINVAL);
      /* A finished parser refuses more input and consumes nothing. */
      CHECK(proxy_socks_feed(&s, (const uint8_t *)"x", &zero) ==
            BEACON_EINVAL);
      CHECK(zero == 0 && !s.reply_len);
      break;
    }
    CHECK(used == n);
  }
  res->consumed = off;
  if(res->rc == 0) {
    size_t tl = strlen(s.target);
    CHECK(tl > 0 && tl <= TARGET_MAX_LINE);
    CHECK(target_from_string(s.target, tl, NULL) == 0);
    memcpy(res->target, s.target, tl + 1);
    /* Success always followed the 05 00 method selection. */
    CHECK(res->out_len == 2 && res->out[1] == 0);
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
  return (size_t)(chunk_src[off] % 7) + 1;
}

static int same(const result_t *a, const result_t *b)
{
  return a->rc == b->rc && a->consumed == b->consumed &&
         a->out_len == b->out_len && !memcmp(a->out, b->out, a->out_len) &&
         !strcmp(a->target, b->target);
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
  return 0;
}
