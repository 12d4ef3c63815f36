/* forward_http.c - the HTTP/1.1 forward proxy of one client connection
 * (cli/forward_http.h). Blocking I/O with poll(2), on the connection's
 * own thread, as the rest of forward_conn.c. */
#include "cli/forward_http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/forward_metrics.h"
#include "client/client_stream.h"
#include "proxy/http_forward.h"

/* How long a kept-alive client connection waits for its next request,
 * and how long an origin may take to send the next bytes of its
 * response. */
#define CLIENT_IDLE_MS 60000
#define ORIGIN_IDLE_MS 300000

typedef struct buf {
  uint8_t b[COPY_BUF];
  size_t off, len;
} buf_t;

typedef struct fwd {
  forward_service_t *svc;
  int cfd, ofd; /* the client; the stream to the current origin or -1 */
  char origin[TARGET_MAX_LINE + 1];
  uint64_t sent_on_ofd; /* requests already sent on ofd */
  half_t *up, *down;
  forward_http_end_t *end;
  proxy_http_t req; /* the current request's head */
  buf_t cin, oin;   /* bytes read from the client / origin, not used yet */
  char out[HTTP_FORWARD_MAX_HEAD + HTTP_FORWARD_HEAD_SLACK];
} fwd_t;

/* Reads more into b from fd (after what it holds) within timeout_ms.
 * watch, if >= 0, is polled for watch_events too: BEACON_EAGAIN when
 * they come first. Returns the bytes read, 0 at EOF, or BEACON_ETIMEDOUT,
 * BEACON_EIO. */
static int recv_more(int fd, buf_t *b, int timeout_ms, int watch,
                     short watch_events)
{
  if(b->off) {
    memmove(b->b, b->b + b->off, b->len);
    b->off = 0;
  }
  if(b->len == sizeof(b->b))
    return BEACON_ETOOLONG;
  struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                        {.fd = watch, .events = watch_events}};
  int n;
  do
    n = poll(p, watch >= 0 ? 2 : 1, timeout_ms);
  while(n < 0 && errno == EINTR);
  if(n == 0)
    return BEACON_ETIMEDOUT;
  if(n < 0)
    return BEACON_EIO;
  if(!p[0].revents && p[1].revents)
    return BEACON_EAGAIN;
  ssize_t r = recv(fd, b->b + b->len, sizeof(b->b) - b->len, 0);
  if(r < 0)
    return errno == ECONNRESET ? 0 : BEACON_EIO;
  b->len += (size_t)r;
  return (int)r;
}

/* An error answer to the client, counted as every byte sent to it; the
 * connection ends after it. */
static void answer(fwd_t *w, int status, const char *why)
{
  (void)front_http_answer(w->cfd, status, why, w->down);
  w->end->detail = why;
}

static void close_origin(fwd_t *w)
{
  if(w->ofd < 0)
    return;
  close(w->ofd);
  metric_dec(&forward_metrics.streams_open, 0);
  w->ofd = -1;
  w->oin.off = w->oin.len = 0;
}

/* A stream to target through the tunnel, replacing the current one. */
static int open_origin(fwd_t *w, const char *target)
{
  close_origin(w);
  client_dial_info_t info;
  uint64_t t0 = forward_metrics_now_us();
  int fd = client_dial(w->svc->tunnel, target, 0, &info, &w->end->err);
  forward_metrics_stream_open(info.outcome, t0);
  w->end->relay = info.relay;
  if(fd < 0) {
    forward_metrics_dial_failed(info.outcome);
    w->end->outcome = info.outcome;
    w->end->reason = beacon_err_name(fd);
    answer(w, outcome_http_status(info.outcome), w->end->err.message);
    return fd;
  }
  metric_inc(&forward_metrics.streams_total, 0);
  metric_inc(&forward_metrics.streams_open, 0);
  w->ofd = fd;
  w->sent_on_ofd = 0;
  snprintf(w->origin, sizeof(w->origin), "%s", target);
  return 0;
}

/* Passes one body from src (its bytes so far in in) to dst until it
 * ends. watch/events as recv_more(). 0 at the end of the body;
 * BEACON_ECLOSED when src ended it early, BEACON_EIO when dst is gone,
 * BEACON_EINVAL malformed, BEACON_EAGAIN the watch fired, or
 * BEACON_ETIMEDOUT. */
