/*
 * forward.c - `beacon forward`: fixed local forwards (-L), a SOCKS5 and
 * an HTTP CONNECT front end, all through one tunnel (or chain) with lazy
 * reconnect (docs/OPERATIONS.md "The controller side"). This file is the
 * service; cli/forward.h lists the others.
 *
 * The main thread polls the listeners and a signal pipe; each accepted
 * connection gets a thread (cli/forward_conn.c). Connections are capped
 * by --max-conns.
 *
 * SIGTERM/SIGINT stop accepting and let live connections finish for up
 * to --drain-timeout (default 30 s, like the relay, docs/ARCHITECTURE.md
 * "Shutdown and reload keep live streams"); a second signal ends the wait.
 * SIGHUP rereads the identity files for new tunnels
 * (beacon_tunnel_reload()).
 * Either way the exit code is 0. The metrics endpoint stops after the
 * drain, so a scrape can watch the drain happen.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "cli/client_opts.h"
#include "cli/forward.h"
#include "cli/forward_metrics.h"
#include "cli/forward_pool.h"
#include "client/pool_status.h"
#include "cli/options.h"
#include "log/log.h"

#define MAX_LISTENERS (CLI_MAX_FORWARDS + 2)

static const cli_client_help_t forward_help = {
    .usage =
        "Usage: beacon forward --relay HOST:PORT[,HOST:PORT...] [--relay "
        "...]\n"
        "                      [--config-dir DIR] [--cert F --key F --ca F]\n"
        "                      [-L [BIND:]PORT:HOST:PORT]... [--socks ADDR]\n"
        "                      [--http-connect ADDR] [--timeout SECONDS]\n"
        "                      [--connect-grace SECONDS] [--max-conns N]\n"
        "                      [--pool-size N]\n"
        "                      [--window-budget SIZE]\n"
        "                      [--drain-timeout SECONDS] [--metrics-addr "
        "ADDR]\n"
        "                      [--log-level LEVEL] [--log-format FORMAT]\n"
        "\n"
        "Long-running: every front end shares one tunnel (or chain) to the\n"
        "relay, re-dialled lazily when it dies. With a pool (--relay\n"
        "a:8456,b:8456) it keeps a tunnel to every member, spreads streams\n"
        "over them and moves off one that fails or drains. Addresses are\n"
        "PORT, HOST:PORT or [IPV6]:PORT; a bare PORT binds to 127.0.0.1.\n"
        "\n",
    .footer =
        "\n"
        "Signals: SIGTERM/SIGINT stop accepting, drain and exit 0; a second\n"
        "one ends the drain at once. SIGHUP rereads the certificate, key and\n"
        "CA for new tunnels; live ones go on.\n"};

const char *const forward_front_names[] = {"forward", "socks", "http-connect"};

static forward_service_t svc = {.done_pipe = {-1, -1}};
static int sig_pipe[2] = {-1, -1};
static listener_t listeners[MAX_LISTENERS];
static int nlisteners;

static void accept_one(const listener_t *l, uint32_t max_conns)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
  if(fd < 0)
    return;
  if(atomic_load(&svc.live_conns) >= max_conns) {
    log_msg(LOG_WARN, "conn_refused", "%s: connection limit reached", l->addr);
    close(fd);
    return;
  }
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  char peer[NI_MAXHOST + NI_MAXSERV + 2] = "";
  if(!getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV))
    snprintf(peer, sizeof(peer), "%s:%s", host, serv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  forward_conn_start(&svc, l, fd, peer);
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
static int reload_on_hangup(void);

static long drain_conns(uint64_t drain_ms)
{
  uint64_t deadline = forward_mono_ms() + drain_ms;
  long n = atomic_load(&svc.live_conns);
  log_line_t l;

  if(log_begin(&l, LOG_INFO, "draining")) {
    log_u64(&l, "connections", (uint64_t)n);
    log_ms(&l, "timeout", drain_ms);
    log_end(&l);
  }
  while((n = atomic_load(&svc.live_conns)) > 0) {
    uint64_t now = forward_mono_ms();
    if(now >= deadline) {
      log_msg(LOG_WARN, "drain_timeout", "%ld connection(s) cut", n);
      return n;
    }
    uint64_t left = deadline - now;
    struct pollfd p[2] = {{.fd = svc.done_pipe[0], .events = POLLIN},
                          {.fd = sig_pipe[0], .events = POLLIN}};
    if(poll(p, 2, left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR)
      return n;
    if(p[1].revents && !reload_on_hangup()) {
      log_msg(LOG_WARN, "drain_cut", "second signal: %ld connection(s) cut",
              n);
      return n;
    }
    if(p[0].revents)
      empty_pipe(svc.done_pipe[0]);
  }
  return 0;
}

/* The pipes and SIGTERM/SIGINT. 0, or an exit code. */
static int catch_signals(void)
{
  signal(SIGPIPE, SIG_IGN);
  if(pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) ||
     pipe2(svc.done_pipe, O_CLOEXEC | O_NONBLOCK)) {
    fprintf(stderr, "beacon forward: pipe: %s\n", strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  return 0;
}

/* Every front end's listener, then the tunnel and the metrics endpoint.
 * 0, or an exit code with nothing left open. */
static int start(const cli_client_opts_t *o)
{
  int rc = 0;
  for(int i = 0; i < o->nforwards && !rc; i++)
    rc = forward_listen(listeners, &nlisteners, o->forwards[i], FRONT_LOCAL,
                        "-L");
  if(!rc && o->socks_addr)
    rc = forward_listen(listeners, &nlisteners, o->socks_addr, FRONT_SOCKS,
                        "--socks");
  if(!rc && o->http_addr)
    rc = forward_listen(listeners, &nlisteners, o->http_addr, FRONT_HTTP,
                        "--http-connect");
  if(!rc)
    rc = cli_client_tunnel(o, &svc.tunnel, "forward");
  if(!rc) {
    char crt[4096];
    forward_metrics_cert_expiry(cli_client_cert_path(o, crt, sizeof(crt)));
    client_tunnel_warm(svc.tunnel); /* a pool connects every member now */
  }
  if(!rc && o->metrics_addr) {
    forward_pool_metrics_setup(svc.tunnel);
    rc = forward_metrics_start(o->metrics_addr);
    if(rc) {
      beacon_tunnel_free(svc.tunnel);
      svc.tunnel = NULL;
    }
  }
  if(rc)
    for(int i = 0; i < nlisteners; i++)
      close(listeners[i].fd);
  return rc;
}

/* Reads the signals that arrived: SIGHUP rereads the certificate, key
 * and CA for new tunnels (live ones go on); 0 once SIGTERM or SIGINT
 * is among them. */
static int reload_on_hangup(void)
{
  uint8_t b[16];
  ssize_t n;
  int go_on = 1;
  while((n = read(sig_pipe[0], b, sizeof(b))) > 0) {
    for(ssize_t i = 0; i < n; i++) {
      if(b[i] != SIGHUP) {
        go_on = 0;
        continue;
      }
      beacon_error_t err;
      if(beacon_tunnel_reload(svc.tunnel, &err))
        log_msg(LOG_WARN, "reload_failed", "%s (the old identity stays)",
                err.message);
      else {
        log_msg(LOG_INFO, "reload", "certificate, key and CA for new tunnels");
        forward_metrics_cert_expiry(NULL);
      }
    }
  }
  return go_on;
}

/* How often the expiry gauge rereads the certificate file. */
#define CERT_EXPIRY_READ_MS 5000

/* Accepts until SIGTERM or SIGINT; SIGHUP reloads. */
static void serve(uint32_t max_conns)
{
  struct pollfd p[MAX_LISTENERS + 1];
  int nl = nlisteners;
  uint64_t expiry_read = forward_mono_ms();
  for(;;) {
    /* the library follows a renewed certificate on disk by itself: so
     * does the expiry gauge */
    if(forward_mono_ms() - expiry_read >= CERT_EXPIRY_READ_MS) {
      expiry_read = forward_mono_ms();
      forward_metrics_cert_expiry(NULL);
    }
    for(int i = 0; i < nl; i++)
      p[i] = (struct pollfd){.fd = listeners[i].fd, .events = POLLIN};
    p[nl] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
    if(poll(p, (nfds_t)nl + 1, CERT_EXPIRY_READ_MS) < 0) {
      if(errno == EINTR)
        continue;
      return;
    }
    if(p[nl].revents && !reload_on_hangup())
      return;
    for(int i = 0; i < nl; i++)
      if(p[i].revents & POLLIN)
        accept_one(&listeners[i], max_conns);
  }
}

/* Stops accepting, drains, and frees what is left. */
static int stop(const cli_client_opts_t *o)
{
  for(int i = 0; i < nlisteners; i++)
    close(listeners[i].fd);
  empty_pipe(sig_pipe[0]);
  if(drain_conns(o->drain_ms)) {
    /* Connection threads still use the tunnel, so it cannot be freed,
     * and exit() would run library destructors under them: leave now,
     * which resets their streams and sockets. */
    fflush(NULL);
    _exit(CLI_EXIT_OK);
  }
  if(o->metrics_addr)
    forward_metrics_stop();
  beacon_tunnel_free(svc.tunnel);
  svc.tunnel = NULL;
  log_msg(LOG_INFO, "stopped", "drained");
  return CLI_EXIT_OK;
}

/* --check-config: every front end's address, the relays and the
 * identity files; nothing bound or dialled. */
static int check(const cli_client_opts_t *o)
{
  int rc = 0;
  for(int i = 0; i < o->nforwards && !rc; i++)
    rc = forward_listen_check(o->forwards[i], FRONT_LOCAL, "-L");
  if(!rc && o->socks_addr)
    rc = forward_listen_check(o->socks_addr, FRONT_SOCKS, "--socks");
  if(!rc && o->http_addr)
    rc = forward_listen_check(o->http_addr, FRONT_HTTP, "--http-connect");
  if(!rc)
    rc = cli_client_check(o, "forward");
  if(!rc)
    printf("beacon forward: configuration OK\n");
  return rc;
}

int cli_forward_main(int argc, char **argv)
{
  cli_client_opts_t o;
  int first;
  int rc = cli_client_opts_parse(&o, argc, argv, "forward", &forward_help, 1,
                                 &first);
  if(rc != CLI_GO_ON)
    return rc;
  if(first != argc)
    return cli_usage_error("forward", "unexpected argument '%s'", argv[first]);
  if(!o.nforwards && !o.socks_addr && !o.http_addr)
    return cli_usage_error("forward", "nothing to do: give -L, --socks or "
                                      "--http-connect");
  if(o.check_config)
    return check(&o);
  svc.grace_ms = o.grace_ms;
  forward_metrics_setup();
  /* Catch SIGTERM before the first "listening" line: a supervisor that
   * stops us as soon as we report ready must get a clean exit. */
  rc = catch_signals();
  if(!rc)
    rc = start(&o);
  if(rc)
    return rc;
  serve(o.max_conns);
  return stop(&o);
}
