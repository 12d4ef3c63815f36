/* wanproxy: a TCP forwarder that behaves like a WAN path, for tests and
 * benchmarks on loopback (no tc netem needed).
 *
 *   wanproxy --listen 127.0.0.1:PORT --connect HOST:PORT --rate-mbit R
 *            --rtt-ms D [--buffer BYTES] [--sockbuf BYTES]
 *
 * Each accepted connection gets its own upstream connection. Each
 * direction is a link: bytes are read into a bounded bottleneck buffer
 * (reading stops when it is full, so the sender sees backpressure), drained
 * at the link rate by a token bucket, and each paced piece is delivered
 * after a one-way delay of rtt/2. A destination that does not drain stops
 * the pacing in turn, so memory stays bounded. The proxy's own socket
 * buffers are small (--sockbuf) so the kernel does not hide megabytes
 * behind the emulated link. --rate-mbit 0 means no rate limit.
 *
 * Prints `listening 127.0.0.1:PORT` once ready; exits on SIGTERM/SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <uv.h>

#define TICK_MS 1
#define MAX_READ (64 * 1024)

struct options {
  struct sockaddr_storage listen_addr, connect_addr;
  double rate_bytes_per_ns; /* 0: unlimited */
  uint64_t one_way_ns;
  size_t buffer;    /* bottleneck buffer per direction */
  size_t sockbuf;   /* SO_RCVBUF / SO_SNDBUF of the proxy's sockets */
  size_t burst;     /* tokens saved up at most while idle */
  size_t quantum;   /* smallest piece the pacer releases from a backlog */
  size_t catch_up;  /* tokens at most after a late tick, with a backlog */
  size_t delay_cap; /* bytes in the delay line before pacing stops */
};

static struct options opt;

/* A paced piece on its way through the delay line. len 0 carries the FIN. */
struct piece {
  struct piece *next;
  uint64_t due_ns;
  size_t len;
  uv_write_t req;
  struct link *link;
  char data[];
};

struct conn;

/* One direction of a connection: src -> bottleneck -> pacer -> delay line
 * -> dst. */
struct link {
  struct conn *conn;
  uv_tcp_t *src, *dst;
  char *ring; /* the bottleneck buffer */
  size_t ring_start, ring_used;
  double tokens;
  uint64_t last_ns;
  struct piece *head, *tail; /* the delay line, in due order */
  size_t delay_bytes;
  int reading, eof_read, fin_queued, fin_sent;
  uv_shutdown_t shutdown_req;
};

struct conn {
  struct conn *prev, *next;
  uv_tcp_t down, up; /* down: the accepted side; up: our upstream dial */
  uv_connect_t connect_req;
  int up_connected, closing, open_handles;
  struct link fwd, back; /* fwd: down -> up; back: up -> down */
};

static uv_loop_t *loop;
static uv_tcp_t listener;
static uv_timer_t ticker;
static uv_signal_t sigterm, sigint;
static struct conn *conns;
static int stopping;

static void link_pump(struct link *l);
static void conn_close(struct conn *c, int reset);

static void die(const char *what, int err)
{
  fprintf(stderr, "wanproxy: %s: %s\n", what, err ? uv_strerror(err) : "");
  exit(2);
}

static void set_sockbuf(uv_handle_t *h)
{
  uv_os_fd_t fd;
  int size = (int)opt.sockbuf, mss = 1460;
  if(uv_fileno(h, &fd) != 0)
    return;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  /* An Ethernet-sized MSS, as on a real path: with loopback's 64 KiB MSS
   * a small receive buffer leaves TCP a zero window until it is almost
   * empty, and the sender stalls on its persist timer. */
  setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
}

/* ---- the bottleneck buffer (a ring) ------------------------------------ */

static size_t ring_free_run(const struct link *l, char **at)
{
  size_t tail = (l->ring_start + l->ring_used) % opt.buffer;
  size_t run;
  if(l->ring_used == opt.buffer)
    run = 0;
  else if(tail >= l->ring_start)
    run = opt.buffer - tail;
  else
    run = l->ring_start - tail;
  *at = l->ring + tail;
  return run;
}

static void ring_take(struct link *l, char *out, size_t n)
{
  size_t first = opt.buffer - l->ring_start;
  if(first > n)
    first = n;
  memcpy(out, l->ring + l->ring_start, first);
  memcpy(out + first, l->ring, n - first);
  l->ring_start = (l->ring_start + n) % opt.buffer;
  l->ring_used -= n;
  if(l->ring_used == 0)
    l->ring_start = 0;
}

/* ---- reading from the source -------------------------------------------- */