static int copy_body(int src, buf_t *in, int dst, http_body_t *body, half_t *h,
                     int timeout_ms, int watch, short events)
{
  while(!body->done) {
    if(!in->len) {
      int r = recv_more(src, in, timeout_ms, watch, events);
      if(r == 0 && body->kind == HTTP_BODY_UNTIL_CLOSE)
        return 0; /* its end is the origin's close */
      if(r <= 0)
        return r ? r : BEACON_ECLOSED;
    }
    size_t used;
    int rc = http_body_scan(body, in->b + in->off, in->len, &used);
    if(used && front_send_counted(dst, in->b + in->off, used, h))
      return BEACON_EIO;
    in->off += used;
    in->len -= used;
    if(rc)
      return rc;
  }
  return 0;
}

/* The next request head from the client into w->req. 0 when read, 1
 * when the client is done (EOF or idle before a byte), or -1 after an
 * answer (malformed, or not a forward request). */
static int read_request(fwd_t *w)
{
  proxy_http_init(&w->req);
  int started = 0;
  for(;;) {
    size_t used = w->cin.len;
    int rc = used ? proxy_http_feed(&w->req, w->cin.b + w->cin.off, &used)
                  : BEACON_EAGAIN;
    w->cin.off += used;
    w->cin.len -= used;
    started |= used > 0;
    if(rc == 0 && w->req.forward)
      return 0;
    if(rc == 0) {
      answer(w, 400, "CONNECT after forwarded requests on one connection");
      return -1;
    }
    if(rc != BEACON_EAGAIN) {
      answer(w, w->req.status, "not a proxy request (absolute http:// URI)");
      return -1;
    }
    int r =
        recv_more(w->cfd, &w->cin,
                  started ? FRONT_HEADER_TIMEOUT_MS : CLIENT_IDLE_MS, -1, 0);
    if(r <= 0)
      return started && r == BEACON_ETIMEDOUT ? -1 : 1;
  }
}

/* The origin's next response head: its length in oin, or BEACON_ECLOSED
 * (the origin closed first), BEACON_EINVAL (too large) or another
 * recv_more() error. */
static int read_response_head(fwd_t *w, size_t *hl)
{
  for(;;) {
    *hl = http_head_length((const char *)w->oin.b + w->oin.off, w->oin.len);
    if(*hl)
      return 0;
    if(w->oin.len >= HTTP_FORWARD_MAX_HEAD)
      return BEACON_EINVAL;
    /* The client is not watched: one that half-closed after its
     * request (printf ... | nc -N) still wants the answer. One that is
     * gone shows when the answer is written. */
    int r = recv_more(w->ofd, &w->oin, ORIGIN_IDLE_MS, -1, 0);
    if(r == 0)
      return BEACON_ECLOSED;
    if(r < 0)
      return r;
  }
}

/* Sends the response(s) to the request just sent: interim heads, then
 * the final head and its body. 0, 1 when the origin closed before a
 * byte of it (the request may be sent again), or -1 (ends the client
 * connection; answered if nothing was sent yet). */
static int relay_response(fwd_t *w, const http_fwd_request_t *rq,
                          int client_keep, http_fwd_response_t *rs)
{
  const char *why;
  for(int sent = 0;; sent = 1) {
    size_t hl, ol;
    int rc = read_response_head(w, &hl);
    if(rc == BEACON_ECLOSED && !w->oin.len && !sent)
      return 1;
    if(!rc &&
       http_fwd_response((const char *)w->oin.b + w->oin.off, hl, rq->is_head,
                         client_keep, rs, w->out, sizeof(w->out), &ol, &why))
      rc = BEACON_EINVAL;
    else
      why = "no complete response head from the origin";
    if(rc) {
      w->end->outcome = OUTCOME_BAD_RESPONSE;
      if(!sent)
        answer(w, rc == BEACON_ETIMEDOUT ? 504 : 502, why);
      return -1;
    }
    w->oin.off += hl;
    w->oin.len -= hl;
    if(front_send_counted(w->cfd, w->out, ol, w->down))
      return -1;
    if(rs->interim)
      continue;
    rc = copy_body(w->ofd, &w->oin, w->cfd, &rs->body, w->down, ORIGIN_IDLE_MS,
                   -1, 0);
    if(rc)
      w->end->outcome = OUTCOME_LOCAL_ERROR;
    return rc ? -1 : 0;
  }
}

