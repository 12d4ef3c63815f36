/*
 * http_request.c - see http_request.h. The head is collected in a fixed
 * buffer until its blank line, then checked as a whole: simple, bounded,
 * and the verdict cannot depend on how the bytes were split.
 */
#include "metrics/http_request.h"

#include <string.h>

#include "beacon/beacon.h"

void http_req_init(http_req_t *r)
{
  r->method = HTTP_OTHER;
  r->minor = 0;
  r->path[0] = '\0';
  r->done = 0;
  r->skipping = 1;
  r->len = 0;
}

/* RFC 9110 §5.6.2 tchar. */
static int is_tchar(unsigned char c)
{
  if((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
     (c >= '0' && c <= '9'))
    return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A request-target in origin-form: '/' then visible ASCII. */
static int is_target_char(unsigned char c)
{
  return c > 0x20 && c < 0x7f;
}

/* Field values: visible ASCII, obs-text, SP and HTAB (RFC 9110 §5.5). */
static int is_value_char(unsigned char c)
{
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Line [s, e) without its line ending. */
static int parse_request_line(http_req_t *r, const char *s, const char *e)
{
  const char *p = s;

  while(p < e && is_tchar((unsigned char)*p))
    p++;
  if(p == s || p == e || *p != ' ')
    return BEACON_EINVAL;
  if(p - s == 3 && !memcmp(s, "GET", 3))
    r->method = HTTP_GET;
  else if(p - s == 4 && !memcmp(s, "HEAD", 4))
    r->method = HTTP_HEAD;
  else
    r->method = HTTP_OTHER;

  const char *t = ++p;
  while(p < e && is_target_char((unsigned char)*p))
    p++;
  if(p == t || p == e || *p != ' ' || *t != '/')
    return BEACON_EINVAL;
  const char *q = memchr(t, '?', (size_t)(p - t));
  size_t plen = (size_t)((q ? q : p) - t);
  if(plen > HTTP_REQ_MAX_PATH)
    return BEACON_ETOOLONG;
  memcpy(r->path, t, plen);
  r->path[plen] = '\0';

  p++;
  if(e - p != 8 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1'))
    return BEACON_EINVAL;
  r->minor = p[7] - '0';
  return 0;
}

static int parse_header_line(const char *s, const char *e)
{
  const char *p = s;

  /* A leading space is obsolete line folding (RFC 9112 §5.2): refused. */
  while(p < e && is_tchar((unsigned char)*p))
    p++;
  if(p == s || p == e || *p != ':')
    return BEACON_EINVAL;
  for(p++; p < e; p++)
    if(!is_value_char((unsigned char)*p))
      return BEACON_EINVAL;
  return 0;
}

/* The whole head is in r->buf[0..len), ending in an empty line. */
static int parse_head(http_req_t *r)
{
  const char *p = r->buf;
  const char *end = r->buf + r->len;
  int first = 1;
  int headers = 0;

  for(;;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if(!nl)
      return BEACON_EINVAL; /* not reached: the head ends in '\n' */
    const char *e = nl;
    if(e > p && e[-1] == '\r')
      e--;
    /* A bare CR anywhere else is not a line ending we accept. */
    if(memchr(p, '\r', (size_t)(e - p)) || memchr(p, '\0', (size_t)(e - p)))
      return BEACON_EINVAL;
    if(e == p)
      return first ? BEACON_EINVAL : 0;
    int rc = first ? parse_request_line(r, p, e) : parse_header_line(p, e);
    if(rc)
      return rc;
    if(!first && ++headers > HTTP_REQ_MAX_HEADERS)
      return BEACON_ETOOLONG;
    first = 0;
    p = nl + 1;
  }
}

int http_req_parse(http_req_t *r, const uint8_t *in, size_t *inlen)
{
  size_t n = *inlen;
  size_t i = 0;

  if(r->done) {
    *inlen = 0;
    return BEACON_EINVAL;
  }
  for(; i < n; i++) {
    char c = (char)in[i];
    /* RFC 9112 §2.2: ignore empty lines before the request line. */
    if(r->skipping) {
      if(c == '\r' || c == '\n')
        continue;
      r->skipping = 0;
    }
    if(r->len == sizeof(r->buf)) {
      r->done = 1;
      *inlen = i;
      return BEACON_ETOOLONG;
    }
    r->buf[r->len++] = c;
    /* The head ends at an empty line: "\n\n" or "\n\r\n". */
    if(c == '\n' && r->len >= 2 &&
       (r->buf[r->len - 2] == '\n' ||
        (r->len >= 3 && r->buf[r->len - 2] == '\r' &&
         r->buf[r->len - 3] == '\n'))) {
      r->done = 1;
      *inlen = i + 1;
      return parse_head(r);
    }
  }
  *inlen = n;
  return BEACON_EAGAIN;
}
