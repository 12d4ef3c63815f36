/*
 * test_http_forward.c - the forward proxy's sans-I/O parts: the head
 * rewriting of src/proxy/http_forward.h (exact output bytes, framing,
 * keep-alive, refusals) and the body-end scanner of src/proxy/http_body.h
 * (exact counts, in every split).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "proxy/http_body.h"
#include "proxy/http_forward.h"

static char out[HTTP_FORWARD_MAX_HEAD + HTTP_FORWARD_HEAD_SLACK];

static int request(const char *head, http_fwd_request_t *r, size_t *ol)
{
  const char *why = NULL;
  int st = http_fwd_request(head, strlen(head), r, out, sizeof(out), ol, &why);
  if(st)
    assert_non_null(why);
  else
    out[*ol] = 0;
  return st;
}

static void test_request_rewrite(void **state)
{
  (void)state;
  http_fwd_request_t r;
  size_t ol;
  assert_int_equal(
      request("GET http://Example.org:8080/a/b?q=1#frag HTTP/1.1\r\n"
              "Host: wrong.example\r\nProxy-Connection: keep-alive\r\n"
              "Proxy-Authorization: Basic eA==\r\nConnection: X-Hop, close\r\n"
              "X-Hop: 1\r\nKeep-Alive: 5\r\nAccept: */*\r\nTE: trailers\r\n"
              "Upgrade: h2c\r\n\r\n",
              &r, &ol),
      0);
  assert_string_equal(out, "GET /a/b?q=1 HTTP/1.1\r\n"
                           "Host: Example.org:8080\r\n"
                           "Accept: */*\r\n"
                           "Via: 1.1 beacon\r\n\r\n");
  assert_string_equal(r.target, "Example.org:8080");
  assert_int_equal(r.keep_alive, 0); /* Connection: close */
  assert_int_equal(r.is_head, 0);
  assert_int_equal(r.body.kind, HTTP_BODY_NONE);
  assert_true(r.body.done);

  /* Default port, empty path, query only, IPv6, HEAD, 1.0 keep-alive. */
  assert_int_equal(request("HEAD http://[::1]?x HTTP/1.0\r\n"
                           "Connection: keep-alive\r\n\r\n",
                           &r, &ol),
                   0);
  assert_string_equal(out, "HEAD /?x HTTP/1.0\r\nHost: [::1]\r\n"
                           "Via: 1.0 beacon\r\n\r\n");
  assert_string_equal(r.target, "[::1]:80");
  assert_int_equal(r.keep_alive, 1);
  assert_int_equal(r.is_head, 1);
  assert_int_equal(request("GET http://h: HTTP/1.0\r\n\r\n", &r, &ol), 0);
  assert_string_equal(r.target, "h:80");
  assert_int_equal(r.keep_alive, 0); /* 1.0 without keep-alive */
}

