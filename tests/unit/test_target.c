/*
 * test_target.c - the target line (docs/PROTOCOL.md "The target line"): what
 * is accepted and rejected, exact consumed counts, the 256th-byte rule,
 * equivalence of every way of splitting the input, and target_format round
 * trips.
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
#include "target/target.h"

typedef struct good {
  const char *line; /* without the newline */
  target_kind_t kind;
  const char *host;
  uint16_t port;
} good_t;

static const good_t goods[] = {
    {"1.2.3.4:443", TARGET_IPV4, "1.2.3.4", 443},
    {"node.example:8444", TARGET_DNS, "node.example", 8444},
    {"[2001:db8::1]:8444", TARGET_IPV6, "2001:db8::1", 8444},
    {"[::ffff:1.2.3.4]:80", TARGET_IPV6, "::ffff:1.2.3.4", 80},
    {"[::1.2.3.4]:80", TARGET_IPV6, "::1.2.3.4", 80},
    {"[1:2:3:4:5:6:1.2.3.4]:1", TARGET_IPV6, "1:2:3:4:5:6:1.2.3.4", 1},
    {"[::]:1", TARGET_IPV6, "::", 1},
    {"[::1]:65535", TARGET_IPV6, "::1", 65535},
    {"[1::]:2", TARGET_IPV6, "1::", 2},
    {"[1:2:3:4:5:6:7::]:2", TARGET_IPV6, "1:2:3:4:5:6:7::", 2},
    {"[::2:3:4:5:6:7:8]:2", TARGET_IPV6, "::2:3:4:5:6:7:8", 2},
    {"[1:2:3:4:5:6:7:8]:9", TARGET_IPV6, "1:2:3:4:5:6:7:8", 9},
    {"[FFFF:abcd:0:0::0000]:9", TARGET_IPV6, "FFFF:abcd:0:0::0000", 9},
    {"[fe80::1]:22", TARGET_IPV6, "fe80::1", 22},
    {"0.0.0.0:1", TARGET_IPV4, "0.0.0.0", 1},
    {"255.255.255.255:65535", TARGET_IPV4, "255.255.255.255", 65535},
    {"10.0.0.9:8444", TARGET_IPV4, "10.0.0.9", 8444},
    {"example.com.:80", TARGET_DNS, "example.com.", 80},
    {"a:1", TARGET_DNS, "a", 1},
    {"localhost:22", TARGET_DNS, "localhost", 22},
    {"_srv._tcp.example:1", TARGET_DNS, "_srv._tcp.example", 1},
    {"xn--bcher-kva.example:443", TARGET_DNS, "xn--bcher-kva.example", 443},
    {"EXAMPLE.Com:443", TARGET_DNS, "EXAMPLE.Com", 443},
    {"a-b.c-d:1", TARGET_DNS, "a-b.c-d", 1},
    {"1a.example:1", TARGET_DNS, "1a.example", 1},
    {"123.example:1", TARGET_DNS, "123.example", 1},
    {"1.2.3.a:1", TARGET_DNS, "1.2.3.a", 1},
    {"0x.example:1", TARGET_DNS, "0x.example", 1},
    {"a.0x7f:1", TARGET_DNS, "a.0x7f", 1},
    {"0xg:1", TARGET_DNS, "0xg", 1},
    {"1.2.3.4.5.0x1:1", TARGET_DNS, "1.2.3.4.5.0x1", 1},
    {"host:00443", TARGET_DNS, "host", 443},
    {"host:08444", TARGET_DNS, "host", 8444},
};

