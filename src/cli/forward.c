/*
 * forward.c - `beacon forward`: fixed local forwards (-L), a SOCKS5 and
 * an HTTP CONNECT front end, all through one tunnel (or chain) with lazy
 * reconnect (docs/OPERATIONS.md "The controller side").
 *
 * The main thread polls the listeners and a signal pipe; each accepted
 * connection gets a thread. An -L connection is handed to the tunnel's
 * loop (client_dial_fds), which pumps the socket itself; the thread only
 * waits for the end to log it. A SOCKS or HTTP CONNECT connection runs
 * its front-end handshake (bounded by HEADER_TIMEOUT_MS), calls
 * beacon_dial() (thread-safe, the tunnel is shared) and then copies both
 * ways with half-close. Connections are capped by --max-conns.
 *
 * SIGTERM/SIGINT stop accepting and let live connections finish for up
 * to --drain-timeout (default 30 s, like the relay, docs/ARCHITECTURE.md
 * "Shutdown and reload keep live streams"); a second signal ends the wait.
 * Either way the exit code is 0.
 *
 * Success replies (SOCKS and HTTP CONNECT; -L has none to give, so it
 * never waits): the protocol has no answer from the relay, a refused
 * destination shows as a reset (beacon relay) or an immediate EOF (Go
 * relay) of the fresh stream. The front ends therefore wait up to
 * --connect-grace (default 0.25 s) after the stream opened: a reset or
 * EOF before any byte becomes "connection refused" (SOCKS 0x05, HTTP
 * 502); data or silence until the grace ends means success. Protocols
 * where the server speaks first skip most of the wait.
 *
 * --metrics-addr serves /metrics and /healthz from a libuv loop in a
 * thread of its own (the metrics layer is libuv based); the connection
 * threads only bump relaxed atomic counters. It stops after the drain,
 * so a scrape can watch the drain happen.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "cli/client_opts.h"
#include "cli_support/http_connect.h"
#include "cli_support/socks.h"
#include "client/client_stream.h"
#include "log/log.h"
#include "metrics/http.h"
#include "metrics/metrics.h"
#include "metrics/process.h"

#define HEADER_TIMEOUT_MS 10000
#define COPY_BUF (64 * 1024)

static const char usage_text[] =
    "Usage: beacon forward --relay HOST:PORT [--relay HOST:PORT]...\n"
    "                      [--config-dir DIR] [--cert F --key F --ca F]\n"
    "                      [-L [BIND:]PORT:HOST:PORT]... [--socks ADDR]\n"
    "                      [--http-connect ADDR] [--timeout SECONDS]\n"
    "                      [--connect-grace SECONDS] [--max-conns N]\n"
    "                      [--window-budget SIZE]\n"
    "                      [--drain-timeout SECONDS] [--metrics-addr ADDR]\n"
    "                      [--log-level LEVEL] [--log-format FORMAT]\n"
    "\n"
    "Long-running: every front end shares one tunnel (or chain) to the\n"
    "relay, re-dialled lazily when it dies. Addresses are PORT,\n"
    "HOST:PORT or [IPV6]:PORT; a bare PORT binds to 127.0.0.1.\n"
    "\n"
    "  --relay HOST:PORT         relay tunnel address (repeat for a\n"
    "                            chain, first hop first)\n"
    "  --config-dir DIR          controller.crt, controller.key,\n"
    "                            fleet-ca.crt (default /etc/beacon)\n"
    "  --cert/--key/--ca F       override one file of the config dir\n"
    "  -L [BIND:]PORT:HOST:PORT  forward a local port to HOST:PORT\n"
    "  --socks ADDR              SOCKS5 (no auth, CONNECT; names are\n"
    "                            resolved by the relay)\n"
    "  --http-connect ADDR       HTTP/1.1 CONNECT proxy\n"
    "  --connect-grace SECONDS   wait this long for a refusal before\n"
    "                            answering success (default 0.25)\n"
    "  --max-conns N             concurrent connections (default 1024)\n"
    "  --timeout SECONDS         connect/handshake/open timeouts (10)\n"
    "  --window-budget SIZE      receive window the tunnel's streams may\n"
    "                            grow into beyond 256 KiB each, together\n"
    "                            (K, M, G; default 64M; 0 = fixed)\n"
    "  --drain-timeout SECONDS   on SIGTERM/SIGINT, let live connections\n"
    "                            finish for this long (default 30)\n"
    "  --metrics-addr ADDR       Prometheus /metrics and /healthz (off by\n"
    "                            default; a bare PORT or :PORT binds to\n"
    "                            127.0.0.1)\n"
    "  --log-level LEVEL         debug, info, warn, error (default info)\n"
    "  --log-format FORMAT       text or json (default text)\n"
    "  -h, --help                this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop accepting, drain and exit 0; a second\n"
    "signal ends the drain at once.\n";

enum front { FRONT_LOCAL = 0, FRONT_SOCKS, FRONT_HTTP };
static const char *front_names[] = {"forward", "socks", "http-connect"};

typedef struct listener {
  int fd;
  enum front kind;
  char target[TARGET_MAX_LINE + 1]; /* -L only */
  char addr[320];
} listener_t;

