/*
 * test_socks.c - the SOCKS5 handshake parser (src/proxy/socks.h): every
 * greeting and request path with the exact reply bytes, exact consumed
 * counts (payload after the request is left alone), and equivalence of
 * every way of splitting the input.
 *
 * The parser is linked from the proxy layer (beacon_proxy), as the fuzzer
 * and `beacon forward` use it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "proxy/socks.h"

#define GREETING "\x05\x01\x00"
#define SELECTED "\x05\x00"
#define REQ_V4(a, b, c, d, ph, pl) "\x05\x01\x00\x01" a b c d ph pl

/* The outcome of feeding a whole input in chunks of `chunk` bytes (0 =
 * all at once), collecting every reply the caller would send. */
typedef struct run {
  int rc;
  size_t consumed;
  uint8_t out[64];
  size_t out_len;
  char target[TARGET_MAX_LINE + 1];
} run_t;

static void feed_chunks(const void *data, size_t len, size_t chunk, run_t *r)
{
  const uint8_t *in = data;
  proxy_socks_t s;
  size_t off = 0;

  proxy_socks_init(&s);
  memset(r, 0, sizeof(*r));
  r->rc = BEACON_EAGAIN;
  while(off < len) {
    size_t n = chunk ? chunk : len;
    if(n > len - off)
      n = len - off;
    size_t used = n;
    r->rc = proxy_socks_feed(&s, in + off, &used);
    assert_true(used <= n);
    off += used;
    assert_true(r->out_len + s.reply_len <= sizeof(r->out));
    memcpy(r->out + r->out_len, s.reply, s.reply_len);
    r->out_len += s.reply_len;
    s.reply_len = 0;
    if(r->rc != BEACON_EAGAIN)
      break;
    assert_int_equal(used, n);
  }
  r->consumed = off;
  if(r->rc == 0)
    strcpy(r->target, s.target);
}

static void expect_run(const void *in, size_t len, int rc, size_t consumed,
                       const void *out, size_t out_len, const char *target)
{
  run_t whole, r;

  feed_chunks(in, len, 0, &whole);
  assert_int_equal(whole.rc, rc);
  assert_int_equal(whole.consumed, consumed);
  assert_int_equal(whole.out_len, out_len);
  assert_memory_equal(whole.out, out, out_len);
  if(target)
    assert_string_equal(whole.target, target);
  /* Byte at a time and every other chunk size: the same result. */
  for(size_t chunk = 1; chunk <= len; chunk++) {
    feed_chunks(in, len, chunk, &r);
    assert_int_equal(r.rc, whole.rc);
    assert_int_equal(r.consumed, whole.consumed);
    assert_int_equal(r.out_len, whole.out_len);
    assert_memory_equal(r.out, whole.out, whole.out_len);
    assert_string_equal(r.target, whole.target);
  }
}

#define EXPECT(in, rc, consumed, out, target)                                 \
  expect_run(in, sizeof(in) - 1, rc, consumed, out, sizeof(out) - 1, target)

static void greeting_no_auth(void **state)
{
  /* no-auth is among the offered methods, in any position */
  EXPECT(GREETING, BEACON_EAGAIN, 3, SELECTED, NULL);
  EXPECT("\x05\x03\x02\x01\x00", BEACON_EAGAIN, 5, SELECTED, NULL);
  EXPECT("\x05\x02\x00\x02", BEACON_EAGAIN, 4, SELECTED, NULL);
}

static void greeting_without_no_auth(void **state)
{
  /* only username/password and GSSAPI: "no acceptable methods" */
  EXPECT("\x05\x02\x01\x02", BEACON_EINVAL, 4, "\x05\xff", NULL);
  /* no methods at all */
  EXPECT("\x05\x00", BEACON_EINVAL, 2, "\x05\xff", NULL);
  /* a request after a refused greeting is not read */
  EXPECT("\x05\x01\x02" REQ_V4("\x7f", "\0", "\0", "\1", "\0", "\x16"),
         BEACON_EINVAL, 3, "\x05\xff", NULL);
}

static void greeting_version_errors(void **state)
{
  /* SOCKS4: judged at the first byte, nothing sensible to answer */
  EXPECT("\x04\x01\x00\x50\x7f\x00\x00\x01\x00", BEACON_EINVAL, 1, "", NULL);
  EXPECT("\x00", BEACON_EINVAL, 1, "", NULL);
  /* a TLS ClientHello or an HTTP request on the SOCKS port */
  EXPECT("\x16\x03\x01\x02\x00", BEACON_EINVAL, 1, "", NULL);
  EXPECT("GET / HTTP/1.1\r\n\r\n", BEACON_EINVAL, 1, "", NULL);
}