static struct link *link_of_src(uv_stream_t *s)
{
  struct conn *c = s->data;
  return (uv_tcp_t *)s == &c->down ? &c->fwd : &c->back;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct link *l = link_of_src((uv_stream_t *)h);
  char *at;
  size_t run = ring_free_run(l, &at);
  (void)suggested;
  /* A zero-length buffer makes libuv report UV_ENOBUFS: handled below. */
  *buf = uv_buf_init(at, (unsigned)(run > MAX_READ ? MAX_READ : run));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static int start_read(struct link *l)
{
  return uv_read_start((uv_stream_t *)l->src, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct link *l = link_of_src(s);
  (void)buf;
  if(n > 0) {
    l->ring_used += (size_t)n;
  } else if(n == UV_EOF) {
    l->eof_read = 1;
  } else if(n == UV_ENOBUFS) {
    /* The bottleneck is full: stop reading until the pacer drains it. */
  } else if(n < 0) {
    conn_close(l->conn, 1);
    return;
  }
  if(l->eof_read || l->ring_used == opt.buffer) {
    uv_read_stop(s);
    l->reading = 0;
  }
  link_pump(l);
}

static void link_resume_reading(struct link *l)
{
  if(!l->reading && !l->eof_read && !l->conn->closing &&
     l->ring_used < opt.buffer) {
    if(start_read(l) == 0)
      l->reading = 1;
  }
}

/* ---- pacing and the delay line ------------------------------------------ */

static void on_write(uv_write_t *req, int status)
{
  struct piece *p = req->data;
  struct link *l = p->link;
  free(p);
  if(status < 0) {
    conn_close(l->conn, 1);
    return;
  }
  link_pump(l);
}

static void conn_maybe_done(struct conn *c)
{
  if(c->fwd.fin_sent == 2 && c->back.fin_sent == 2)
    conn_close(c, 0);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
  struct link *l = req->data;
  if(status < 0) {
    conn_close(l->conn, status != UV_ECANCELED);
    return;
  }
  l->fin_sent = 2;
  conn_maybe_done(l->conn);
}

static void link_release(struct link *l, uint64_t now)
{
  size_t n = l->ring_used;
  struct piece *p;
  if(opt.rate_bytes_per_ns > 0) {
    /* A link with a backlog was sending all along, even if this process
     * was not scheduled: keep the elapsed time's tokens (up to a bound).
     * An idle link saves up only a small burst. */
    l->tokens += (double)(now - l->last_ns) * opt.rate_bytes_per_ns;
    if(l->tokens > (double)opt.catch_up)
      l->tokens = (double)opt.catch_up;
    /* Not in crumbs: each read would otherwise release the few bytes
     * earned since the last one, and the destination would see tiny
     * segments. A backlog smaller than a quantum goes out whole. */
    if((double)n > l->tokens)
      n = l->tokens < (double)opt.quantum ? 0 : (size_t)l->tokens;
  }
  l->last_ns = now;
  if(l->ring_used == 0 && l->tokens > (double)opt.burst)
    l->tokens = (double)opt.burst;
  if(l->delay_bytes >= opt.delay_cap)
    n = 0; /* the destination is not draining: stop pacing */
  else if(n > opt.delay_cap - l->delay_bytes)
    n = opt.delay_cap - l->delay_bytes;
  if(n == 0 && !(l->eof_read && l->ring_used == 0 && !l->fin_queued))
    return;
  p = malloc(sizeof *p + n);
  if(!p)
    die("out of memory", 0);
  p->next = NULL;
  p->due_ns = now + opt.one_way_ns;
  p->len = n;
  p->link = l;
  if(n > 0) {
    ring_take(l, p->data, n);
    if(opt.rate_bytes_per_ns > 0) {
      l->tokens -= (double)n;
      if(l->ring_used == 0 && l->tokens > (double)opt.burst)
        l->tokens = (double)opt.burst;
    }
  } else {
    l->fin_queued = 1;
  }
  l->delay_bytes += n;
  if(l->tail)
    l->tail->next = p;
  else
    l->head = p;
  l->tail = p;
}

static void link_deliver(struct link *l, uint64_t now)
{
  struct conn *c = l->conn;
  while(l->head && l->head->due_ns <= now && c->up_connected && !l->fin_sent) {
    struct piece *p = l->head;
    /* Bytes the destination's kernel did not take yet stay here. */
    if(p->len > 0 && l->dst->write_queue_size >= opt.sockbuf)
      break;
    l->head = p->next;
    if(!l->head)
      l->tail = NULL;
    l->delay_bytes -= p->len;
    if(p->len == 0) {
      free(p);
      l->fin_sent = 1;
      l->shutdown_req.data = l;
      if(uv_shutdown(&l->shutdown_req, (uv_stream_t *)l->dst, on_shutdown))
        conn_close(c, 1);
      return;
    }
    uv_buf_t b = uv_buf_init(p->data, (unsigned)p->len);
    p->req.data = p;
    if(uv_write(&p->req, (uv_stream_t *)l->dst, &b, 1, on_write)) {
      free(p);
      conn_close(c, 1);
      return;
    }
  }
}

static void link_pump(struct link *l)
{
  uint64_t now = uv_hrtime();
  if(l->conn->closing)
    return;
  link_release(l, now);
  link_deliver(l, now);
  if(!l->conn->closing)
    link_resume_reading(l);
}

static void on_tick(uv_timer_t *t)
{
  struct conn *c, *next;
  (void)t;
  if(!conns) {
    uv_timer_stop(&ticker); /* idle: no wake-ups */
    return;
  }
  for(c = conns; c; c = next) {
    next = c->next;
    link_pump(&c->fwd);
    if(!c->closing)
      link_pump(&c->back);
  }
}

/* ---- connections ----------------------------------------------------------
 */

static void link_free_pieces(struct link *l)
{
  while(l->head) {
    struct piece *p = l->head;
    l->head = p->next;
    free(p);
  }
  l->tail = NULL;
}

static void on_conn_handle_closed(uv_handle_t *h)
{
  struct conn *c = h->data;
  if(--c->open_handles > 0)
    return;
  free(c->fwd.ring);
  free(c->back.ring);
  free(c);
}

static void conn_close(struct conn *c, int reset)
{
  if(c->closing)
    return;
  c->closing = 1;
  if(c->prev)
    c->prev->next = c->next;
  else
    conns = c->next;
  if(c->next)
    c->next->prev = c->prev;
  link_free_pieces(&c->fwd);
  link_free_pieces(&c->back);
  /* An error on one side becomes a reset on the other, as a broken path
   * would look to both ends. */
  if(reset && uv_tcp_close_reset(&c->down, on_conn_handle_closed) == 0) {
  } else {
    uv_close((uv_handle_t *)&c->down, on_conn_handle_closed);
  }
  if(reset && c->up_connected &&
     uv_tcp_close_reset(&c->up, on_conn_handle_closed) == 0) {
  } else {
    uv_close((uv_handle_t *)&c->up, on_conn_handle_closed);
  }
}

static void link_init(struct link *l, struct conn *c, uv_tcp_t *src,
                      uv_tcp_t *dst)
{
  l->conn = c;
  l->src = src;
  l->dst = dst;
  l->ring = malloc(opt.buffer);
  if(!l->ring)
    die("out of memory", 0);
  l->tokens = (double)opt.burst;
  l->last_ns = uv_hrtime();
}

static void on_up_connected(uv_connect_t *req, int status)
{
  struct conn *c = req->data;
  if(c->closing)
    return;
  if(status < 0) {
    fprintf(stderr, "wanproxy: connect: %s\n", uv_strerror(status));
    conn_close(c, 1);
    return;
  }
  c->up_connected = 1;
  uv_tcp_nodelay(&c->up, 1);
  if(start_read(&c->back) == 0)
    c->back.reading = 1;
  link_pump(&c->fwd);
}

static void on_accept(uv_stream_t *server, int status)
{
  struct conn *c;
  int err;
  if(status < 0 || stopping)
    return;
  c = calloc(1, sizeof *c);
  if(!c)
    die("out of memory", 0);
  uv_tcp_init(loop, &c->down);
  c->down.data = c;
  c->open_handles = 1;
  if(uv_accept(server, (uv_stream_t *)&c->down)) {
    uv_close((uv_handle_t *)&c->down, on_conn_handle_closed);
    return;
  }
  uv_tcp_init_ex(loop, &c->up, opt.connect_addr.ss_family);
  c->up.data = c;
  c->open_handles = 2;
  link_init(&c->fwd, c, &c->down, &c->up);
  link_init(&c->back, c, &c->up, &c->down);
  c->next = conns;
  if(conns)
    conns->prev = c;
  conns = c;
  if(!uv_is_active((uv_handle_t *)&ticker))
    uv_timer_start(&ticker, on_tick, TICK_MS, TICK_MS);
  set_sockbuf((uv_handle_t *)&c->down);
  set_sockbuf((uv_handle_t *)&c->up);
  uv_tcp_nodelay(&c->down, 1);
  c->connect_req.data = c;
  err = uv_tcp_connect(&c->connect_req, &c->up,
                       (struct sockaddr *)&opt.connect_addr, on_up_connected);
  if(err) {
    fprintf(stderr, "wanproxy: connect: %s\n", uv_strerror(err));
    conn_close(c, 1);
    return;
  }
  /* The bottleneck fills while the upstream dial is under way. */
  if(start_read(&c->fwd) == 0)
    c->fwd.reading = 1;
}

static void on_signal(uv_signal_t *s, int signum)
{
  (void)s;
  (void)signum;
  stopping = 1;
  while(conns)
    conn_close(conns, 0);
  uv_close((uv_handle_t *)&listener, NULL);
  uv_close((uv_handle_t *)&ticker, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
}

/* ---- command line ----------------------------------------------------------
 */

static void parse_addr(const char *s, struct sockaddr_storage *out)
{
  char host[256];
  const char *colon = strrchr(s, ':');
  size_t hl;
  long port;
  char *end;
  if(!colon)
    die("address needs HOST:PORT", 0);
  hl = (size_t)(colon - s);
  if(hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
    s++;
    hl -= 2;
  }
  if(hl >= sizeof host)
    die("address too long", 0);
  memcpy(host, s, hl);
  host[hl] = '\0';
  port = strtol(colon + 1, &end, 10);
  if(*end || port < 0 || port > 65535)
    die("bad port", 0);
  if(uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) &&
     uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out))
    die("address must be a numeric IP", 0);
}

static double parse_num(const char *flag, const char *v)
{
  char *end;
  double d;
  if(!v)
    die("missing value", 0);
  d = strtod(v, &end);
  if(*end || d < 0) {
    fprintf(stderr, "wanproxy: bad value for %s: %s\n", flag, v);
    exit(2);
  }
  return d;
}

static void usage(void)
{
  fprintf(stderr, "usage: wanproxy --listen ADDR:PORT --connect ADDR:PORT "
                  "--rate-mbit R --rtt-ms D [--buffer BYTES] "
                  "[--sockbuf BYTES]\n");
  exit(2);
}

int main(int argc, char **argv)
{
  const char *listen_s = NULL, *connect_s = NULL;
  double rate_mbit = -1, rtt_ms = -1, buffer = 0, sockbuf = 64 * 1024;
  struct sockaddr_storage bound;
  int len = sizeof bound, err, i;
  char host[64];

  /* Every flag takes a value: step over both. */
  for(i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if(!strcmp(a, "--listen"))
      listen_s = v;
    else if(!strcmp(a, "--connect"))
      connect_s = v;
    else if(!strcmp(a, "--rate-mbit"))
      rate_mbit = parse_num(a, v);
    else if(!strcmp(a, "--rtt-ms"))
      rtt_ms = parse_num(a, v);
    else if(!strcmp(a, "--buffer"))
      buffer = parse_num(a, v);
    else if(!strcmp(a, "--sockbuf"))
      sockbuf = parse_num(a, v);
    else
      usage();
  }
  if(!listen_s || !connect_s || rate_mbit < 0 || rtt_ms < 0)
    usage();
  parse_addr(listen_s, &opt.listen_addr);
  parse_addr(connect_s, &opt.connect_addr);
  opt.rate_bytes_per_ns = rate_mbit * 1e6 / 8 / 1e9;
  opt.one_way_ns = (uint64_t)(rtt_ms * 1e6 / 2);
  /* Two ticks' worth at the link rate, so a full tick never idles it. */
  double two_ms = opt.rate_bytes_per_ns * 2e6;
  opt.buffer = buffer > 0 ? (size_t)buffer
                          : (size_t)(two_ms > 262144 ? two_ms : 262144);
  opt.sockbuf = sockbuf > 0 ? (size_t)sockbuf : 65536;
  opt.burst = (size_t)(two_ms > 16384 ? two_ms : 16384);
  opt.catch_up = opt.burst * 10;
  double one_ms = opt.rate_bytes_per_ns * 1e6;
  opt.quantum = one_ms < 1448 ? 1448 : one_ms > 65536 ? 65536 : (size_t)one_ms;
  /* What the link holds in flight (rate x one-way delay), plus slack for
   * the pieces released while the destination catches up. */
  opt.delay_cap = opt.rate_bytes_per_ns > 0
                      ? (size_t)(opt.rate_bytes_per_ns * opt.one_way_ns) +
                            opt.buffer + opt.burst
                      : (size_t)64 << 20;

  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  uv_tcp_init_ex(loop, &listener, opt.listen_addr.ss_family);
  /* Accepted sockets inherit the buffer sizes (and the window scale). */
  set_sockbuf((uv_handle_t *)&listener);
  if((err = uv_tcp_bind(&listener, (struct sockaddr *)&opt.listen_addr, 0)))
    die("bind", err);
  if((err = uv_listen((uv_stream_t *)&listener, 1024, on_accept)))
    die("listen", err);
  uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &len);
  if(bound.ss_family == AF_INET6)
    uv_ip6_name((struct sockaddr_in6 *)&bound, host, sizeof host);
  else
    uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof host);
  printf("listening %s:%d\n", host,
         ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);

  uv_timer_init(loop, &ticker);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
