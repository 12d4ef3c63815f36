/*
 * http.c - the metrics endpoint on libuv (see http.h). Requests are
 * parsed by http_request.c; this file only moves bytes and owns handles.
 */
#include "metrics/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "common/hostport.h"
#include "log/log.h"
#include "metrics/http_request.h"

#define RENDER_INITIAL 16384
#define RENDER_MAX (4u << 20)
/* Well above METRICS_HTTP_MAX_CONNS: a burst of connections waits in the
 * kernel until the loop evicts its way through them, instead of having
 * its SYNs dropped (and retried a second later) when the queue is full. */
#define METRICS_HTTP_BACKLOG 511

typedef struct metrics_http_conn metrics_http_conn_t;

struct metrics_http {
  uv_tcp_t listener;
  metrics_render_fn render;
  void *ud;
  metrics_health_fn health;
  void *health_ud;
  int port;
  int stopping;
  int listener_open;
  size_t nconns;              /* in the list, closing ones included */
  size_t nactive;             /* not closing */
  metrics_http_conn_t *conns; /* newest first */
};

struct metrics_http_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  metrics_http_t *srv;
  metrics_http_conn_t *prev;
  metrics_http_conn_t *next;
  int closing;
  int handles; /* open handles left before free */
  int responded;
  char *body;
  char head[256];
  char rbuf[2048];
  http_req_t req;
};

size_t metrics_registry_render(void *ud, char *buf, size_t cap)
{
  return metrics_render((const metrics_registry_t *)ud, buf, cap);
}

__attribute__((format(printf, 3, 4))) static void
fail(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;

  if(!err || !errlen)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int metrics_parse_addr(const char *s, struct sockaddr_storage *out, char *err,
                       size_t errlen)
{
  char host[64];
  uint16_t p;
  int v6 = s && s[0] == '[';

  if(!s || !*s) {
    fail(err, errlen, "empty metrics address");
    return BEACON_EINVAL;
  }
  if(hostport_split(s, HOSTPORT_BARE_PORT, host, sizeof(host), &p))
    goto bad;
  if(!host[0])
    strcpy(host, "127.0.0.1");
  memset(out, 0, sizeof(*out));
  if(v6) {
    if(uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)out) ||
       strchr(host, '%'))
      goto bad;
  } else if(uv_ip4_addr(host, (int)p, (struct sockaddr_in *)out)) {
    goto bad;
  }
  return 0;
bad:
  fail(err, errlen,
       "bad metrics address '%s': want HOST:PORT, [IPV6]:PORT or :PORT "
       "(IP literals)",
       s);
  return BEACON_EINVAL;
}

static void maybe_free_server(metrics_http_t *s)
{
  if(s->stopping && !s->listener_open && !s->nconns)
    free(s);
}

static void on_conn_closed(uv_handle_t *h)
{
  metrics_http_conn_t *c = h->data;
  metrics_http_t *s = c->srv;

  if(--c->handles)
    return;
  if(c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if(c->next)
    c->next->prev = c->prev;
  s->nconns--;
  free(c->body);
  free(c);
  maybe_free_server(s);
}

static void conn_close(metrics_http_conn_t *c)
{
  if(c->closing)
    return;
  c->closing = 1;
  c->srv->nactive--;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
  conn_close(t->data);
}

static void on_written(uv_write_t *w, int status)
{
  /* One response per connection: close after it, whatever the status. */
  conn_close(w->data);
}

/* Renders the registry into a fresh buffer; NULL on ENOMEM. */
static char *render_body(metrics_http_t *s, size_t *len)
{
  size_t cap = RENDER_INITIAL;

  for(int tries = 0; tries < 4; tries++) {
    char *buf = malloc(cap);
    if(!buf)
      return NULL;
    size_t n = s->render(s->ud, buf, cap);
    if(n < cap) {
      *len = n;
      return buf;
    }
    free(buf);
    /* Values can grow between two renders: leave some room. */
    if(n >= RENDER_MAX)
      return NULL;
    cap = n + 1024;
  }
  return NULL;
}

static void respond(metrics_http_conn_t *c, int status, const char *reason,
                    const char *ctype, const char *extra, char *body,
                    size_t blen, int head_only)
{
  uv_buf_t bufs[2];
  unsigned nbufs = 1;
  int n = snprintf(c->head, sizeof(c->head),
                   "HTTP/1.1 %d %s\r\n"
                   "Content-Type: %s\r\n"
                   "Content-Length: %zu\r\n"
                   "%s"
                   "Connection: close\r\n\r\n",
                   status, reason, ctype, blen, extra ? extra : "");
  c->body = body;
  bufs[0] = uv_buf_init(c->head, (unsigned)n);
  if(body && blen && !head_only) {
    bufs[1] = uv_buf_init(body, (unsigned)blen);
    nbufs = 2;
  }
  c->responded = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  /* The request is in: the response gets the longer deadline. */
  uv_timer_start(&c->timer, on_timeout, METRICS_HTTP_TIMEOUT_MS, 0);
  c->wr.data = c;
  if(uv_write(&c->wr, (uv_stream_t *)&c->tcp, bufs, nbufs, on_written))
    conn_close(c);
}

static void respond_text(metrics_http_conn_t *c, int status,
                         const char *reason, const char *text,
                         const char *extra)
{
  size_t len = strlen(text);
  char *body = malloc(len + 1);

  if(!body) {
    conn_close(c);
    return;
  }
  memcpy(body, text, len + 1);
  respond(c, status, reason, "text/plain; charset=utf-8", extra, body, len,
          c->req.method == HTTP_HEAD);
}

static void handle(metrics_http_conn_t *c, int rc)
{
  http_req_t *r = &c->req;

  if(rc == BEACON_ETOOLONG) {
    respond_text(c, 431, "Request Header Fields Too Large",
                 "request too large\n", NULL);
    return;
  }
  if(rc) {
    r->method = HTTP_GET; /* so the error body is sent */
    respond_text(c, 400, "Bad Request", "bad request\n", NULL);
    return;
  }
  if(r->method == HTTP_OTHER) {
    respond_text(c, 405, "Method Not Allowed", "method not allowed\n",
                 "Allow: GET, HEAD\r\n");
    return;
  }
  if(!strcmp(r->path, "/healthz")) {
    const char *body = "ok\n";
    int status =
        c->srv->health ? c->srv->health(c->srv->health_ud, &body) : 200;
    if(status == 200)
      respond_text(c, 200, "OK", body, NULL);
    else
      respond_text(c, 503, "Service Unavailable", body, NULL);
    return;
  }
  if(!strcmp(r->path, "/metrics")) {
    size_t len = 0;
    char *body = render_body(c->srv, &len);
    if(!body) {
      respond_text(c, 500, "Internal Server Error", "out of memory\n", NULL);
      return;
    }
    respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", NULL,
            body, len, r->method == HTTP_HEAD);
    return;
  }
  respond_text(c, 404, "Not Found", "not found\n", NULL);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  metrics_http_conn_t *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
  metrics_http_conn_t *c = st->data;

  if(nread < 0) {
    conn_close(c);
    return;
  }
  if(!nread || c->responded || c->closing)
    return;
  size_t used = (size_t)nread;
  int rc = http_req_parse(&c->req, (const uint8_t *)buf->base, &used);
  if(rc != BEACON_EAGAIN)
    handle(c, rc);
}