static const char *const bads[] = {
    "",
    "1.2.3.4",
    "host:",
    "host:0",
    "host:00000",
    "host:70000",
    "host:65536",
    "host:99999",
    ":443",
    "not-a-target",
    "1.2.3.4:notaport",
    "2001:db8::1:443",
    "::1:443",
    "::1",
    "host:+443",
    "host:-443",
    "host: 443",
    " host:443",
    "host :443",
    "host:443 ",
    "host:000443",
    "host:443x",
    "host:443:1",
    "host:0x1bb",
    "[::1]",
    "[::1]443",
    "[::1]:",
    "[::1]:0",
    "[]:80",
    "[::1%eth0]:80",
    "[fe80::1%25eth0]:80",
    "[1.2.3.4]:80",
    "[::1:80",
    "::1]:80",
    "[::1]]:80",
    "[[::1]]:80",
    "[::1]:80]",
    "[host]:80",
    "[1:2:3:4:5:6:7:8:9]:1",
    "[1:2:3:4:5:6:7::8]:1",
    "[1::2::3]:1",
    "[12345::]:1",
    "[::1.2.3.4.5]:1",
    "[::ffff:01.2.3.4]:1",
    "[::1.2.3]:1",
    "[1:2:3:4:5:6:7:1.2.3.4]:1",
    "[::1.2.3.4:1]:1",
    "[1:]:1",
    "[:1]:1",
    "[:::]:1",
    "[:]:1",
    "[g::]:1",
    "[1:2:3:4:5:6:7]:1",
    "01.2.3.4:80",
    "1.2.3.04:80",
    "00.0.0.0:80",
    "256.1.1.1:80",
    "1.2.3.256:80",
    "1000.2.3.4:80",
    "1.2.3:80",
    "1.2.3.4.5:80",
    "1.2.3.4.:80",
    "1..2.3:80",
    ".1.2.3:80",
    "123:80",
    "127.1:80",
    "0x7f.1:80",
    "0X7F000001:80",
    "0x7f.0.0.1:80",
    "0x:80",
    "-host:80",
    "host-:80",
    "a.-b:80",
    "a-.b:80",
    "a..b:80",
    ".host:80",
    "host..:80",
    ".:80",
    "..:80",
    "ho st:80",
    "ho%st:80",
    "ho/st:80",
    "h\xc3\xb6st:80",
    "host\r:80",
    "a[b:80",
    "a]b:80",
    "a[::1]:80",
};

/* A 253-byte DNS name: the longest host a 255-byte line can carry with
 * a one-digit port. */
static void long_host(char *buf, size_t len)
{
  for(size_t i = 0; i < len; i++)
    buf[i] = (i % 64 == 63) ? '.' : 'a' + (char)(i % 26);
  buf[len] = 0;
}

/* Feeds `in` in chunks of sizes[0], sizes[1], ... (cycling; 0 = all the
 * rest) and returns the first result other than EAGAIN, with the total
 * consumed in *used. */
static int feed(const uint8_t *in, size_t len, const size_t *sizes,
                size_t nsizes, size_t *used, target_t *out)
{
  target_parser_t p;
  size_t off = 0, k = 0;
  int r = BEACON_EAGAIN;

  target_parser_init(&p);
  while(off < len) {
    size_t n = sizes[k++ % nsizes];
    if(n == 0 || n > len - off)
      n = len - off;
    size_t c = n;
    r = target_parse(&p, in + off, &c, out);
    assert_true(c <= n);
    off += c;
    if(r != BEACON_EAGAIN)
      break;
    assert_int_equal(c, n);
  }
  *used = off;
  return r;
}

static int feed_whole(const char *s, size_t len, size_t *used, target_t *out)
{
  static const size_t all[] = {0};
  return feed((const uint8_t *)s, len, all, 1, used, out);
}

static void assert_same(const target_t *a, const target_t *b)
{
  assert_int_equal(a->kind, b->kind);
  assert_int_equal(a->port, b->port);
  assert_string_equal(a->host, b->host);
}

/* Every way of feeding `in` must give the same answer. */
static void check_splits(const char *in, size_t len, int want_rc,
                         size_t want_used)
{
  static const size_t one[] = {1};
  static const size_t uneven[] = {3, 1, 7, 2, 64, 5};
  target_t ref, t;
  size_t used;
  int r;

  memset(&ref, 0, sizeof(ref));
  r = feed_whole(in, len, &used, &ref);
  assert_int_equal(r, want_rc);
  assert_int_equal(used, want_used);

  memset(&t, 0, sizeof(t));
  assert_int_equal(feed((const uint8_t *)in, len, one, 1, &used, &t), want_rc);
  assert_int_equal(used, want_used);
  if(!want_rc)
    assert_same(&ref, &t);

  assert_int_equal(feed((const uint8_t *)in, len, uneven, 6, &used, &t),
                   want_rc);
  assert_int_equal(used, want_used);
  if(!want_rc)
    assert_same(&ref, &t);

  /* Random chunkings, reproducible. */
  srand(12345);
  for(int iter = 0; iter < 50; iter++) {
    size_t sizes[16];
    for(int i = 0; i < 16; i++)
      sizes[i] = 1 + (size_t)rand() % 20;
    memset(&t, 0, sizeof(t));
    assert_int_equal(feed((const uint8_t *)in, len, sizes, 16, &used, &t),
                     want_rc);
    assert_int_equal(used, want_used);
    if(!want_rc)
      assert_same(&ref, &t);
  }
}

