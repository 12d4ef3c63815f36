/*
 * fuzz_http_forward.c - the forward proxy's head rewriting
 * (src/proxy/http_forward.h) and body-end scanner (src/proxy/http_body.h)
 * on arbitrary bytes. The input is split at its first NUL: a head, then
 * a body. Aborts when an invariant breaks:
 *  - a rewritten request or response fits its buffer, ends with the
 *    empty line, holds no hop-by-hop field and exactly one Via, and an
 *    accepted request's origin is a valid target;
 *  - refusals carry 400, 431 or 501 (requests) or BEACON_EINVAL;
 *  - the body scanner gives the same count and verdict whole, byte at a
 *    time and in uneven chunks, never more than it was given.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "proxy/http_body.h"
#include "proxy/http_forward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out[HTTP_FORWARD_MAX_HEAD + HTTP_FORWARD_HEAD_SLACK];

/* Every line of the rewritten head: no hop-by-hop field. */
static void check_head(size_t n)
{
  CHECK(n >= 4 && n <= sizeof(out) && !memcmp(out + n - 4, "\r\n\r\n", 4));
  static const char *const hop[] = {"connection:", "proxy-connection:",
                                    "keep-alive:", "proxy-authorization:",
                                    "te:",         "trailer:",
                                    "upgrade:",    NULL};
  int via = 0;
  for(size_t i = 0; i + 2 < n; i++) {
    if(out[i] != '\n')
      continue;
    const char *l = out + i + 1;
    via += !strncasecmp(l, "via: 1.", 7) && !strncmp(l + 8, " beacon\r\n", 9);
    for(int k = 0; hop[k]; k++) {
      size_t kl = strlen(hop[k]);
      /* The proxy's own Connection line is the only one allowed. */
      if((size_t)(out + n - l) > kl && !strncasecmp(l, hop[k], kl))
        CHECK(k == 0 && (!strncmp(l, "Connection: close\r\n", 19) ||
                         !strncmp(l, "Connection: keep-alive\r\n", 24)));
    }
  }
  CHECK(via >= 1);
}

static const uint8_t *chunk_src;

static long scan(http_body_kind_t kind, uint64_t len, const uint8_t *in,
                 size_t n, int mode)
{
  http_body_t b;
  size_t off = 0;
  http_body_init(&b, kind, len);
  while(off < n && !b.done) {
    size_t take = mode == 0   ? n - off
                  : mode == 1 ? 1
                              : (size_t)(chunk_src[off] % 7 + 1);
    if(take > n - off)
      take = n - off;
    size_t used;
    int rc = http_body_scan(&b, in + off, take, &used);
    CHECK(used <= take);
    off += used;
    if(rc)
      return -1 - (long)off; /* where it failed is part of the verdict */
    CHECK(used == take || b.done);
  }
  return b.done ? (long)off : -(long)(1u << 30);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr(data, 0, size);
  size_t hl = nul ? (size_t)(nul - data) : size;
  const uint8_t *body = nul ? nul + 1 : data + size;
  size_t bl = size - (size_t)(body - data);
  if(hl > HTTP_FORWARD_MAX_HEAD)
    hl = HTTP_FORWARD_MAX_HEAD;
  const char *head = (const char *)data, *why = NULL;
  size_t ol = 0;

  http_fwd_request_t rq;
  int st = http_fwd_request(head, hl, &rq, out, sizeof(out), &ol, &why);
  if(st) {
    CHECK((st == 400 || st == 431 || st == 501) && why);
  } else {
    check_head(ol);
    CHECK(target_from_string(rq.target, strlen(rq.target), NULL) == 0);
  }
  http_fwd_response_t rs;
  int rc = http_fwd_response(head, hl, size & 1, size & 2, &rs, out,
                             sizeof(out), &ol, &why);
  if(rc) {
    CHECK(rc == BEACON_EINVAL && why);
  } else {
    check_head(ol);
    CHECK(rs.status >= 100 && rs.status <= 999 && rs.status != 101);
    CHECK(!rs.client_keep || rs.body.kind != HTTP_BODY_UNTIL_CLOSE);
  }

  chunk_src = body;
  static const http_body_kind_t kinds[] = {HTTP_BODY_CHUNKED,
                                           HTTP_BODY_LENGTH};
  for(int k = 0; k < 2; k++) {
    uint64_t len = bl ? body[0] : 0;
    long a = scan(kinds[k], len, body, bl, 0);
    CHECK(a == scan(kinds[k], len, body, bl, 1));
    CHECK(a == scan(kinds[k], len, body, bl, 2));
  }
  return 0;
}
