/*
 * test_http_connect.c - the HTTP CONNECT request parser
 * (src/proxy/http_connect.h): accepted and refused requests with their
 * status, exact consumed counts (what follows the blank line is payload),
 * the header bound, every split of the input, and the exact response
 * bytes.
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
#include "proxy/http_connect.h"

typedef struct run {
  int rc;
  int status;
  size_t consumed;
  char target[TARGET_MAX_LINE + 1];
} run_t;

static proxy_http_t parser; /* 8 KiB: off the stack */

/* Feeds in[0, split) then the rest (split == len: all at once). */
static void feed_split(const char *in, size_t len, size_t split, run_t *r)
{
  size_t used;

  proxy_http_init(&parser);
  memset(r, 0, sizeof(*r));
  used = split;
  r->rc = proxy_http_feed(&parser, (const uint8_t *)in, &used);
  r->consumed = used;
  if(r->rc == BEACON_EAGAIN) {
    assert_int_equal(used, split);
    used = len - split;
    r->rc = proxy_http_feed(&parser, (const uint8_t *)in + split, &used);
    r->consumed += used;
  }
  r->status = parser.status;
  if(r->rc == 0)
    strcpy(r->target, parser.target);
}

/* Checks one input whole and split at every byte. */
static void expect(const char *in, size_t len, int rc, int status,
                   size_t consumed, const char *target)
{
  run_t r;

  for(size_t split = 0; split <= len; split++) {
    feed_split(in, len, split, &r);
    assert_int_equal(r.rc, rc);
    assert_int_equal(r.status, status);
    assert_int_equal(r.consumed, consumed);
    if(target)
      assert_string_equal(r.target, target);
  }
}

#define EXPECT(in, rc, status, consumed, target)                              \
  expect(in, sizeof(in) - 1, rc, status, consumed, target)

static void valid_request(void **state)
{
  static const char req[] = "CONNECT example.com:443 HTTP/1.1\r\n"
                            "Host: example.com:443\r\n"
                            "User-Agent: curl/7.88.1\r\n"
                            "Proxy-Connection: Keep-Alive\r\n\r\n";
  EXPECT(req, 0, 0, sizeof(req) - 1, "example.com:443");
  /* HTTP/1.0, no header fields, bare LF line ends */
  EXPECT("CONNECT 10.0.0.9:22 HTTP/1.0\n\n", 0, 0, 30, "10.0.0.9:22");
  /* empty lines before the request line are skipped (RFC 9112 §2.2) */
  EXPECT("\r\n\nCONNECT a:1 HTTP/1.1\r\n\r\n", 0, 0, 3 + 24, "a:1");
}

static void bracketed_ipv6(void **state)
{
  EXPECT("CONNECT [2001:db8::1]:8444 HTTP/1.1\r\n"
         "Host: [2001:db8::1]:8444\r\n\r\n",
         0, 0, 65, "[2001:db8::1]:8444");
  EXPECT("CONNECT [::1]:22 HTTP/1.1\r\n\r\n", 0, 0, 29, "[::1]:22");
  /* unbracketed IPv6 is ambiguous: refused */
  EXPECT("CONNECT ::1:22 HTTP/1.1\r\n\r\n", BEACON_EINVAL, 400, 27, NULL);
}

static void payload_left_unconsumed(void **state)
{
  static const char in[] =
      "CONNECT node.example:22 HTTP/1.1\r\n\r\nSSH-2.0-OpenSSH_9.2\r\n";
  size_t used = sizeof(in) - 1;

  proxy_http_init(&parser);
  assert_int_equal(proxy_http_feed(&parser, (const uint8_t *)in, &used), 0);
  assert_int_equal(used, 36);
  assert_string_equal(in + used, "SSH-2.0-OpenSSH_9.2\r\n");
  assert_string_equal(parser.target, "node.example:22");
  /* every split, with the payload glued on */
  EXPECT(in, 0, 0, 36, "node.example:22");
  /* and a payload that looks like another header end */
  EXPECT("CONNECT a:1 HTTP/1.1\n\n\n\r\n\r\n", 0, 0, 22, "a:1");
}