static beacon_tunnel_t *tunnel;
static long grace_ms;
static atomic_long live_conns;
static int sig_pipe[2] = {-1, -1};
/* A byte per finished connection, so the drain waits without polling. */
static int done_pipe[2] = {-1, -1};

/* ---- metrics (docs/OPERATIONS.md "Metrics") ------------------------- */

enum { DIR_UP = 0, DIR_DOWN };
enum { DIAL_REFUSED = 0, DIAL_TIMEOUT, DIAL_TLS, DIAL_OTHER };
static const char *const directions[] = {"up", "down"};
static const char *const dial_reasons[] = {"refused", "timeout", "tls",
                                           "other"};

static struct {
  metrics_registry_t reg;
  metric_t conns_open, streams_open, streams_total, bytes, dial_failures;
  uv_loop_t loop;
  uv_async_t stop;
  uv_thread_t thread;
  metrics_http_t *http;
} fm;

/* Names and sizes are constants: a failure is a programming error. */
static void family(metric_t *f, metric_type_t type, const char *name,
                   const char *help, const char *label,
                   const char *const *values, size_t n)
{
  metric_init(f, type, name, help, label, values, n);
  metrics_register(&fm.reg, f);
}

static void metrics_setup(void)
{
  metrics_registry_init(&fm.reg);
  family(&fm.conns_open, METRIC_GAUGE, "beacon_forward_connections_open",
         "Client connections open now, on every front end.", NULL, NULL, 0);
  family(&fm.streams_open, METRIC_GAUGE, "beacon_streams_open",
         "Relay streams open now.", NULL, NULL, 0);
  family(&fm.streams_total, METRIC_COUNTER, "beacon_streams_total",
         "Relay streams opened.", NULL, NULL, 0);
  family(&fm.bytes, METRIC_COUNTER, "beacon_bytes_total",
         "Payload bytes forwarded (up: client to target).", "direction",
         directions, 2);
  family(&fm.dial_failures, METRIC_COUNTER, "beacon_dial_failures_total",
         "Streams that could not be opened through the relay.", "reason",
         dial_reasons, 4);
  metrics_process_register(&fm.reg); /* process_*, beacon_build_info */
}

/* A failed beacon_dial() (or a refusal seen in the grace period). */
static size_t dial_reason(int err)
{
  switch(err) {
  case BEACON_EREFUSED:
  case BEACON_ERESET:
  case BEACON_EPOLICY:
    return DIAL_REFUSED;
  case BEACON_ETIMEDOUT:
    return DIAL_TIMEOUT;
  case BEACON_ETLS:
  case BEACON_EVERIFY:
    return DIAL_TLS;
  default:
    return DIAL_OTHER;
  }
}

/* The conn_done outcome of a failed dial, in the relay's words
 * (docs/ARCHITECTURE.md "Log fields"): the code itself goes in `reason`. */
static const char *dial_outcome(int err)
{
  switch(err) {
  case BEACON_EPOLICY:
  case BEACON_ERESET:
    return "refused";
  case BEACON_ECLOSED:
    return "tunnel_lost";
  default:
    return "dial_error";
  }
}

