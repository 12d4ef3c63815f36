/*
 * forward_conn.c - one connection accepted by `beacon forward`, on a
 * detached thread of its own (cli/forward_conn.h).
 *
 * An -L connection is handed to the tunnel's loop (client_dial_fds),
 * which pumps the socket itself; the thread only waits for the end to
 * log it. An HTTP request with an absolute http:// URI is served by the
 * forward proxy (cli/forward_http.h). A SOCKS or HTTP CONNECT connection
 * runs its front-end
 * handshake (cli/forward_front.h), calls client_dial() (thread-safe, the
 * tunnel is shared) and then copies both ways with half-close
 * (cli/forward_copy.h).
 *
 * Success replies (SOCKS and HTTP CONNECT; -L has none to give, so it
 * never waits): a relay that does not confirm connects gives no answer,
 * a refused destination shows as a reset (beacon relay) or an immediate
 * EOF (Go relay) of the fresh stream. The front ends therefore wait up
 * to --connect-grace after the stream opened: a reset or EOF before any
 * byte becomes OUTCOME_RELAY_RESET (SOCKS 0x05, HTTP 502); data or
 * silence until the grace ends means success. Protocols where the server
 * speaks first skip most of the wait.
 *
 * Every answer, log word and metric label of a connection comes from its
 * one outcome (common/outcome.h): a relay that cannot be used is
 * OUTCOME_TUNNEL (SOCKS 0x01, HTTP 503), never a refusing target.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/forward_conn.h"
#include "cli/forward_copy.h"
#include "cli/forward_front.h"
#include "cli/forward_http.h"
#include "cli/forward_metrics.h"
#include "client/client_stream.h"
#include "log/log.h"

/* One accepted connection; heap-allocated, owned by its thread. */
typedef struct forward_conn {
  forward_service_t *svc;
  const listener_t *l;
  int fd;        /* the client's socket; -1 once handed to the loop */
  int stream_fd; /* the stream from client_dial(), or -1 */
  char peer[NI_MAXHOST + NI_MAXSERV + 2];
  half_t up, down;
  front_t front;
  /* for the conn_done line */
  uint64_t start;
  const char *target, *detail;
  outcome_t outcome;
  const char *reason; /* the error code of a failed dial */
  client_dial_info_t dial;
  beacon_error_t err;
  forward_http_end_t http; /* an HTTP forward-proxy connection's end */
} forward_conn_t;

/* Waits up to the grace period for the fresh stream to show a refusal
 * (reset, or EOF before any byte). 0 = looks open. */
static int refused_early(int fd, uint64_t grace_ms)
{
  if(!grace_ms)
    return 0;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int n;
  do
    n = poll(&p, 1, (int)grace_ms);
  while(n < 0 && errno == EINTR);
  if(n <= 0)
    return 0;
  char c;
  ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r <= 0 && !(r < 0 && errno == EAGAIN);
}

static void log_conn(const forward_conn_t *c)
{
  log_line_t l;
  if(!log_begin(&l, c->outcome != OUTCOME_OK ? LOG_WARN : LOG_INFO,
                "conn_done"))
    return;
  log_str(&l, "front", forward_front_name(c->l->kind));
  log_str(&l, "client", c->peer);
  log_str(&l, "target", c->target && *c->target ? c->target : "-");
  log_str(&l, "relay", c->dial.relay ? c->dial.relay : "-");
  log_u64(&l, "bytes_up", c->up.bytes);
  log_u64(&l, "bytes_down", c->down.bytes);
  log_ms(&l, "duration", forward_mono_ms() - c->start);
  log_str(&l, "outcome", outcome_word(c->outcome));
  if(c->http.requests)
    log_u64(&l, "requests", c->http.requests);
  if(c->reason)
    log_str(&l, "reason", c->reason);
  if(c->detail)
    log_str(&l, "detail", c->detail);
  log_end(&l);
}

/* -L: the tunnel's loop pumps the accepted socket itself (no loopback
 * pair, no copy in this thread). A refusal reaches the client as a reset,
 * as it would from the target, so there is no grace to wait for. Returns
 * the outcome; the connection's byte counts are filled in. */
static outcome_t pump_in_loop(forward_conn_t *c)
{
  beacon_tunnel_t *tunnel = c->svc->tunnel;
  client_stream_end_t end;
  int code;
  uint64_t t0 = forward_metrics_now_us();
  client_fd_stream_t *s = client_dial_fds(tunnel, c->target, c->fd, c->fd, 0,
                                          &code, &c->dial, &c->err);
  forward_metrics_stream_open(c->dial.outcome, t0);
  if(!s) {
    forward_metrics_dial_failed(c->dial.outcome);
    c->reason = beacon_err_name(code);
    c->detail = c->err.message;
    return c->dial.outcome;
  }
  metric_inc(&forward_metrics.streams_total, 0);
  metric_inc(&forward_metrics.streams_open, 0);
  close(c->fd); /* the loop has its own copy */
  c->fd = -1;
  /* Without a time limit it returns once the stream ended. */
  int rc = client_stream_wait(tunnel, s, -1, &end);
  if(rc)
    end = (client_stream_end_t){
        .code = rc, .outcome = OUTCOME_LOCAL_ERROR, .relay = c->dial.relay};
  c->dial.relay = end.relay;
  metric_dec(&forward_metrics.streams_open, 0);
  c->up.bytes = end.bytes_up;
  c->down.bytes = end.bytes_down;
  metric_add(&forward_metrics.bytes, DIR_UP, end.bytes_up);
  metric_add(&forward_metrics.bytes, DIR_DOWN, end.bytes_down);
  return end.outcome;
}