static void test_accepts(void **state)
{
  for(size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
    const good_t *g = &goods[i];
    char line[300];
    target_t t;
    size_t len = strlen(g->line);

    print_message("accept %s\n", g->line);
    memset(&t, 0, sizeof(t));
    assert_int_equal(target_from_string(g->line, len, &t), 0);
    assert_int_equal(t.kind, g->kind);
    assert_string_equal(t.host, g->host);
    assert_int_equal(t.port, g->port);
    assert_int_equal(target_from_string(g->line, len, NULL), 0);

    snprintf(line, sizeof(line), "%s\n", g->line);
    check_splits(line, len + 1, 0, len + 1);
  }
}

static void test_rejects(void **state)
{
  for(size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
    char line[300];
    size_t len = strlen(bads[i]), used;
    target_t t;

    print_message("reject '%s'\n", bads[i]);
    assert_int_equal(target_from_string(bads[i], len, &t), BEACON_EINVAL);
    assert_int_equal(target_from_string(bads[i], len, NULL), BEACON_EINVAL);
    snprintf(line, sizeof(line), "%s\nPAYLOAD", bads[i]);
    /* Rejected at the newline at the latest, never beyond it. */
    assert_int_equal(feed_whole(line, len + 8, &used, &t), BEACON_EINVAL);
    assert_true(used >= 1 && used <= len + 1);
    check_splits(line, len + 8, BEACON_EINVAL, used);
  }
}

static void test_payload_left_alone(void **state)
{
  const char *in = "10.0.0.9:8444\nPAYLOAD";
  target_parser_t p;
  target_t t;
  size_t len = strlen(in);

  target_parser_init(&p);
  assert_int_equal(target_parse(&p, (const uint8_t *)in, &len, &t), 0);
  assert_int_equal(len, 14);
  assert_string_equal(in + len, "PAYLOAD");
  assert_int_equal(t.kind, TARGET_IPV4);
  assert_string_equal(t.host, "10.0.0.9");
  assert_int_equal(t.port, 8444);
  check_splits(in, strlen(in), 0, 14);

  /* A second line in the same buffer is payload too. */
  check_splits("a:1\nb:2\n", 8, 0, 4);
  /* So are bytes that would be invalid in a target. */
  check_splits("[::1]:9\n\r\n\0\xff", 12, 0, 8);
}

static void test_done_parser_refuses(void **state)
{
  target_parser_t p;
  target_t t;
  size_t n;

  target_parser_init(&p);
  n = 4;
  assert_int_equal(target_parse(&p, (const uint8_t *)"a:1\n", &n, &t), 0);
  n = 4;
  assert_int_equal(target_parse(&p, (const uint8_t *)"b:2\n", &n, &t),
                   BEACON_EINVAL);
  assert_int_equal(n, 0);

  target_parser_init(&p);
  n = 2;
  assert_int_equal(target_parse(&p, (const uint8_t *)"\r\n", &n, &t),
                   BEACON_EINVAL);
  assert_int_equal(n, 1);
  n = 4;
  assert_int_equal(target_parse(&p, (const uint8_t *)"a:1\n", &n, &t),
                   BEACON_EINVAL);
  assert_int_equal(n, 0);

  /* init makes a parser reusable. */
  target_parser_init(&p);
  n = 4;
  assert_int_equal(target_parse(&p, (const uint8_t *)"a:1\n", &n, &t), 0);
  assert_string_equal(t.host, "a");
}

static void test_need_more(void **state)
{
  target_parser_t p;
  target_t t;
  size_t n = 0;

  target_parser_init(&p);
  assert_int_equal(target_parse(&p, (const uint8_t *)"", &n, &t),
                   BEACON_EAGAIN);
  assert_int_equal(n, 0);
  n = 8;
  assert_int_equal(target_parse(&p, (const uint8_t *)"[::1]:44", &n, &t),
                   BEACON_EAGAIN);
  assert_int_equal(n, 8);
  n = 2;
  assert_int_equal(target_parse(&p, (const uint8_t *)"3\n", &n, &t), 0);
  assert_int_equal(n, 2);
  assert_string_equal(t.host, "::1");
  assert_int_equal(t.port, 443);
  assert_int_equal(t.kind, TARGET_IPV6);
}