static void metrics_thread(void *arg)
{
  (void)arg;
  uv_run(&fm.loop, UV_RUN_DEFAULT);
}

static void on_metrics_stop(uv_async_t *a)
{
  metrics_http_stop(fm.http);
  fm.http = NULL;
  uv_close((uv_handle_t *)a, NULL);
}

/* Binds the endpoint on the calling thread, then hands the loop to its
 * own thread (thread creation orders the two). 0, or an exit code after
 * one line on stderr. */
static int metrics_start(const char *addr)
{
  char err[256];
  int rc = uv_loop_init(&fm.loop);
  if(rc) {
    fprintf(stderr, "beacon forward: metrics loop: %s\n", uv_strerror(rc));
    return CLI_EXIT_FAILURE;
  }
  fm.http = metrics_http_start(&fm.loop, addr, metrics_registry_render,
                               &fm.reg, err, sizeof(err));
  if(!fm.http) {
    fprintf(stderr, "beacon forward: --metrics-addr: %s\n", err);
    uv_run(&fm.loop, UV_RUN_DEFAULT); /* the listener's close callback */
    uv_loop_close(&fm.loop);
    return CLI_EXIT_FAILURE;
  }
  rc = uv_async_init(&fm.loop, &fm.stop, on_metrics_stop);
  if(!rc) {
    rc = uv_thread_create(&fm.thread, metrics_thread, NULL);
    if(rc)
      uv_close((uv_handle_t *)&fm.stop, NULL);
  }
  if(rc) {
    fprintf(stderr, "beacon forward: metrics thread: %s\n", uv_strerror(rc));
    metrics_http_stop(fm.http);
    fm.http = NULL;
    uv_run(&fm.loop, UV_RUN_DEFAULT);
    uv_loop_close(&fm.loop);
    return CLI_EXIT_FAILURE;
  }
  return 0;
}

/* Wakes the loop thread, which closes everything so uv_run returns. */
static void metrics_stop(void)
{
  uv_async_send(&fm.stop);
  uv_thread_join(&fm.thread);
  uv_loop_close(&fm.loop);
}

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- addresses ------------------------------------------------------ */

/* "PORT", "HOST:PORT" or "[V6]:PORT" -> bound, listening socket, or
 * BEACON_EINVAL (not such a spec, or not a local address) or BEACON_EIO
 * (socket, bind or listen failed; errno says why). */