static void lower_case_method(void **state)
{
  /* methods are case-sensitive (RFC 9110 §9.1): "connect" is another
   * method, not ours */
  EXPECT("connect example.com:443 HTTP/1.1\r\n\r\n", BEACON_EINVAL, 405, 36,
         NULL);
  EXPECT("Connect example.com:443 HTTP/1.1\r\n\r\n", BEACON_EINVAL, 405, 36,
         NULL);
}

static void other_methods(void **state)
{
  /* origin form and https:// are not proxy requests */
  EXPECT("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", BEACON_EINVAL, 405, 37,
         NULL);
  EXPECT("GET https://example.com/ HTTP/1.1\r\n\r\n", BEACON_EINVAL, 405, 37,
         NULL);
  EXPECT("CONNECTX a:1 HTTP/1.1\r\n\r\n", BEACON_EINVAL, 405, 25, NULL);
}

/* An absolute http:// URI: a forward-proxy request, left whole in the
 * buffer with no target (proxy/http_forward.h reads it). */
static void forward_requests(void **state)
{
  static const char req[] =
      "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\nBODY";
  proxy_http_t h;
  size_t used = sizeof(req) - 1;
  (void)state;
  proxy_http_init(&h);
  assert_int_equal(proxy_http_feed(&h, (const uint8_t *)req, &used), 0);
  assert_int_equal(used, sizeof(req) - 1 - 4);
  assert_true(h.forward);
  assert_string_equal(h.target, "");
  assert_memory_equal(h.buf + h.start, req, used - h.start);
}

static void missing_port(void **state)
{
  EXPECT("CONNECT example.com HTTP/1.1\r\n\r\n", BEACON_EINVAL, 400, 32, NULL);
  EXPECT("CONNECT example.com: HTTP/1.1\r\n\r\n", BEACON_EINVAL, 400, 33,
         NULL);
  EXPECT("CONNECT [::1] HTTP/1.1\r\n\r\n", BEACON_EINVAL, 400, 26, NULL);
  EXPECT("CONNECT example.com:0 HTTP/1.1\r\n\r\n", BEACON_EINVAL, 400, 34,
         NULL);
  EXPECT("CONNECT example.com:65536 HTTP/1.1\r\n\r\n", BEACON_EINVAL, 400, 38,
         NULL);
}

static void malformed_request_line(void **state)
{
  /* no version, bad version, extra spaces, an absolute URI */
  EXPECT("CONNECT a:1\r\n\r\n", BEACON_EINVAL, 400, 15, NULL);
  EXPECT("CONNECT a:1 HTTP/2.0\r\n\r\n", BEACON_EINVAL, 400, 24, NULL);
  EXPECT("CONNECT a:1 HTTP/1.1 \r\n\r\n", BEACON_EINVAL, 400, 25, NULL);
  EXPECT("CONNECT  a:1 HTTP/1.1\r\n\r\n", BEACON_EINVAL, 400, 25, NULL);
  EXPECT("CONNECT http://a:1 HTTP/1.1\r\n\r\n", BEACON_EINVAL, 400, 31, NULL);
  EXPECT("CONNECT a:1 http/1.1\r\n\r\n", BEACON_EINVAL, 400, 24, NULL);
  EXPECT("\x16\x03\x01\x00\x05\n\n", BEACON_EINVAL, 400, 7, NULL);
}

static void header_too_big(void **state)
{
  static char in[HTTP_CONNECT_MAX_HEADER + 64];
  static const char line[] = "CONNECT a.example:443 HTTP/1.1\r\nX-Big: ";
  size_t used;

  memcpy(in, line, sizeof(line) - 1);
  memset(in + sizeof(line) - 1, 'x', sizeof(in) - (sizeof(line) - 1));
  /* exactly the bound is still read; one byte more without the end of
   * the header is refused with 431 (RFC 6585 §5) */
  proxy_http_init(&parser);
  used = HTTP_CONNECT_MAX_HEADER;
  assert_int_equal(proxy_http_feed(&parser, (const uint8_t *)in, &used),
                   BEACON_EAGAIN);
  assert_int_equal(used, HTTP_CONNECT_MAX_HEADER);
  used = 1;
  assert_int_equal(proxy_http_feed(&parser, (const uint8_t *)in, &used),
                   BEACON_ETOOLONG);
  assert_int_equal(used, 0);
  assert_int_equal(parser.status, 431);

  expect(in, sizeof(in), BEACON_ETOOLONG, 431, HTTP_CONNECT_MAX_HEADER, NULL);

  /* a header that ends exactly at the bound is accepted */
  memcpy(in + HTTP_CONNECT_MAX_HEADER - 4, "\r\n\r\n", 4);
  expect(in, HTTP_CONNECT_MAX_HEADER, 0, 0, HTTP_CONNECT_MAX_HEADER,
         "a.example:443");

  /* empty lines before the request line count against the bound too:
   * a stream of CR LF cannot keep the parser reading for ever */
  for(size_t i = 0; i + 1 < sizeof(in); i += 2)
    memcpy(in + i, "\r\n", 2);
  expect(in, sizeof(in), BEACON_ETOOLONG, 431, HTTP_CONNECT_MAX_HEADER, NULL);
}