static void test_bad_bytes_fail_at_once(void **state)
{
  /* CRLF is rejected (LF only, docs/PROTOCOL.md "The target line"), on the
   * '\r' itself. */
  check_splits("host.example:443\r\n", 18, BEACON_EINVAL, 17);
  /* NUL, and bytes that cannot appear in any target, fail on arrival
   * even before a newline. */
  check_splits("host\0:443\n", 10, BEACON_EINVAL, 5);
  check_splits("ho st", 5, BEACON_EINVAL, 3);
  check_splits("[fe80::1%eth0]:1\n", 17, BEACON_EINVAL, 9);
  check_splits("\xff", 1, BEACON_EINVAL, 1);
  check_splits("\n", 1, BEACON_EINVAL, 1);
  check_splits("\nabc", 4, BEACON_EINVAL, 1);
}

static void test_line_limit(void **state)
{
  char buf[400], host[300];
  target_t t;
  size_t used;

  /* 255 bytes + newline: the longest valid line. */
  long_host(host, 253);
  snprintf(buf, sizeof(buf), "%s:1\nX", host);
  assert_int_equal(strlen(buf), 257);
  check_splits(buf, 257, 0, 256);
  assert_int_equal(feed_whole(buf, 257, &used, &t), 0);
  assert_string_equal(t.host, host);
  assert_int_equal(target_from_string(buf, 255, NULL), 0);

  /* 255 bytes and no newline yet: still waiting. */
  check_splits(buf, 255, BEACON_EAGAIN, 255);

  /* Byte 256 that is not a newline fails at once, consumed counted
   * through it and no further. */
  snprintf(buf, sizeof(buf), "%s:12\nX", host);
  check_splits(buf, 258, BEACON_ETOOLONG, 256);
  memset(buf, 'a', sizeof(buf));
  check_splits(buf, sizeof(buf), BEACON_ETOOLONG, 256);
  check_splits(buf, 256, BEACON_ETOOLONG, 256);

  /* Byte at a time: 255 times EAGAIN, then ETOOLONG. */
  {
    target_parser_t p;
    target_parser_init(&p);
    for(int i = 0; i < 255; i++) {
      size_t n = 1;
      assert_int_equal(target_parse(&p, (const uint8_t *)"a", &n, &t),
                       BEACON_EAGAIN);
      assert_int_equal(n, 1);
    }
    size_t n = 3;
    assert_int_equal(target_parse(&p, (const uint8_t *)"a:1", &n, &t),
                     BEACON_ETOOLONG);
    assert_int_equal(n, 1);
  }

  /* target_from_string has the same limit. */
  memset(buf, 'a', sizeof(buf));
  assert_int_equal(target_from_string(buf, 256, NULL), BEACON_ETOOLONG);
  assert_int_equal(target_from_string(buf, 255, NULL), BEACON_EINVAL);
}

static void test_labels(void **state)
{
  char host[300], line[320];
  size_t used;
  target_t t;

  /* A label of 63 bytes is fine, 64 is not, wherever it stands. */
  memset(host, 'x', 63);
  host[63] = 0;
  snprintf(line, sizeof(line), "%s:1", host);
  assert_int_equal(target_from_string(line, strlen(line), NULL), 0);
  snprintf(line, sizeof(line), "a.%s.b:1", host);
  assert_int_equal(target_from_string(line, strlen(line), NULL), 0);
  snprintf(line, sizeof(line), "%s.:1", host);
  assert_int_equal(target_from_string(line, strlen(line), NULL), 0);
  memset(host, 'x', 64);
  host[64] = 0;
  snprintf(line, sizeof(line), "%s:1", host);
  assert_int_equal(target_from_string(line, strlen(line), NULL),
                   BEACON_EINVAL);
  snprintf(line, sizeof(line), "a.%s.b:1", host);
  assert_int_equal(target_from_string(line, strlen(line), NULL),
                   BEACON_EINVAL);
  snprintf(line, sizeof(line), "%s.:1", host);
  assert_int_equal(target_from_string(line, strlen(line), NULL),
                   BEACON_EINVAL);
  snprintf(line, sizeof(line), "%s:1\n", host);
  check_splits(line, strlen(line), BEACON_EINVAL, strlen(line));

  /* 253 bytes, the most a DNS name may have, with a trailing dot too. */
  long_host(host, 252);
  snprintf(line, sizeof(line), "%s.:1\n", host);
  assert_int_equal(feed_whole(line, strlen(line), &used, &t), 0);
  assert_int_equal(strlen(t.host), 253);

  /* NUL inside a string handed to target_from_string. */
  assert_int_equal(target_from_string("a\0b:80", 6, NULL), BEACON_EINVAL);
  assert_int_equal(target_from_string("a:80\0", 5, NULL), BEACON_EINVAL);
  assert_int_equal(target_from_string(NULL, 0, NULL), BEACON_EINVAL);
  /* A failed validation leaves *out untouched. */
  memset(&t, 0x5a, sizeof(t));
  assert_int_equal(target_from_string("host:0", 6, &t), BEACON_EINVAL);
  assert_int_equal(t.port, 0x5a5a);
}