static void request_version_error(void **state)
{
  EXPECT(GREETING "\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x16", BEACON_EINVAL, 4,
         SELECTED "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", NULL);
  /* a non-zero reserved byte */
  EXPECT(GREETING "\x05\x01\x01\x01\x7f\x00\x00\x01\x00\x16", BEACON_EINVAL,
         3 + 10, SELECTED "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", NULL);
}

static void connect_ipv4(void **state)
{
  EXPECT(GREETING REQ_V4("\x7f", "\x00", "\x00", "\x01", "\x00", "\x16"), 0,
         13, SELECTED, "127.0.0.1:22");
  EXPECT(GREETING REQ_V4("\xc0", "\xa8", "\xff", "\xfe", "\xff", "\xff"), 0,
         13, SELECTED, "192.168.255.254:65535");
}

static void connect_ipv6(void **state)
{
  EXPECT(GREETING "\x05\x01\x00\x04"
                  "\x20\x01\x0d\xb8\x00\x00\x00\x00"
                  "\x00\x00\x00\x00\x00\x00\x00\x01\x20\xfc",
         0, 3 + 22, SELECTED, "[2001:db8::1]:8444");
  EXPECT(GREETING "\x05\x01\x00\x04"
                  "\x00\x00\x00\x00\x00\x00\x00\x00"
                  "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x16",
         0, 3 + 22, SELECTED, "[::1]:22");
  EXPECT(GREETING "\x05\x01\x00\x04"
                  "\x00\x00\x00\x00\x00\x00\x00\x00"
                  "\x00\x00\xff\xff\x0a\x00\x00\x09\x01\xbb",
         0, 3 + 22, SELECTED, "[::ffff:10.0.0.9]:443");
}

static void connect_domain(void **state)
{
  EXPECT(GREETING "\x05\x01\x00\x03\x0b"
                  "example.com\x01\xbb",
         0, 3 + 4 + 1 + 11 + 2, SELECTED, "example.com:443");
  /* names go to the relay unresolved, case kept */
  EXPECT(GREETING "\x05\x01\x00\x03\x09Node-1.lb\x00\x16", 0,
         3 + 4 + 1 + 9 + 2, SELECTED, "Node-1.lb:22");
}

static void connect_domain_lengths(void **state)
{
  static const char reply04[] =
      SELECTED "\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00";
  uint8_t in[3 + 4 + 1 + 255 + 2];
  char want[TARGET_MAX_LINE + 1];

  /* length 0: no host */
  EXPECT(GREETING "\x05\x01\x00\x03\x00\x00\x50", BEACON_EINVAL, 3 + 7,
         reply04, NULL);

  /* length 255 (the most the byte can say): longer than a target line,
   * refused whole without overrunning anything */
  memcpy(in, GREETING "\x05\x01\x00\x03\xff", 8);
  for(size_t i = 0; i < 255; i++)
    in[8 + i] = (i % 64 == 63) ? '.' : 'a';
  in[8 + 255] = 0x00;
  in[8 + 256] = 0x50;
  expect_run(in, sizeof(in), BEACON_EINVAL, sizeof(in), reply04,
             sizeof(reply04) - 1, NULL);

  /* the longest name that still fits a 255-byte target line with a
   * 5-digit port: 249 bytes, labels of 63 */
  memcpy(in, GREETING "\x05\x01\x00\x03\xf9", 8);
  for(size_t i = 0; i < 249; i++)
    in[8 + i] = (i % 64 == 63) ? '.' : 'b';
  in[8 + 249] = 0xff;
  in[8 + 250] = 0xff;
  memcpy(want, in + 8, 249);
  strcpy(want + 249, ":65535");
  assert_int_equal(strlen(want), TARGET_MAX_LINE);
  expect_run(in, 8 + 251, 0, 8 + 251, SELECTED, 2, want);
}

static void connect_bad_target(void **state)
{
  static const char reply04[] =
      SELECTED "\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00";
  /* a NUL, a space or a colon inside the name */
  EXPECT(GREETING "\x05\x01\x00\x03\x03"
                  "a\x00"
                  "b\x00\x50",
         BEACON_EINVAL, 3 + 10, reply04, NULL);
  EXPECT(GREETING "\x05\x01\x00\x03\x03"
                  "a b\x00\x50",
         BEACON_EINVAL, 3 + 10, reply04, NULL);
  EXPECT(GREETING "\x05\x01\x00\x03\x06"
                  "a:22\nx\x00\x50",
         BEACON_EINVAL, 3 + 13, reply04, NULL);
  /* port 0 */
  EXPECT(GREETING REQ_V4("\x0a", "\x00", "\x00", "\x01", "\x00", "\x00"),
         BEACON_EINVAL, 13, reply04, NULL);
}

