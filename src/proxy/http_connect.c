/* http_connect.c - the CONNECT request parser (http_connect.h). */
#include "proxy/http_connect.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "beacon/beacon.h"

void proxy_http_init(proxy_http_t *h)
{
  h->done = 0;
  h->forward = 0;
  h->status = 0;
  h->len = 0;
  h->start = 0;
  h->target[0] = 0;
}

static const char *reason(int status)
{
  switch(status) {
  case 200:
    return "Connection established";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 501:
    return "Not Implemented";
  case 431:
    return "Request Header Fields Too Large";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Bad Gateway";
  }
}

size_t proxy_http_response(char *out, size_t cap, int status,
                           const char *detail)
{
  /* The body is the detail (at most 120 bytes) and a newline; the
   * Content-Length must count what is actually sent. */
  size_t dl = detail ? strnlen(detail, 120) : 0;
  int n;
  if(status == 200)
    n = snprintf(out, cap, "HTTP/1.1 200 %s\r\n\r\n", reason(200));
  else
    n = snprintf(out, cap,
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n%s\r\n"
                 "%.*s\n",
                 status, reason(status), dl + 1,
                 status == 405 ? "Allow: CONNECT\r\n" : "", (int)dl,
                 detail ? detail : "");
  if(n < 0)
    return 0;
  return (size_t)n < cap ? (size_t)n : cap - 1;
}

static int reject(proxy_http_t *h, int status, int rc)
{
  h->done = 1;
  h->status = status;
  return rc;
}

/* "CONNECT host:port HTTP/1.1" (the line without its CR LF). */
static int request_line(proxy_http_t *h, const char *l, size_t len)
{
  const char *sp1 = memchr(l, ' ', len);
  if(!sp1)
    return reject(h, 400, BEACON_EINVAL);
  const char *t = sp1 + 1;
  const char *sp2 = memchr(t, ' ', len - (size_t)(t - l));
  if(!sp2)
    return reject(h, 400, BEACON_EINVAL);
  const char *ver = sp2 + 1;
  size_t vlen = len - (size_t)(ver - l);
  if(vlen != 8 || memcmp(ver, "HTTP/1.", 7) ||
     (ver[7] != '0' && ver[7] != '1'))
    return reject(h, 400, BEACON_EINVAL);
  if((size_t)(sp1 - l) != 7 || memcmp(l, "CONNECT", 7)) {
    /* Another method with an absolute http:// URI is a forward-proxy
     * request (proxy/http_forward.h checks the rest of it). */
    if(sp2 - t < 7 || strncasecmp(t, "http://", 7))
      return reject(h, 405, BEACON_EINVAL);
    h->forward = 1;
    h->done = 1;
    return 0;
  }
  size_t tlen = (size_t)(sp2 - t);
  if(tlen >= sizeof(h->target) || target_from_string(t, tlen, NULL))
    return reject(h, 400, BEACON_EINVAL);
  memcpy(h->target, t, tlen);
  h->target[tlen] = 0;
  h->done = 1;
  return 0;
}

int proxy_http_feed(proxy_http_t *h, const uint8_t *in, size_t *inlen)
{
  size_t used = 0;
  if(h->done) {
    *inlen = 0;
    return BEACON_EINVAL;
  }
  while(used < *inlen) {
    if(h->len == sizeof(h->buf)) {
      *inlen = used;
      return reject(h, 431, BEACON_ETOOLONG);
    }
    char c = (char)in[used++];
    h->buf[h->len++] = c;
    if(c != '\n')
      continue;
    /* End of header: an empty line (LF or CR LF) after the first. */
    const char *b = h->buf + h->start;
    size_t n = h->len - h->start;
    if(n == 1 || (n == 2 && b[0] == '\r')) {
      /* Empty lines before the request line are skipped (RFC 9112
       * §2.2); they stay in buf so that they count against its bound. */
      h->start = h->len;
      continue;
    }
    int end =
        b[n - 2] == '\n' || (n >= 3 && b[n - 2] == '\r' && b[n - 3] == '\n');
    if(!end)
      continue;
    *inlen = used;
    const char *eol = memchr(b, '\n', n);
    size_t ll = (size_t)(eol - b);
    if(ll && b[ll - 1] == '\r')
      ll--;
    return request_line(h, b, ll);
  }
  return BEACON_EAGAIN;
}