/* Full: the oldest connection still without a whole request makes room
 * (idle sockets cannot hold the endpoint shut). 0, or -1 when every
 * connection is already answering. */
static int evict_one(metrics_http_t *s)
{
  metrics_http_conn_t *oldest = NULL;
  for(metrics_http_conn_t *c = s->conns; c; c = c->next)
    if(!c->closing && !c->responded)
      oldest = c;
  if(!oldest)
    return -1;
  log_line_t l;
  if(log_begin(&l, LOG_DEBUG, "metrics_conn_evicted")) {
    log_u64(&l, "open", s->nactive);
    log_end(&l);
  }
  conn_close(oldest);
  return 0;
}

static void on_connection(uv_stream_t *ls, int status)
{
  metrics_http_t *s = ls->data;
  metrics_http_conn_t *c;

  if(status < 0 || s->stopping)
    return;
  c = calloc(1, sizeof(*c));
  if(!c) {
    /* Out of memory: leave the connection unaccepted. libuv keeps it and
     * pauses this listener until the next uv_accept(), so the endpoint
     * stalls instead of spinning; the relay itself is not affected. */
    log_msg(LOG_ERROR, "metrics_accept", "out of memory");
    return;
  }
  c->srv = s;
  http_req_init(&c->req);
  uv_tcp_init(ls->loop, &c->tcp);
  uv_timer_init(ls->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles = 2;
  c->next = s->conns;
  if(s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  s->nactive++;
  if(uv_accept(ls, (uv_stream_t *)&c->tcp) ||
     (s->nactive > METRICS_HTTP_MAX_CONNS && evict_one(s))) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_timeout, METRICS_HTTP_HEADER_TIMEOUT_MS, 0);
  if(uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
    conn_close(c);
}

static void on_listener_closed(uv_handle_t *h)
{
  metrics_http_t *s = h->data;
  s->listener_open = 0;
  maybe_free_server(s);
}

metrics_http_t *metrics_http_start(uv_loop_t *loop, const char *addr,
                                   metrics_render_fn render, void *ud,
                                   char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  int namelen = sizeof(ss);
  char ip[64];
  int rc;

  if(metrics_parse_addr(addr, &ss, err, errlen))
    return NULL;
  metrics_http_t *s = calloc(1, sizeof(*s));
  if(!s) {
    fail(err, errlen, "metrics: out of memory");
    return NULL;
  }
  s->render = render;
  s->ud = ud;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  s->listener_open = 1;
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
  if(!rc)
    rc = uv_listen((uv_stream_t *)&s->listener, METRICS_HTTP_BACKLOG,
                   on_connection);
  if(!rc)
    rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &namelen);
  if(rc) {
    fail(err, errlen, "metrics address '%s': %s", addr, uv_strerror(rc));
    s->stopping = 1;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    return NULL;
  }
  if(ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    char a6[INET6_ADDRSTRLEN];
    uv_ip6_name(a, a6, sizeof(a6));
    s->port = ntohs(a->sin6_port);
    snprintf(ip, sizeof(ip), "[%s]:%d", a6, s->port);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    char a4[INET_ADDRSTRLEN];
    uv_ip4_name(a, a4, sizeof(a4));
    s->port = ntohs(a->sin_port);
    snprintf(ip, sizeof(ip), "%s:%d", a4, s->port);
  }
  log_line_t l;
  if(log_begin(&l, LOG_INFO, "metrics_listening")) {
    log_str(&l, "address", ip);
    log_end(&l);
  }
  return s;
}

int metrics_http_port(const metrics_http_t *s)
{
  return s->port;
}

void metrics_http_stop(metrics_http_t *s)
{
  if(!s || s->stopping)
    return;
  s->stopping = 1;
  /* Closing may free a connection (and, last, the server) from the
   * callbacks, which run later on the loop: walk the list now. */
  for(metrics_http_conn_t *c = s->conns; c; c = c->next)
    conn_close(c);
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

void metrics_http_set_health(metrics_http_t *s, metrics_health_fn fn, void *ud)
{
  s->health = fn;
  s->health_ud = ud;
}