static void other_commands(void **state)
{
  static const char reply07[] =
      SELECTED "\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00";
  /* BIND, UDP ASSOCIATE, and an unknown command: 0x07, after the whole
   * request was read */
  EXPECT(GREETING "\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x16", BEACON_EINVAL,
         13, reply07, NULL);
  EXPECT(GREETING "\x05\x03\x00\x03\x04host\x00\x35", BEACON_EINVAL, 3 + 11,
         reply07, NULL);
  EXPECT(GREETING "\x05\x09\x00\x04"
                  "\x00\x00\x00\x00\x00\x00\x00\x00"
                  "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x16",
         BEACON_EINVAL, 3 + 22, reply07, NULL);
}

static void atyp_errors(void **state)
{
  static const char reply08[] =
      SELECTED "\x05\x08\x00\x01\x00\x00\x00\x00\x00\x00";
  /* judged as soon as the ATYP byte is there: its length is unknown */
  EXPECT(GREETING "\x05\x01\x00\x00", BEACON_EINVAL, 7, reply08, NULL);
  EXPECT(GREETING "\x05\x01\x00\x02\x7f\x00\x00\x01", BEACON_EINVAL, 7,
         reply08, NULL);
  EXPECT(GREETING "\x05\x01\x00\xff", BEACON_EINVAL, 7, reply08, NULL);
}

static void payload_left_over(void **state)
{
  static const char in[] = GREETING "\x05\x01\x00\x03\x0b"
                                    "example.com\x01\xbb"
                                    "\x16\x03\x01\x00\x05hello";
  proxy_socks_t s;
  size_t used = sizeof(in) - 1;

  proxy_socks_init(&s);
  assert_int_equal(proxy_socks_feed(&s, (const uint8_t *)in, &used), 0);
  assert_int_equal(used, 3 + 18);
  assert_memory_equal(in + used, "\x16\x03\x01\x00\x05hello", 10);
  assert_int_equal(s.reply_len, 2);
  assert_memory_equal(s.reply, SELECTED, 2);
  assert_string_equal(s.target, "example.com:443");

  /* also through the generic runner, in every chunk size */
  EXPECT(in, 0, 3 + 18, SELECTED, "example.com:443");
}

static void done_refuses_more(void **state)
{
  proxy_socks_t s;
  static const char in[] =
      GREETING REQ_V4("\x7f", "\x00", "\x00", "\x01", "\x00", "\x16");
  size_t used = sizeof(in) - 1;

  proxy_socks_init(&s);
  assert_int_equal(proxy_socks_feed(&s, (const uint8_t *)in, &used), 0);
  s.reply_len = 0;
  used = 3;
  assert_int_equal(proxy_socks_feed(&s, (const uint8_t *)GREETING, &used),
                   BEACON_EINVAL);
  assert_int_equal(used, 0);
  assert_int_equal(s.reply_len, 0);
  assert_string_equal(s.target, "127.0.0.1:22");

  /* after an error too, and an empty feed needs more */
  proxy_socks_init(&s);
  used = 0;
  assert_int_equal(proxy_socks_feed(&s, (const uint8_t *)"", &used),
                   BEACON_EAGAIN);
  used = 1;
  assert_int_equal(proxy_socks_feed(&s, (const uint8_t *)"\x04", &used),
                   BEACON_EINVAL);
  used = 1;
  assert_int_equal(proxy_socks_feed(&s, (const uint8_t *)"\x05", &used),
                   BEACON_EINVAL);
  assert_int_equal(used, 0);
}

static void replies_and_codes(void **state)
{
  uint8_t r[SOCKS_REPLY_SIZE];

  assert_int_equal(proxy_socks_reply(r, SOCKS_OK), 10);
  assert_memory_equal(r, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
  proxy_socks_reply(r, SOCKS_REFUSED);
  assert_memory_equal(r, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 10);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(greeting_no_auth),
      cmocka_unit_test(greeting_without_no_auth),
      cmocka_unit_test(greeting_version_errors),
      cmocka_unit_test(request_version_error),
      cmocka_unit_test(connect_ipv4),
      cmocka_unit_test(connect_ipv6),
      cmocka_unit_test(connect_domain),
      cmocka_unit_test(connect_domain_lengths),
      cmocka_unit_test(connect_bad_target),
      cmocka_unit_test(other_commands),
      cmocka_unit_test(atyp_errors),
      cmocka_unit_test(payload_left_over),
      cmocka_unit_test(done_refuses_more),
      cmocka_unit_test(replies_and_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