static int listen_on(const char *spec, char *shown, size_t cap)
{
  char host[256] = "127.0.0.1";
  const char *port = spec;
  const char *colon = strrchr(spec, ':');
  if(colon) {
    size_t hl = (size_t)(colon - spec);
    const char *h = spec;
    if(hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
      h++;
      hl -= 2;
    }
    if(!hl || hl >= sizeof(host))
      return BEACON_EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    port = colon + 1;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai;
  if(!*port || getaddrinfo(host, port, &hints, &ai))
    return BEACON_EINVAL;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if(fd >= 0)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if(fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
    int e = errno;
    if(fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    errno = e;
    return BEACON_EIO;
  }
  freeaddrinfo(ai);
  /* The address actually bound, so that port 0 shows the port picked. */
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char h[INET6_ADDRSTRLEN], s[8];
  if(!getsockname(fd, (struct sockaddr *)&ss, &sl) &&
     !getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), s, sizeof(s),
                  NI_NUMERICHOST | NI_NUMERICSERV)) {
    int v6 = ss.ss_family == AF_INET6;
    snprintf(shown, cap, "%s%s%s:%s", v6 ? "[" : "", h, v6 ? "]" : "", s);
  } else {
    snprintf(shown, cap, "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
  }
  return fd;
}

/* "[BIND:]PORT:HOST:PORT": splits off the target (the last host:port).
 * 0, or BEACON_EINVAL. */
static int split_forward(const char *spec, char *bind, size_t bcap,
                         char *target, size_t tcap)
{
  const char *p = strrchr(spec, ':'); /* before the target port */
  if(!p || p == spec)
    return BEACON_EINVAL;
  const char *q = p - 1;
  if(*q == ']') {
    while(q > spec && *q != '[')
      q--;
    if(*q != '[' || q == spec)
      return BEACON_EINVAL;
    q--;
  } else {
    while(q > spec && *q != ':')
      q--;
  }
  if(*q != ':' || q == spec)
    return BEACON_EINVAL;
  size_t bl = (size_t)(q - spec), tl = strlen(q + 1);
  if(bl >= bcap || tl >= tcap)
    return BEACON_EINVAL;
  memcpy(bind, spec, bl);
  bind[bl] = 0;
  memcpy(target, q + 1, tl + 1);
  return target_from_string(target, tl, NULL) ? BEACON_EINVAL : 0;
}

/* ---- byte copying ----------------------------------------------------- */

typedef struct half {
  uint8_t buf[COPY_BUF];
  size_t off, len;
  int eof, done;
  size_t dir; /* DIR_UP or DIR_DOWN, for beacon_bytes_total */
  uint64_t bytes;
} half_t;

static int set_nonblock(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void hard_close(int fd)
{
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* One direction: src -> dst. 0, or -errno of the side that failed
 * (*who: 0 = src, 1 = dst). */
static int step(int src, int dst, half_t *h, int *who)
{
  if(!h->len && !h->eof) {
    ssize_t n = read(src, h->buf, sizeof(h->buf));
    if(n < 0 && errno != EAGAIN && errno != EINTR) {
      *who = 0;
      return -errno;
    }
    if(n == 0)
      h->eof = 1;
    if(n > 0) {
      h->off = 0;
      h->len = (size_t)n;
    }
  }
  while(h->len) {
    ssize_t n = write(dst, h->buf + h->off, h->len);
    if(n < 0) {
      if(errno == EAGAIN || errno == EINTR)
        break;
      *who = 1;
      return -errno;
    }
    h->off += (size_t)n;
    h->len -= (size_t)n;
    h->bytes += (uint64_t)n;
    metric_add(&fm.bytes, h->dir, (uint64_t)n);
  }
  if(h->eof && !h->len && !h->done) {
    shutdown(dst, SHUT_WR);
    h->done = 1;
  }
  return 0;
}

/* Copies a <-> b until both directions ended. A reset on one side is
 * passed on as a reset on the other. Returns the outcome. */
static const char *copy_both(int a, int b, half_t *ab, half_t *ba)
{
  set_nonblock(a);
  set_nonblock(b);
  while(!ab->done || !ba->done) {
    struct pollfd p[2] = {{.fd = a}, {.fd = b}};
    if(!ab->done)
      ab->len ? (p[1].events |= POLLOUT) : (p[0].events |= POLLIN);
    if(!ba->done)
      ba->len ? (p[0].events |= POLLOUT) : (p[1].events |= POLLIN);
    if(poll(p, 2, -1) < 0 && errno != EINTR)
      return "error";
    int who = 0, rc = 0;
    if(!ab->done)
      rc = step(a, b, ab, &who);
    if(rc) {
      hard_close(who ? a : b);
      return rc == -ECONNRESET ? (who ? "reset_by_target" : "reset_by_client")
                               : "error";
    }
    if(!ba->done)
      rc = step(b, a, ba, &who);
    if(rc) {
      hard_close(who ? b : a);
      return rc == -ECONNRESET ? (who ? "reset_by_client" : "reset_by_target")
                               : "error";
    }
  }
  return "ok";
}

/* ---- front ends ------------------------------------------------------- */

/* One accepted connection; heap-allocated, owned by its thread. */
typedef struct conn {
  int fd;
  enum front kind;
  const listener_t *l;
  char peer[NI_MAXHOST + NI_MAXSERV + 2];
  half_t up, down;
  client_socks_t sk;
  client_http_t ht;
} conn_t;

/* 0, or BEACON_EIO when the peer is gone. */
static int send_all(int fd, const void *p, size_t n)
{
  const uint8_t *b = p;
  while(n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if(w < 0) {
      if(errno == EINTR)
        continue;
      return BEACON_EIO;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* After an error answer: half-close and read what the client still
 * sends (up to a second, 64 KiB), so that closing with unread bytes does
 * not turn into a reset that destroys the answer in flight (nginx's
 * lingering close). */
static void linger_close(int fd)
{
  char b[4096];
  uint64_t deadline = mono_ms() + 1000;
  size_t total = 0;
  shutdown(fd, SHUT_WR);
  while(total < 64 * 1024) {
    uint64_t now = mono_ms();
    if(now >= deadline)
      break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if(poll(&p, 1, (int)(deadline - now)) <= 0)
      break;
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    if(n <= 0)
      break;
    total += (size_t)n;
  }
}

/* Waits up to the grace period for the fresh stream to show a refusal
 * (reset, or EOF before any byte). 0 = looks open. */
static int refused_early(int fd)
{
  if(grace_ms <= 0)
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

/* Reads the front-end handshake within HEADER_TIMEOUT_MS. Leftover
 * payload bytes after it are copied to rest. Returns 0 when complete,
 * BEACON_EPROTO when the parser failed (answer and close), or
 * BEACON_ETIMEDOUT, BEACON_ECLOSED (EOF or error) or BEACON_EIO (a SOCKS
 * reply could not be sent). */
static int read_handshake(conn_t *c, client_socks_t *sk, client_http_t *ht,
                          uint8_t *rest, size_t *rest_len)
{
  uint64_t deadline = mono_ms() + HEADER_TIMEOUT_MS;
  uint8_t buf[4096];
  for(;;) {
    uint64_t now = mono_ms();
    if(now >= deadline)
      return BEACON_ETIMEDOUT;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if(poll(&p, 1, (int)(deadline - now)) <= 0)
      continue;
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if(n <= 0)
      return BEACON_ECLOSED;
    size_t used = (size_t)n;
    int rc = sk ? client_socks_feed(sk, buf, &used)
                : client_http_feed(ht, buf, &used);
    if(sk && sk->reply_len) {
      if(send_all(c->fd, sk->reply, sk->reply_len))
        return BEACON_EIO;
      sk->reply_len = 0;
    }
    if(rc == BEACON_EAGAIN)
      continue;
    if(rc)
      return BEACON_EPROTO;
    *rest_len = (size_t)n - used;
    memcpy(rest, buf + used, *rest_len);
    return 0;
  }
}

static void log_conn(const conn_t *c, const char *target, uint64_t up,
                     uint64_t down, uint64_t start, const char *outcome,
                     const char *reason, const char *detail)
{
  log_line_t l;
  if(!log_begin(&l, strcmp(outcome, "ok") ? LOG_WARN : LOG_INFO, "conn_done"))
    return;
  log_str(&l, "front", front_names[c->kind]);
  log_str(&l, "client", c->peer);
  log_str(&l, "target", target && *target ? target : "-");
  log_u64(&l, "bytes_up", up);
  log_u64(&l, "bytes_down", down);
  log_ms(&l, "duration", mono_ms() - start);
  log_str(&l, "outcome", outcome);
  if(reason)
    log_str(&l, "reason", reason);
  if(detail)
    log_str(&l, "detail", detail);
  log_end(&l);
}

/* -L: the tunnel's loop pumps the accepted socket itself (no loopback
 * pair, no copy in this thread). A refusal reaches the client as a reset,
 * as it would from the target, so there is no grace to wait for. Returns
 * the outcome; the connection's byte counts are filled in. */
static const char *pump_in_loop(conn_t *c, const char *target,
                                const char **reason, const char **detail,
                                beacon_error_t *err)
{
  client_stream_end_t end;
  int code;
  client_fd_stream_t *s =
      client_dial_fds(tunnel, target, c->fd, c->fd, 0, &code, err);
  if(!s) {
    metric_inc(&fm.dial_failures, dial_reason(code));
    *reason = beacon_err_name(code);
    *detail = err->message;
    return dial_outcome(code);
  }
  metric_inc(&fm.streams_total, 0);
  metric_inc(&fm.streams_open, 0);
  close(c->fd); /* the loop has its own copy */
  c->fd = -1;
  client_stream_wait(tunnel, s, -1, &end);
  metric_dec(&fm.streams_open, 0);
  c->up.bytes = end.bytes_up;
  c->down.bytes = end.bytes_down;
  metric_add(&fm.bytes, DIR_UP, end.bytes_up);
  metric_add(&fm.bytes, DIR_DOWN, end.bytes_down);
  return end.outcome;
}

static void *conn_main(void *arg)
{
  conn_t *c = arg;
  half_t *up = &c->up, *down = &c->down;
  client_socks_t *sk = &c->sk;
  client_http_t *ht = &c->ht;
  uint8_t rest[4096];
  size_t rest_len = 0;
  uint64_t start = mono_ms();
  const char *target = NULL;
  const char *outcome = "ok";
  const char *reason = NULL; /* the error code of a failed dial */
  const char *detail = NULL;
  beacon_error_t err = {0};
  int fd = -1;

  up->dir = DIR_UP;
  down->dir = DIR_DOWN;
  if(c->kind == FRONT_LOCAL) {
    target = c->l->target;
    if(client_stream_fd_ok(c->fd)) {
      outcome = pump_in_loop(c, target, &reason, &detail, &err);
      goto out;
    }
  } else {
    client_socks_init(sk);
    client_http_init(ht);
    int rc = read_handshake(c, c->kind == FRONT_SOCKS ? sk : NULL, ht, rest,
                            &rest_len);
    if(rc) {
      int bad = rc == BEACON_EPROTO;
      outcome = bad ? "bad_request" : "handshake_timeout_or_eof";
      if(bad && c->kind == FRONT_HTTP) {
        char resp[512];
        const char *why = ht->status == 405   ? "only CONNECT is supported"
                          : ht->status == 431 ? "request header too large"
                                              : "malformed CONNECT request";
        size_t n = client_http_response(resp, sizeof(resp), ht->status, why);
        if(!send_all(c->fd, resp, n))
          linger_close(c->fd);
      }
      goto out;
    }
    target = c->kind == FRONT_SOCKS ? sk->target : ht->target;
  }

  int confirmed = 0;
  fd = client_dial(tunnel, target, 0, &confirmed, &err);
  if(fd >= 0) {
    metric_inc(&fm.streams_total, 0);
    metric_inc(&fm.streams_open, 0);
  }
  /* A relay that confirms connects already said how the dial went. */
  int refused = fd >= 0 && !confirmed && refused_early(fd);
  if(fd < 0 || refused) {
    int code = fd < 0 ? fd : BEACON_EREFUSED;
    metric_inc(&fm.dial_failures, dial_reason(code));
    outcome = fd < 0 ? dial_outcome(fd) : "refused";
    reason = fd < 0 ? beacon_err_name(fd) : NULL;
    detail = fd < 0 ? err.message : "reset or closed by the relay";
    if(c->kind == FRONT_SOCKS) {
      uint8_t r[SOCKS_REPLY_SIZE];
      send_all(c->fd, r, client_socks_reply(r, client_socks_code(code)));
    } else if(c->kind == FRONT_HTTP) {
      char resp[512];
      size_t n = client_http_response(resp, sizeof(resp),
                                      client_http_status(code), detail);
      send_all(c->fd, resp, n);
    }
    goto out;
  }
  if(c->kind == FRONT_SOCKS) {
    uint8_t r[SOCKS_REPLY_SIZE];
    send_all(c->fd, r, client_socks_reply(r, SOCKS_OK));
  } else if(c->kind == FRONT_HTTP) {
    char resp[128];
    send_all(c->fd, resp, client_http_response(resp, sizeof(resp), 200, NULL));
  }
  if(rest_len && send_all(fd, rest, rest_len)) {
    outcome = "error";
    goto out;
  }
  up->bytes = rest_len;
  metric_add(&fm.bytes, DIR_UP, rest_len);
  outcome = copy_both(c->fd, fd, up, down);

out:
  log_conn(c, target, up->bytes, down->bytes, start, outcome, reason, detail);
  if(fd >= 0) {
    close(fd);
    metric_dec(&fm.streams_open, 0);
  }
  if(c->fd >= 0)
    close(c->fd);
  free(c);
  metric_dec(&fm.conns_open, 0);
  atomic_fetch_sub(&live_conns, 1);
  if(write(done_pipe[1], "", 1) < 0) {
    /* full: the drain already has a wake-up pending */
  }
  return NULL;
}

static void accept_one(const listener_t *l, long max_conns)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
  if(fd < 0)
    return;
  if(atomic_load(&live_conns) >= max_conns) {
    log_msg(LOG_WARN, "conn_refused", "%s: connection limit reached", l->addr);
    close(fd);
    return;
  }
  conn_t *c = calloc(1, sizeof(*c));
  if(!c) {
    log_msg(LOG_WARN, "conn_refused", "%s: out of memory", l->addr);
    close(fd);
    return;
  }
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if(!getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV))
    snprintf(c->peer, sizeof(c->peer), "%s:%s", host, serv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c->fd = fd;
  c->kind = l->kind;
  c->l = l;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&at, 256 * 1024);
  pthread_t th;
  atomic_fetch_add(&live_conns, 1);
  metric_inc(&fm.conns_open, 0);
  if(pthread_create(&th, &at, conn_main, c)) {
    metric_dec(&fm.conns_open, 0);
    atomic_fetch_sub(&live_conns, 1);
    close(fd);
    free(c);
  }
  pthread_attr_destroy(&at);
}

static void on_signal(int sig)
{
  int saved = errno;
  uint8_t b = (uint8_t)sig;
  if(write(sig_pipe[1], &b, 1) < 0) {
    /* nothing to do: the pipe is full, a signal is already pending */
  }
  errno = saved;
}

static void empty_pipe(int fd)
{
  char b[64];
  while(read(fd, b, sizeof(b)) > 0) {
  }
}

/* After the listeners are closed: waits until every live connection
 * ended, the drain timeout passed, or another signal came. Returns the
 * number of connections still open. */
static long drain_conns(long drain_ms)
{
  uint64_t deadline = mono_ms() + (uint64_t)drain_ms;
  long n = atomic_load(&live_conns);
  log_line_t l;

  if(log_begin(&l, LOG_INFO, "draining")) {
    log_u64(&l, "connections", (uint64_t)n);
    log_ms(&l, "timeout", (uint64_t)drain_ms);
    log_end(&l);
  }
  while((n = atomic_load(&live_conns)) > 0) {
    uint64_t now = mono_ms();
    if(now >= deadline) {
      log_msg(LOG_WARN, "drain_timeout", "%ld connection(s) cut", n);
      return n;
    }
    uint64_t left = deadline - now;
    struct pollfd p[2] = {{.fd = done_pipe[0], .events = POLLIN},
                          {.fd = sig_pipe[0], .events = POLLIN}};
    if(poll(p, 2, left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR)
      return n;
    if(p[1].revents) {
      log_msg(LOG_WARN, "drain_cut",
              "second signal: %ld connection(s) "
              "cut",
              n);
      return n;
    }
    if(p[0].revents)
      empty_pipe(done_pipe[0]);
  }
  return 0;
}

static int add_listener(listener_t *ls, int *n, const char *spec,
                        enum front kind, const char *flag)
{
  listener_t *l = &ls[*n];
  memset(l, 0, sizeof(*l));
  l->kind = kind;
  char bind_spec[300];
  const char *where = spec;
  if(kind == FRONT_LOCAL) {
    if(split_forward(spec, bind_spec, sizeof(bind_spec), l->target,
                     sizeof(l->target))) {
      fprintf(stderr,
              "beacon forward: -L '%s': expected "
              "[BIND:]PORT:HOST:PORT\n",
              spec);
      return CLI_EXIT_USAGE;
    }
    where = bind_spec;
  }
  l->fd = listen_on(where, l->addr, sizeof(l->addr));
  if(l->fd == BEACON_EINVAL) {
    fprintf(stderr,
            "beacon forward: %s '%s': expected PORT, HOST:PORT "
            "or [IPV6]:PORT\n",
            flag, spec);
    return CLI_EXIT_USAGE;
  }
  if(l->fd < 0) {
    fprintf(stderr, "beacon forward: %s '%s': cannot listen: %s\n", flag, spec,
            strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  log_line_t ll;
  if(log_begin(&ll, LOG_INFO, "listening")) {
    log_str(&ll, "front", front_names[kind]);
    log_str(&ll, "address", l->addr);
    if(kind == FRONT_LOCAL)
      log_str(&ll, "target", l->target);
    log_end(&ll);
  }
  (*n)++;
  return 0;
}

int cli_forward_main(int argc, char **argv)
{
  cli_client_opts_t o;
  static listener_t ls[CLI_MAX_FORWARDS + 2];
  int nl = 0;
  int rc = cli_client_opts_parse(&o, argc, argv, "forward", usage_text, 1);
  if(rc != CLI_GO_ON)
    return rc;
  if(optind != argc) {
    fprintf(stderr, "beacon forward: unexpected argument '%s'\n%s",
            argv[optind], usage_text);
    return CLI_EXIT_USAGE;
  }
  if(!o.nforwards && !o.socks_addr && !o.http_addr) {
    fprintf(stderr,
            "beacon forward: nothing to do: give -L, --socks or "
            "--http-connect\n%s",
            usage_text);
    return CLI_EXIT_USAGE;
  }
  if(o.metrics_addr) {
    struct sockaddr_storage ss;
    char merr[256];
    if(metrics_parse_addr(o.metrics_addr, &ss, merr, sizeof(merr))) {
      fprintf(stderr, "beacon forward: --metrics-addr: %s\n%s", merr,
              usage_text);
      return CLI_EXIT_USAGE;
    }
  }
  grace_ms = o.grace_ms;
  metrics_setup();
  rc = 0;
  signal(SIGPIPE, SIG_IGN);
  if(pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) ||
     pipe2(done_pipe, O_CLOEXEC | O_NONBLOCK)) {
    fprintf(stderr, "beacon forward: pipe: %s\n", strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  /* Catch SIGTERM before the first "listening" line: a supervisor that
   * stops us as soon as we report ready must get a clean exit. */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  for(int i = 0; i < o.nforwards && !rc; i++)
    rc = add_listener(ls, &nl, o.forwards[i], FRONT_LOCAL, "-L");
  if(!rc && o.socks_addr)
    rc = add_listener(ls, &nl, o.socks_addr, FRONT_SOCKS, "--socks");
  if(!rc && o.http_addr)
    rc = add_listener(ls, &nl, o.http_addr, FRONT_HTTP, "--http-connect");
  if(!rc)
    rc = cli_client_tunnel(&o, &tunnel, "forward");
  if(!rc && o.metrics_addr) {
    rc = metrics_start(o.metrics_addr);
    if(rc) {
      beacon_tunnel_free(tunnel);
      tunnel = NULL;
    }
  }
  if(rc) {
    for(int i = 0; i < nl; i++)
      close(ls[i].fd);
    return rc;
  }
  struct pollfd p[CLI_MAX_FORWARDS + 3];
  for(;;) {
    for(int i = 0; i < nl; i++)
      p[i] = (struct pollfd){.fd = ls[i].fd, .events = POLLIN};
    p[nl] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
    if(poll(p, (nfds_t)nl + 1, -1) < 0) {
      if(errno == EINTR)
        continue;
      break;
    }
    if(p[nl].revents)
      break;
    for(int i = 0; i < nl; i++)
      if(p[i].revents & POLLIN)
        accept_one(&ls[i], o.max_conns);
  }
  /* Stop accepting: new connections are refused from here on. */
  for(int i = 0; i < nl; i++)
    close(ls[i].fd);
  empty_pipe(sig_pipe[0]);
  if(drain_conns(o.drain_ms)) {
    /* Connection threads still use the tunnel, so it cannot be freed,
     * and exit() would run library destructors under them: leave now,
     * which resets their streams and sockets. */
    fflush(NULL);
    _exit(CLI_EXIT_OK);
  }
  if(o.metrics_addr)
    metrics_stop();
  beacon_tunnel_free(tunnel);
  tunnel = NULL;
  log_msg(LOG_INFO, "stopped", "drained");
  return CLI_EXIT_OK;
}
