/* http_forward.c - forward-proxy head rewriting (http_forward.h). */
#include "proxy/http_forward.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "beacon/beacon.h"
#include "common/text_out.h"

#define MAX_CONN_TOKENS 16
#define MAX_TOKEN 64

/* What the header fields of one head say, gathered before rewriting. */
typedef struct fields {
  char conn[MAX_CONN_TOKENS][MAX_TOKEN + 1]; /* Connection's options */
  int nconn;
  int close, keep_alive; /* Connection (or Proxy-Connection) says so */
  int has_te, chunked;   /* Transfer-Encoding present; last is chunked */
  int has_length;
  uint64_t length;
} fields_t;

size_t http_head_length(const char *buf, size_t len)
{
  for(size_t i = 0; i < len; i++) {
    if(buf[i] != '\n' || !i)
      continue;
    if(buf[i - 1] == '\n' ||
       (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n'))
      return i + 1;
  }
  return 0;
}

/* The next line of [*p, end) without its CR LF; NULL at the end. */
static const char *next_line(const char **p, const char *end, size_t *n)
{
  if(*p >= end)
    return NULL;
  const char *l = *p;
  const char *lf = memchr(l, '\n', (size_t)(end - l));
  if(!lf)
    lf = end;
  *p = lf < end ? lf + 1 : end;
  *n = (size_t)(lf - l);
  if(*n && l[*n - 1] == '\r')
    (*n)--;
  return l;
}

static int tchar(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void trim(const char **s, size_t *n)
{
  while(*n && (**s == ' ' || **s == '\t'))
    (*s)++, (*n)--;
  while(*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

static int name_is(const char *name, size_t n, const char *want)
{
  return strlen(want) == n && !strncasecmp(name, want, n);
}

/* Splits a header line into name and trimmed value; -1 if malformed
 * (no colon, an empty or invalid name, space before the colon, or an
 * obsolete line folding). */
static int split(const char *l, size_t n, const char **name, size_t *nn,
                 const char **val, size_t *vn)
{
  const char *colon = memchr(l, ':', n);
  if(!colon || colon == l)
    return -1;
  for(const char *c = l; c < colon; c++)
    if(!tchar(*c))
      return -1;
  *name = l;
  *nn = (size_t)(colon - l);
  *val = colon + 1;
  *vn = n - *nn - 1;
  trim(val, vn);
  for(size_t i = 0; i < *vn; i++)
    if((unsigned char)(*val)[i] < 0x20 && (*val)[i] != '\t')
      return -1;
  return 0;
}

/* Each comma-separated element of a list value, trimmed. */
static int each_elem(const char *v, size_t n,
                     int (*fn)(fields_t *, const char *, size_t), fields_t *f)
{
  while(n) {
    const char *comma = memchr(v, ',', n);
    size_t en = comma ? (size_t)(comma - v) : n;
    const char *e = v;
    size_t el = en;
    trim(&e, &el);
    if(el && fn(f, e, el))
      return -1;
    v += en + (comma ? 1 : 0);
    n -= en + (comma ? 1 : 0);
  }
  return 0;
}

static int conn_option(fields_t *f, const char *e, size_t n)
{
  if(name_is(e, n, "close"))
    f->close = 1;
  else if(name_is(e, n, "keep-alive"))
    f->keep_alive = 1;
  else if(f->nconn < MAX_CONN_TOKENS && n <= MAX_TOKEN) {
    memcpy(f->conn[f->nconn], e, n);
    f->conn[f->nconn++][n] = 0;
  } else {
    return -1; /* more options than a real client sends: refuse */
  }
  return 0;
}

static int coding(fields_t *f, const char *e, size_t n)
{
  const char *semi = memchr(e, ';', n);
  size_t cn = semi ? (size_t)(semi - e) : n;
  trim(&e, &cn);
  /* Chunked must be last and only once (RFC 9112 §6.1). */
  if(f->chunked)
    return -1;
  f->chunked = name_is(e, cn, "chunked");
  f->has_te = 1;
  return 0;
}

static int content_length(fields_t *f, const char *e, size_t n)
{
  uint64_t v = 0;
  if(!n || n > 18)
    return -1;
  for(size_t i = 0; i < n; i++) {
    if(e[i] < '0' || e[i] > '9')
      return -1;
    v = v * 10 + (uint64_t)(e[i] - '0');
  }
  /* Repeated values must agree (RFC 9110 §8.6). */
  if(f->has_length && f->length != v)
    return -1;
  f->has_length = 1;
  f->length = v;
  return 0;
}

/* First pass over the fields after the start line. */
static int gather(const char *p, const char *end, fields_t *f,
                  const char **why)
{
  size_t n, nn, vn;
  const char *l, *name, *val;
  memset(f, 0, sizeof(*f));
  while((l = next_line(&p, end, &n)) && n) {
    if(split(l, n, &name, &nn, &val, &vn))
      return *why = "malformed header field", -1;
    int rc = 0;
    if(name_is(name, nn, "connection") ||
       name_is(name, nn, "proxy-connection"))
      rc = each_elem(val, vn, conn_option, f);
    else if(name_is(name, nn, "transfer-encoding"))
      rc = each_elem(val, vn, coding, f);
    else if(name_is(name, nn, "content-length"))
      rc = each_elem(val, vn, content_length, f);
    if(rc)
      return *why = "malformed Connection, Transfer-Encoding or "
                    "Content-Length",
             -1;
  }
  return 0;
}

static int hop_by_hop(const fields_t *f, const char *name, size_t n)
{
  static const char *const fixed[] = {"connection",
                                      "proxy-connection",
                                      "keep-alive",
                                      "proxy-authorization",
                                      "proxy-authenticate",
                                      "te",
                                      "trailer",
                                      "upgrade",
                                      NULL};
  for(int i = 0; fixed[i]; i++)
    if(name_is(name, n, fixed[i]))
      return 1;
  for(int i = 0; i < f->nconn; i++)
    if(name_is(name, n, f->conn[i]))
      return 1;
  return 0;
}

/* Second pass: copies the end-to-end fields (except skip, if named). */
static void copy_fields(text_out_t *o, const char *p, const char *end,
                        const fields_t *f, const char *skip)
{
  size_t n, nn, vn;
  const char *l, *name, *val;
  while((l = next_line(&p, end, &n)) && n) {
    if(split(l, n, &name, &nn, &val, &vn) || hop_by_hop(f, name, nn) ||
       (skip && name_is(name, nn, skip)))
      continue;
    text_out_put(o, l, n);
    text_out_str(o, "\r\n");
  }
}

/* "HTTP/1.0" or "HTTP/1.1": the minor digit, or -1. */
static int version(const char *v, size_t n)
{
  if(n != 8 || memcmp(v, "HTTP/1.", 7) || (v[7] != '0' && v[7] != '1'))
    return -1;
  return v[7] - '0';
}

/* The request target "http://authority/path?query": target, the Host
 * value and the origin-form path. -1 if it is not one. */
typedef struct uri {
  const char *authority, *path;
  size_t alen, plen;
} uri_t;

static int parse_uri(const char *u, size_t n, uri_t *r, char *target,
                     size_t tcap)
{
  if(n < 8 || strncasecmp(u, "http://", 7))
    return -1;
  u += 7;
  n -= 7;
  size_t a = strcspn(u, "/?#");
  if(a > n)
    a = n;
  r->authority = u;
  r->alen = a;
  if(!a || memchr(u, '@', a)) /* no userinfo in a proxy's URI */
    return -1;
  const char *host = u, *port = NULL;
  size_t hl = a;
  if(*u == '[') {
    const char *rb = memchr(u, ']', a);
    if(!rb)
      return -1;
    hl = (size_t)(rb - u) + 1;
    if(hl < a && u[hl] != ':')
      return -1;
  } else {
    const char *colon = memchr(u, ':', a);
    hl = colon ? (size_t)(colon - u) : a;
  }
  if(hl < a) {
    port = u + hl + 1;
    if(port == u + a) /* "host:" means the default port */
      port = NULL;
  }
  int tl = snprintf(target, tcap, "%.*s:%.*s", (int)hl, host,
                    port ? (int)(u + a - port) : 2, port ? port : "80");
  if(tl < 0 || (size_t)tl >= tcap ||
     target_from_string(target, (size_t)tl, NULL))
    return -1;
  r->path = u + a;
  r->plen = n - a;
  const char *hash = memchr(r->path, '#', r->plen);
  if(hash)
    r->plen = (size_t)(hash - r->path);
  return 0;
}

static int request_body(const fields_t *f, int minor, http_body_t *b,
                        const char **why)
{
  if(f->has_te) {
    if(!f->chunked)
      return *why = "a transfer coding other than chunked", 501;
    if(f->has_length || minor == 0)
      return *why = "Transfer-Encoding with Content-Length or HTTP/1.0", 400;
    http_body_init(b, HTTP_BODY_CHUNKED, 0);
  } else {
    http_body_init(b, f->has_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE,
                   f->length);
  }
  return 0;
}

int http_fwd_request(const char *head, size_t len, http_fwd_request_t *r,
                     char *out, size_t cap, size_t *outlen, const char **why)
{
  const char *p = head, *end = head + len, *l;
  size_t n;
  memset(r, 0, sizeof(*r));
  *why = "malformed request line";
  while((l = next_line(&p, end, &n)) && !n) /* leading empty lines */
    ;
  const char *sp1 = l ? memchr(l, ' ', n) : NULL;
  const char *sp2 =
      sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - l)) : NULL;
  if(!sp2 || sp1 == l)
    return 400;
  for(const char *c = l; c < sp1; c++)
    if(!tchar(*c))
      return 400;
  int minor = version(sp2 + 1, n - (size_t)(sp2 + 1 - l));
  uri_t u;
  if(minor < 0)
    return 400;
  if(parse_uri(sp1 + 1, (size_t)(sp2 - sp1 - 1), &u, r->target,
               sizeof(r->target)))
    return *why = "not an http:// URI with a valid host and port", 400;
  fields_t f;
  int st;
  if(gather(p, end, &f, why))
    return 400;
  if((st = request_body(&f, minor, &r->body, why)))
    return st;
  r->is_head = (size_t)(sp1 - l) == 4 && !memcmp(l, "HEAD", 4);
  r->keep_alive = minor ? !f.close : f.keep_alive && !f.close;
  text_out_t o;
  text_out_init(&o, out, cap);
  text_out_put(&o, l, (size_t)(sp1 - l) + 1);
  if(!u.plen || *u.path == '?')
    text_out_str(&o, "/");
  text_out_put(&o, u.path, u.plen);
  text_out_put(&o, sp2, n - (size_t)(sp2 - l));
  text_out_str(&o, "\r\nHost: ");
  text_out_put(&o, u.authority, u.alen);
  text_out_str(&o, "\r\n");
  copy_fields(&o, p, end, &f, "host");
  text_out_str(&o,
               minor ? "Via: 1.1 beacon\r\n\r\n" : "Via: 1.0 beacon\r\n\r\n");
  if(text_out_overflowed(&o))
    return *why = "request head too large", 431;
  *outlen = o.len;
  return 0;
}

static void response_body(const fields_t *f, int status, int is_head,
                          http_body_t *b)
{
  if(status < 200 || status == 204 || status == 304 || is_head)
    http_body_init(b, HTTP_BODY_NONE, 0);
  else if(f->has_te) /* Transfer-Encoding overrides Content-Length */
    http_body_init(b, f->chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_UNTIL_CLOSE,
                   0);
  else if(f->has_length)
    http_body_init(b, HTTP_BODY_LENGTH, f->length);
  else
    http_body_init(b, HTTP_BODY_UNTIL_CLOSE, 0);
}

int http_fwd_response(const char *head, size_t len, int is_head,
                      int client_keep_alive, http_fwd_response_t *r, char *out,
                      size_t cap, size_t *outlen, const char **why)
{
  const char *p = head, *end = head + len;
  size_t n;
  memset(r, 0, sizeof(*r));
  *why = "malformed status line from the origin";
  const char *l = next_line(&p, end, &n);
  if(!l || n < 12 || l[8] != ' ' || (n > 12 && l[12] != ' '))
    return BEACON_EINVAL;
  int minor = version(l, 8);
  for(int i = 9; i < 12; i++)
    if(l[i] < '0' || l[i] > '9')
      return BEACON_EINVAL;
  r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
  if(minor < 0 || r->status < 100)
    return BEACON_EINVAL;
  if(r->status == 101)
    return *why = "the origin switched protocols unasked", BEACON_EINVAL;
  fields_t f;
  if(gather(p, end, &f, why))
    return BEACON_EINVAL;
  r->interim = r->status < 200;
  response_body(&f, r->status, is_head, &r->body);
  int until_close = r->body.kind == HTTP_BODY_UNTIL_CLOSE;
  r->keep_alive =
      !until_close && (minor ? !f.close : f.keep_alive && !f.close);
  text_out_t o;
  text_out_init(&o, out, cap);
  text_out_put(&o, l, n);
  text_out_str(&o, "\r\n");
  copy_fields(&o, p, end, &f, NULL);
  text_out_str(&o, minor ? "Via: 1.1 beacon\r\n" : "Via: 1.0 beacon\r\n");
  r->client_keep = client_keep_alive && !until_close;
  if(!r->interim)
    text_out_str(&o, r->client_keep ? "Connection: keep-alive\r\n"
                                    : "Connection: close\r\n");
  text_out_str(&o, "\r\n");
  if(text_out_overflowed(&o))
    return *why = "response head too large", BEACON_EINVAL;
  *outlen = o.len;
  return 0;
}