static void test_request_framing(void **state)
{
  (void)state;
  http_fwd_request_t r;
  size_t ol;
  assert_int_equal(request("POST http://h/ HTTP/1.1\r\n"
                           "Content-Length: 5, 5\r\n\r\n",
                           &r, &ol),
                   0);
  assert_int_equal(r.body.kind, HTTP_BODY_LENGTH);
  assert_int_equal(r.body.left, 5);
  assert_int_equal(r.keep_alive, 1);
  assert_non_null(strstr(out, "Content-Length: 5, 5\r\n"));
  assert_int_equal(request("POST http://h/ HTTP/1.1\r\n"
                           "Transfer-Encoding: gzip, chunked\r\n\r\n",
                           &r, &ol),
                   0);
  assert_int_equal(r.body.kind, HTTP_BODY_CHUNKED);
  assert_non_null(strstr(out, "Transfer-Encoding: gzip, chunked\r\n"));
  /* Refusals: smuggling-shaped framing, unknown codings, bad URIs. */
  static const struct {
    const char *head;
    int status;
  } bad[] = {
      {"POST http://h/ HTTP/1.1\r\nContent-Length: 1\r\n"
       "Transfer-Encoding: chunked\r\n\r\n",
       400},
      {"POST http://h/ HTTP/1.1\r\nContent-Length: 1\r\n"
       "Content-Length: 2\r\n\r\n",
       400},
      {"POST http://h/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      /* chunked not last: the length cannot be known (RFC 9112 §6.3) */
      {"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       400},
      {"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked, "
       "chunked\r\n\r\n",
       400},
      {"POST http://h/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET http://u:p@h/ HTTP/1.1\r\n\r\n", 400},
      {"GET http:/// HTTP/1.1\r\n\r\n", 400},
      {"GET http://h:99999/ HTTP/1.1\r\n\r\n", 400},
      {"GET http://[::1/ HTTP/1.1\r\n\r\n", 400},
      {"GET http://h/ HTTP/2.0\r\n\r\n", 400},
      {"GET http://h/ HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"GET http://h/ HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n", 400},
      {"GET http://h/ HTTP/1.1\r\nNoColon\r\n\r\n", 400},
  };
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if(request(bad[i].head, &r, &ol) != bad[i].status)
      fail_msg("%s", bad[i].head);
  }
}

static int response(const char *head, int is_head, int keep,
                    http_fwd_response_t *r)
{
  size_t ol;
  const char *why = NULL;
  int rc = http_fwd_response(head, strlen(head), is_head, keep, r, out,
                             sizeof(out), &ol, &why);
  if(!rc)
    out[ol] = 0;
  return rc;
}

static void test_response(void **state)
{
  (void)state;
  http_fwd_response_t r;
  assert_int_equal(response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                            "Connection: X-A\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
                            0, 1, &r),
                   0);
  assert_string_equal(out, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                           "X-B: 2\r\nVia: 1.1 beacon\r\n"
                           "Connection: keep-alive\r\n\r\n");
  assert_int_equal(r.body.kind, HTTP_BODY_LENGTH);
  assert_true(r.keep_alive && r.client_keep);
  /* No framing: ends with the close, so the client's connection too. */
  assert_int_equal(response("HTTP/1.1 200 OK\r\n\r\n", 0, 1, &r), 0);
  assert_int_equal(r.body.kind, HTTP_BODY_UNTIL_CLOSE);
  assert_false(r.keep_alive || r.client_keep);
  assert_non_null(strstr(out, "Connection: close\r\n"));
  /* HEAD, 204 and 304 have no body whatever they say. */
  assert_int_equal(
      response("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 1, 1, &r), 0);
  assert_int_equal(r.body.kind, HTTP_BODY_NONE);
  assert_int_equal(response("HTTP/1.1 304 Not Modified\r\n\r\n", 0, 1, &r), 0);
  assert_true(r.body.done && r.client_keep);
  /* 1xx: interim, no Connection field added. */
  assert_int_equal(response("HTTP/1.1 100 Continue\r\n\r\n", 0, 1, &r), 0);
  assert_true(r.interim);
  assert_string_equal(out, "HTTP/1.1 100 Continue\r\nVia: 1.1 beacon\r\n\r\n");
  /* Transfer-Encoding overrides Content-Length; 1.0 closes. */
  assert_int_equal(response("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n",
                            0, 1, &r),
                   0);
  assert_int_equal(r.body.kind, HTTP_BODY_CHUNKED);
  assert_false(r.keep_alive);
  assert_true(r.client_keep);
  assert_int_equal(response("HTTP/1.1 101 Switching\r\n\r\n", 0, 1, &r),
                   BEACON_EINVAL);
  assert_int_equal(response("HTTP/1.1 20 OK\r\n\r\n", 0, 1, &r),
                   BEACON_EINVAL);
  assert_int_equal(response("SSH-2.0-x\r\n\r\n", 0, 1, &r), BEACON_EINVAL);
}

/* Scans in in chunks of chunk bytes; the count that belongs to the
 * body, or -1 on an error. */
static long scan(http_body_kind_t kind, uint64_t len, const char *in,
                 size_t chunk)
{
  http_body_t b;
  http_body_init(&b, kind, len);
  size_t n = strlen(in), off = 0;
  while(off < n && !b.done) {
    size_t take = chunk < n - off ? chunk : n - off, used;
    if(http_body_scan(&b, (const uint8_t *)in + off, take, &used))
      return -1;
    assert_true(used <= take);
    off += used;
    if(used < take)
      assert_true(b.done);
  }
  return b.done ? (long)off : -2;
}

static void test_body(void **state)
{
  (void)state;
  static const char chunked[] = "5;x=1\r\nhello\r\n1A\r\n"
                                "abcdefghijklmnopqrstuvwxyz\r\n"
                                "0\r\nT: 1\r\n\r\nNEXT";
  static const char bare_lf[] = "3\nabc\n0\n\nNEXT";
  for(size_t chunk = 1; chunk <= sizeof(chunked); chunk++) {
    assert_int_equal(scan(HTTP_BODY_CHUNKED, 0, chunked, chunk),
                     (long)sizeof(chunked) - 1 - 4);
    assert_int_equal(scan(HTTP_BODY_CHUNKED, 0, bare_lf, chunk),
                     (long)sizeof(bare_lf) - 1 - 4);
    assert_int_equal(scan(HTTP_BODY_LENGTH, 7, "1234567NEXT", chunk), 7);
  }
  assert_int_equal(scan(HTTP_BODY_LENGTH, 0, "NEXT", 4), 0);
  assert_int_equal(scan(HTTP_BODY_NONE, 0, "NEXT", 4), 0);
  /* A trailer line of one byte is not the end. */
  assert_int_equal(scan(HTTP_BODY_CHUNKED, 0, "0\r\nx\n\r\nN", 1), 7);
  /* Malformed: no digits, data not followed by CR LF, too many digits. */
  assert_int_equal(scan(HTTP_BODY_CHUNKED, 0, ";x\r\n", 1), -1);
  assert_int_equal(scan(HTTP_BODY_CHUNKED, 0, "1\r\nab\r\n", 1), -1);
  assert_int_equal(scan(HTTP_BODY_CHUNKED, 0, "1000000000000000\r\n", 4), -1);
  /* Until close: everything, never done. */
  assert_int_equal(scan(HTTP_BODY_UNTIL_CLOSE, 0, "abc", 1), -2);
}

static void test_head_length(void **state)
{
  (void)state;
  assert_int_equal(http_head_length("HTTP/1.1 200 OK\r\n\r\nbody", 23), 19);
  assert_int_equal(http_head_length("HTTP/1.1 200 OK\n\nbody", 21), 17);
  assert_int_equal(http_head_length("HTTP/1.1 200 OK\r\nX: 1\r\n", 24), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_rewrite),
      cmocka_unit_test(test_request_framing),
      cmocka_unit_test(test_response),
      cmocka_unit_test(test_body),
      cmocka_unit_test(test_head_length),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