static void done_refuses_more(void **state)
{
  size_t used;

  proxy_http_init(&parser);
  used = 0;
  assert_int_equal(proxy_http_feed(&parser, (const uint8_t *)"", &used),
                   BEACON_EAGAIN);
  used = 18;
  assert_int_equal(
      proxy_http_feed(&parser, (const uint8_t *)"CONNECT a:1 H\n\n", &used),
      BEACON_EINVAL);
  used = 2;
  assert_int_equal(proxy_http_feed(&parser, (const uint8_t *)"\n\n", &used),
                   BEACON_EINVAL);
  assert_int_equal(used, 0);
}

static void responses(void **state)
{
  char out[512];
  size_t n;
  static const char r200[] = "HTTP/1.1 200 Connection established\r\n\r\n";
  static const char r405[] = "HTTP/1.1 405 Method Not Allowed\r\n"
                             "Content-Type: text/plain\r\n"
                             "Content-Length: 26\r\n"
                             "Connection: close\r\n"
                             "Allow: CONNECT\r\n"
                             "\r\n"
                             "only CONNECT is supported\n";
  static const char r431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                             "Content-Type: text/plain\r\n"
                             "Content-Length: 1\r\n"
                             "Connection: close\r\n"
                             "\r\n"
                             "\n";
  static const char r504[] = "HTTP/1.1 504 Gateway Timeout\r\n"
                             "Content-Type: text/plain\r\n"
                             "Content-Length: 8\r\n"
                             "Connection: close\r\n"
                             "\r\n"
                             "timeout\n";

  n = proxy_http_response(out, sizeof(out), 200, NULL);
  assert_int_equal(n, sizeof(r200) - 1);
  assert_string_equal(out, r200);
  n = proxy_http_response(out, sizeof(out), 405, "only CONNECT is supported");
  assert_int_equal(n, sizeof(r405) - 1);
  assert_string_equal(out, r405);
  n = proxy_http_response(out, sizeof(out), 431, NULL);
  assert_string_equal(out, r431);
  n = proxy_http_response(out, sizeof(out), 504, "timeout");
  assert_string_equal(out, r504);

  /* a long detail is cut at 120 bytes and Content-Length says so */
  char detail[300];
  memset(detail, 'd', sizeof(detail) - 1);
  detail[sizeof(detail) - 1] = 0;
  n = proxy_http_response(out, sizeof(out), 502, detail);
  assert_non_null(strstr(out, "HTTP/1.1 502 Bad Gateway\r\n"));
  assert_non_null(strstr(out, "Content-Length: 121\r\n"));
  const char *body = strstr(out, "\r\n\r\n");
  assert_non_null(body);
  assert_int_equal(n - (size_t)(body + 4 - out), 121);
  n = proxy_http_response(out, sizeof(out), 503, "no tunnel");
  assert_non_null(strstr(out, "HTTP/1.1 503 Service Unavailable\r\n"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(valid_request),
      cmocka_unit_test(bracketed_ipv6),
      cmocka_unit_test(payload_left_unconsumed),
      cmocka_unit_test(lower_case_method),
      cmocka_unit_test(other_methods),
      cmocka_unit_test(forward_requests),
      cmocka_unit_test(missing_port),
      cmocka_unit_test(malformed_request_line),
      cmocka_unit_test(header_too_big),
      cmocka_unit_test(done_refuses_more),
      cmocka_unit_test(responses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