static void test_format(void **state)
{
  char buf[TARGET_MAX_LINE + 2];

  for(size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
    target_t t, back;
    size_t used;
    assert_int_equal(
        target_from_string(goods[i].line, strlen(goods[i].line), &t), 0);
    int n = target_format(&t, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(buf));
    assert_int_equal(buf[n - 1], '\n');
    /* What is formatted parses back to the same target ... */
    assert_int_equal(feed_whole(buf, (size_t)n, &used, &back), 0);
    assert_int_equal(used, (size_t)n);
    assert_same(&t, &back);
    /* ... and exactly the bytes needed are enough. */
    assert_int_equal(target_format(&t, buf, (size_t)n + 1), n);
    assert_int_equal(target_format(&t, buf, (size_t)n), BEACON_ETOOLONG);
    assert_int_equal(buf[0], 0);
    assert_int_equal(target_format(&t, buf, 0), BEACON_ETOOLONG);
  }

  {
    target_t t = {TARGET_IPV6, 8444, "2001:db8::1"};
    assert_int_equal(target_format(&t, buf, sizeof(buf)), 19);
    assert_string_equal(buf, "[2001:db8::1]:8444\n");
    t.kind = TARGET_DNS;
    strcpy(t.host, "node.example");
    assert_int_equal(target_format(&t, buf, sizeof(buf)), 18);
    assert_string_equal(buf, "node.example:8444\n");
    t.kind = TARGET_IPV4;
    strcpy(t.host, "10.0.0.9");
    t.port = 65535;
    assert_int_equal(target_format(&t, buf, sizeof(buf)), 15);
    assert_string_equal(buf, "10.0.0.9:65535\n");
  }
}

static void test_format_rejects(void **state)
{
  char buf[600];
  target_t t = {TARGET_DNS, 80, "host"};

  assert_int_equal(target_format(NULL, buf, sizeof(buf)), BEACON_EINVAL);
  assert_int_equal(target_format(&t, NULL, 10), BEACON_EINVAL);
  t.port = 0;
  assert_int_equal(target_format(&t, buf, sizeof(buf)), BEACON_EINVAL);
  t.port = 80;
  t.kind = (target_kind_t)7;
  assert_int_equal(target_format(&t, buf, sizeof(buf)), BEACON_EINVAL);
  t.kind = TARGET_DNS;
  t.host[0] = 0;
  assert_int_equal(target_format(&t, buf, sizeof(buf)), BEACON_EINVAL);
  /* Unterminated host. */
  memset(t.host, 'a', sizeof(t.host));
  assert_int_equal(target_format(&t, buf, sizeof(buf)), BEACON_EINVAL);
  /* A host that would make the line longer than 255 bytes. */
  memset(t.host, 'a', 253);
  t.host[253] = 0;
  t.port = 1;
  assert_int_equal(target_format(&t, buf, sizeof(buf)), 256);
  t.port = 10;
  assert_int_equal(target_format(&t, buf, sizeof(buf)), BEACON_ETOOLONG);
  t.kind = TARGET_IPV6;
  t.port = 1;
  assert_int_equal(target_format(&t, buf, sizeof(buf)), BEACON_ETOOLONG);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts),
      cmocka_unit_test(test_rejects),
      cmocka_unit_test(test_payload_left_alone),
      cmocka_unit_test(test_done_parser_refuses),
      cmocka_unit_test(test_need_more),
      cmocka_unit_test(test_bad_bytes_fail_at_once),
      cmocka_unit_test(test_line_limit),
      cmocka_unit_test(test_labels),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_format_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