/* The stream could not be opened (code, c->dial.outcome), or was
 * refused in the grace period: count it and tell a SOCKS or HTTP
 * client. */
static void dial_failed(forward_conn_t *c, int code)
{
  if(c->stream_fd >= 0) /* a reset or EOF within the grace period */
    c->dial.outcome = OUTCOME_RELAY_RESET;
  c->outcome = c->dial.outcome;
  forward_metrics_dial_failed(c->outcome);
  c->reason = c->stream_fd < 0 ? beacon_err_name(code) : NULL;
  c->detail =
      c->stream_fd < 0 ? c->err.message : "reset or closed by the relay";
  if(c->l->kind != FRONT_LOCAL)
    front_answer_failure(&c->front, c->fd, c->outcome, c->detail);
}

/* Opens a stream to c->target and copies both ways until both ended. */
static void dial_and_copy(forward_conn_t *c)
{
  uint64_t t0 = forward_metrics_now_us();
  int fd = client_dial(c->svc->tunnel, c->target, 0, &c->dial, &c->err);
  forward_metrics_stream_open(c->dial.outcome, t0);
  if(fd >= 0) {
    c->stream_fd = fd;
    metric_inc(&forward_metrics.streams_total, 0);
    metric_inc(&forward_metrics.streams_open, 0);
  }
  /* A relay that confirms connects already said how the dial went. */
  if(fd < 0 || (!c->dial.confirmed && refused_early(fd, c->svc->grace_ms))) {
    dial_failed(c, fd);
    return;
  }
  size_t rest = 0;
  if(c->l->kind != FRONT_LOCAL) {
    front_answer_success(&c->front, c->fd);
    rest = c->front.rest_len;
  }
  if(rest && front_send_all(fd, c->front.rest, rest)) {
    c->outcome = OUTCOME_LOCAL_ERROR;
    return;
  }
  c->up.bytes = rest;
  metric_add(&forward_metrics.bytes, DIR_UP, rest);
  c->outcome = forward_copy_both(c->fd, fd, &c->up, &c->down);
}

/* An absolute-form HTTP request: requests on this connection go to
 * their origins, a stream each while it is asked again. */
static void serve_forward_proxy(forward_conn_t *c)
{
  forward_http_end_t *e = &c->http;
  forward_http_serve(c->svc, c->fd, &c->front, &c->up, &c->down, e);
  c->target = e->target;
  c->dial.relay = e->relay;
  c->outcome = e->outcome;
  c->detail = e->detail;
  if(e->reason) { /* a failed dial */
    c->err = e->err;
    c->reason = e->reason;
    c->detail = c->err.message;
  }
}

/* SOCKS or HTTP CONNECT: the handshake names the target. */
static void run_front(forward_conn_t *c)
{
  c->front.kind = c->l->kind;
  int rc = front_read_handshake(&c->front, c->fd);
  if(rc == BEACON_EPROTO) {
    c->outcome = OUTCOME_BAD_REQUEST;
    front_refuse_request(&c->front, c->fd);
  } else if(rc) {
    c->outcome = OUTCOME_NO_REQUEST;
  } else if(c->front.kind == FRONT_HTTP && c->front.http.forward) {
    serve_forward_proxy(c);
  } else {
    c->target = front_target(&c->front);
    dial_and_copy(c);
  }
}

/* Logs the connection, closes it and counts it out. */
static void conn_end(forward_conn_t *c)
{
  forward_service_t *svc = c->svc;
  log_conn(c);
  if(c->stream_fd >= 0) {
    close(c->stream_fd);
    metric_dec(&forward_metrics.streams_open, 0);
  }
  if(c->fd >= 0)
    close(c->fd);
  free(c);
  metric_dec(&forward_metrics.conns_open, 0);
  atomic_fetch_sub(&svc->live_conns, 1);
  if(write(svc->done_pipe[1], "", 1) < 0) {
    /* full: the drain already has a wake-up pending */
  }
}

static void *conn_main(void *arg)
{
  forward_conn_t *c = arg;
  c->start = forward_mono_ms();
  c->outcome = OUTCOME_OK;
  c->up.counter = c->down.counter = &forward_metrics.bytes;
  c->up.dir = DIR_UP;
  c->down.dir = DIR_DOWN;
  if(c->l->kind != FRONT_LOCAL) {
    run_front(c);
  } else {
    c->target = c->l->target;
    if(client_stream_fd_ok(c->fd))
      c->outcome = pump_in_loop(c);
    else
      dial_and_copy(c);
  }
  conn_end(c);
  return NULL;
}

void forward_conn_start(forward_service_t *svc, const listener_t *l, int fd,
                        const char *peer)
{
  forward_conn_t *c = calloc(1, sizeof(*c));
  if(!c) {
    log_msg(LOG_WARN, "conn_refused", "%s: out of memory", l->addr);
    close(fd);
    return;
  }
  snprintf(c->peer, sizeof(c->peer), "%s", peer);
  c->svc = svc;
  c->l = l;
  c->fd = fd;
  c->stream_fd = -1;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&at, 256 * 1024);
  pthread_t th;
  atomic_fetch_add(&svc->live_conns, 1);
  metric_inc(&forward_metrics.conns_open, 0);
  if(pthread_create(&th, &at, conn_main, c)) {
    metric_dec(&forward_metrics.conns_open, 0);
    atomic_fetch_sub(&svc->live_conns, 1);
    close(fd);
    free(c);
  }
  pthread_attr_destroy(&at);
}