/* The origin spoke while the request body was still coming: passes on
 * its interim (1xx) heads, such as the 100 Continue a client sending
 * "Expect: 100-continue" waits for. 0 when only those came (the body
 * goes on), 1 when a final response is waiting in oin (or the origin
 * failed: relay_response() says how). */
static int pass_interim(fwd_t *w, const http_fwd_request_t *rq)
{
  http_fwd_response_t rs;
  size_t hl, ol;
  const char *why;
  if(read_response_head(w, &hl) ||
     http_fwd_response((const char *)w->oin.b + w->oin.off, hl, rq->is_head, 0,
                       &rs, w->out, sizeof(w->out), &ol, &why) ||
     !rs.interim)
    return 1;
  w->oin.off += hl;
  w->oin.len -= hl;
  return front_send_counted(w->cfd, w->out, ol, w->down) ? 1 : 0;
}

/* Forwards the request in w->req and its response. 1 when the client
 * connection may carry another request, 0 when it ends. */
static int serve_one(fwd_t *w)
{
  http_fwd_request_t rq;
  http_fwd_response_t rs;
  size_t ol;
  const char *why;
  const char *head = w->req.buf + w->req.start;
  int st = http_fwd_request(head, w->req.len - w->req.start, &rq, w->out,
                            sizeof(w->out), &ol, &why);
  if(st) {
    w->end->outcome = OUTCOME_BAD_REQUEST;
    answer(w, st, why);
    return 0;
  }
  snprintf(w->end->target, sizeof(w->end->target), "%s", rq.target);
  w->end->requests++;
  int client_keep = rq.keep_alive;
  for(int attempt = 0;; attempt++) {
    if((w->ofd < 0 || strcmp(w->origin, rq.target)) &&
       open_origin(w, rq.target))
      return 0;
    /* A kept stream the origin has closed meanwhile fails at once: the
     * request goes again on a fresh one, if it had no body to resend. */
    int reused = w->sent_on_ofd > 0;
    int rc = front_send_counted(w->ofd, w->out, ol, w->up);
    w->sent_on_ofd++;
    while(!rc && (rc = copy_body(w->cfd, &w->cin, w->ofd, &rq.body, w->up,
                                 FRONT_HEADER_TIMEOUT_MS, w->ofd, POLLIN)) ==
                     BEACON_EAGAIN)
      rc = pass_interim(w, &rq) ? BEACON_EAGAIN : 0;
    if(rc == BEACON_EAGAIN) /* the origin answered before the body ended */
      client_keep = 0;
    else if(rc == BEACON_ECLOSED || rc == BEACON_ETIMEDOUT ||
            rc == BEACON_EINVAL) {
      w->end->outcome =
          rc == BEACON_EINVAL ? OUTCOME_BAD_REQUEST : OUTCOME_LOCAL_ERROR;
      return 0;
    }
    int r = relay_response(w, &rq, client_keep, &rs);
    if(r == 1 && reused && !attempt && rq.body.kind == HTTP_BODY_NONE) {
      close_origin(w);
      continue;
    }
    if(r == 1) {
      w->end->outcome = OUTCOME_BAD_RESPONSE;
      answer(w, 502, "the origin closed the connection without a response");
    }
    if(r || !rs.keep_alive || w->oin.len)
      close_origin(w); /* not reusable: a failure, its choice, or junk */
    return !r && rs.client_keep;
  }
}

void forward_http_serve(forward_service_t *svc, int fd, const front_t *front,
                        half_t *up, half_t *down, forward_http_end_t *end)
{
  fwd_t *w = malloc(sizeof(*w));
  memset(end, 0, sizeof(*end));
  end->outcome = OUTCOME_OK;
  if(!w) {
    end->outcome = OUTCOME_LOCAL_ERROR;
    end->detail = "out of memory";
    return;
  }
  memset(w, 0, offsetof(fwd_t, out));
  w->svc = svc;
  w->cfd = fd;
  w->ofd = -1;
  w->up = up;
  w->down = down;
  w->end = end;
  w->req = front->http;
  memcpy(w->cin.b, front->rest, front->rest_len);
  w->cin.len = front->rest_len;
  while(serve_one(w) && !read_request(w))
    ;
  close_origin(w);
  free(w);
}
