/* http_connect.c - the CONNECT request parser (http_connect.h). */
#include "client/http_connect.h"

#include <stdio.h>
#include <string.h>

#include "beacon/beacon.h"

void client_http_init(client_http_t *h)
{
  h->done = 0;
  h->status = 0;
  h->len = 0;
  h->target[0] = 0;
}

int client_http_status(int err)
{
  return err == BEACON_ETIMEDOUT ? 504 : 502;
}

static const char *reason(int status)
{
  switch(status) {
  case 200:
    return "Connection established";
  case 400:
    return "Bad Request";
  case 405:
    return "Method Not Allowed";
  case 504:
    return "Gateway Timeout";
  default:
    return "Bad Gateway";
  }
}

size_t client_http_response(char *out, size_t cap, int status,
                            const char *detail)
{
  int n;
  if(status == 200)
    n = snprintf(out, cap, "HTTP/1.1 200 %s\r\n\r\n", reason(200));
  else
    n = snprintf(out, cap,
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n%s\r\n"
                 "%.120s\n",
                 status, reason(status), strlen(detail ? detail : "") + 1,
                 status == 405 ? "Allow: CONNECT\r\n" : "",
                 detail ? detail : "");
  if(n < 0)
    return 0;
  return (size_t)n < cap ? (size_t)n : cap - 1;
}

static int fail(client_http_t *h, int status, int rc)
{
  h->done = 1;
  h->status = status;
  return rc;
}

/* "CONNECT host:port HTTP/1.1" (the line without its CR LF). */
static int request_line(client_http_t *h, const char *l, size_t len)
{
  const char *sp1 = memchr(l, ' ', len);
  if(!sp1)
    return fail(h, 400, BEACON_EINVAL);
  const char *t = sp1 + 1;
  const char *sp2 = memchr(t, ' ', len - (size_t)(t - l));
  if(!sp2)
    return fail(h, 400, BEACON_EINVAL);
  const char *ver = sp2 + 1;
  size_t vlen = len - (size_t)(ver - l);
  if(vlen != 8 || memcmp(ver, "HTTP/1.", 7) ||
     (ver[7] != '0' && ver[7] != '1'))
    return fail(h, 400, BEACON_EINVAL);
  if((size_t)(sp1 - l) != 7 || memcmp(l, "CONNECT", 7))
    return fail(h, 405, BEACON_EINVAL);
  size_t tlen = (size_t)(sp2 - t);
  if(tlen >= sizeof(h->target) || target_from_string(t, tlen, NULL))
    return fail(h, 400, BEACON_EINVAL);
  memcpy(h->target, t, tlen);
  h->target[tlen] = 0;
  h->done = 1;
  return 0;
}

int client_http_feed(client_http_t *h, const uint8_t *in, size_t *inlen)
{
  size_t used = 0;
  if(h->done) {
    *inlen = 0;
    return BEACON_EINVAL;
  }
  while(used < *inlen) {
    if(h->len == sizeof(h->buf)) {
      *inlen = used;
      return fail(h, 400, BEACON_ETOOLONG);
    }
    char c = (char)in[used++];
    h->buf[h->len++] = c;
    if(c != '\n')
      continue;
    /* End of header: an empty line (LF or CR LF) after the first. */
    size_t n = h->len;
    if(n == 1 || (n == 2 && h->buf[0] == '\r')) {
      h->len = 0; /* empty lines before the request are ignored */
      continue;
    }
    int end = h->buf[n - 2] == '\n' ||
              (n >= 3 && h->buf[n - 2] == '\r' && h->buf[n - 3] == '\n');
    if(!end)
      continue;
    *inlen = used;
    const char *eol = memchr(h->buf, '\n', h->len);
    size_t ll = (size_t)(eol - h->buf);
    if(ll && h->buf[ll - 1] == '\r')
      ll--;
    return request_line(h, h->buf, ll);
  }
  return BEACON_EAGAIN;
}
