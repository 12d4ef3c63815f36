/*
 * connect.c - `beacon connect`: stdin/stdout to TARGET through the relay
 * (chain), half-close aware, usable as an OpenSSH ProxyCommand
 * (docs/OPERATIONS.md "The controller side"). One clear line on stderr when it
 * fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "cli/client_opts.h"
#include "client/client_stream.h"
#include "log/log.h"
#include "tls/file_checks.h"

#define BUF_SIZE (64 * 1024)

static const char usage_text[] =
    "Usage: beacon connect --relay HOST:PORT [--relay HOST:PORT]...\n"
    "                      [--config-dir DIR] [--cert F --key F --ca F]\n"
    "                      [--timeout SECONDS] [--window-budget SIZE]\n"
    "                      TARGET\n"
    "\n"
    "Pipes stdin/stdout to TARGET (host:port) through the relay; several\n"
    "--relay flags form a chain, first hop first. Usable as an OpenSSH\n"
    "ProxyCommand: ssh -o ProxyCommand='beacon connect --relay R %h:%p'\n"
    "\n"
    "  --relay HOST:PORT   relay tunnel address (repeat for a chain)\n"
    "  --config-dir DIR    controller.crt, controller.key, fleet-ca.crt\n"
    "                      (default /etc/beacon)\n"
    "  --cert/--key/--ca F override one file of the config dir\n"
    "  --timeout SECONDS   connect, handshake and stream-open timeout\n"
    "                      (default 10)\n"
    "  --window-budget SIZE receive window the tunnel's streams may grow\n"
    "                      into beyond 256 KiB each, together (K, M, G;\n"
    "                      default 64M; 0 = fixed 256 KiB windows)\n"
    "  -h, --help          this text\n";

typedef struct dir_buf {
  uint8_t data[BUF_SIZE];
  size_t off, len;
  int eof;  /* the source ended */
  int done; /* the sink was shut */
} dir_buf_t;

/* Writes what is buffered; blocking fds just block (stdout). */
static int drain(int fd, dir_buf_t *b)
{
  while(b->len) {
    ssize_t n = write(fd, b->data + b->off, b->len);
    if(n < 0) {
      if(errno == EINTR)
        continue;
      if(errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return -errno;
    }
    b->off += (size_t)n;
    b->len -= (size_t)n;
  }
  b->off = 0;
  return 0;
}

static int fill(int fd, dir_buf_t *b)
{
  ssize_t n;
  do
    n = read(fd, b->data, sizeof(b->data));
  while(n < 0 && errno == EINTR);
  if(n < 0)
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  if(n == 0)
    b->eof = 1;
  b->off = 0;
  b->len = (size_t)n;
  return 0;
}

/* up: stdin -> sock, down: sock -> stdout. Returns an exit code. */
static int pump(int sock, const char *target)
{
  static dir_buf_t up, down;
  int fl = fcntl(sock, F_GETFL);
  fcntl(sock, F_SETFL, fl | O_NONBLOCK);
  while(!up.done || !down.done) {
    struct pollfd p[3];
    int np = 0, ii = -1, io = -1, is = -1;
    short sev = 0;
    if(!up.done && !up.eof && !up.len) {
      p[np] = (struct pollfd){.fd = 0, .events = POLLIN};
      ii = np++;
    }
    if(!down.done && down.len) {
      p[np] = (struct pollfd){.fd = 1, .events = POLLOUT};
      io = np++;
    }
    if(!up.done && up.len)
      sev |= POLLOUT;
    if(!down.done && !down.eof && !down.len)
      sev |= POLLIN;
    if(sev) {
      p[np] = (struct pollfd){.fd = sock, .events = sev};
      is = np++;
    }
    if(poll(p, (nfds_t)np, -1) < 0) {
      if(errno == EINTR)
        continue;
      fprintf(stderr, "beacon connect: poll: %s\n", strerror(errno));
      return CLI_EXIT_FAILURE;
    }
    int rc = 0;
    if(ii >= 0 && p[ii].revents)
      rc = fill(0, &up);
    if(!rc && io >= 0 && p[io].revents)
      rc = drain(1, &down);
    if(rc) {
      /* stdin/stdout trouble: the local side went away */
      if(rc == -EPIPE)
        return CLI_EXIT_OK;
      fprintf(stderr, "beacon connect: stdin/stdout: %s\n", strerror(-rc));
      return CLI_EXIT_FAILURE;
    }
    if(is >= 0 && p[is].revents) {
      if(up.len)
        rc = drain(sock, &up);
      if(!rc && !down.eof && !down.len &&
         (p[is].revents & (POLLIN | POLLERR | POLLHUP)))
        rc = fill(sock, &down);
      if(rc) {
        if(rc == -ECONNRESET)
          fprintf(stderr,
                  "beacon connect: %s: connection reset (the relay "
                  "could not reach the target, or the target reset "
                  "it)\n",
                  target);
        else
          fprintf(stderr, "beacon connect: %s: %s\n", target, strerror(-rc));
        return CLI_EXIT_FAILURE;
      }
    }
    if(up.eof && !up.len && !up.done) {
      shutdown(sock, SHUT_WR);
      up.done = 1;
    }
    if(down.eof && !down.len && !down.done) {
      close(1);
      down.done = 1;
    }
    /* The target finished and we cannot send anything more useful: a
     * target that closed both ways makes our writes fail, seen above. */
  }
  return CLI_EXIT_OK;
}

static int dial_failed(const char *target, int code, const beacon_error_t *err)
{
  fprintf(stderr, "beacon connect: %s: %s\n", target, err->message);
  return code == BEACON_EINVAL || code == BEACON_ETOOLONG ? CLI_EXIT_USAGE
                                                          : CLI_EXIT_FAILURE;
}

/* stdin and stdout are sockets or pipes (an OpenSSH ProxyCommand, a
 * shell pipeline): the tunnel's loop pumps them itself, with no
 * loopback pair and no copy through this thread. */
static int pump_in_loop(beacon_tunnel_t *t, const char *target)
{
  beacon_error_t err;
  client_stream_end_t end;
  int code;
  client_fd_stream_t *s = client_dial_fds(t, target, 0, 1, 0, &code, &err);
  if(!s)
    return dial_failed(target, code, &err);
  /* The loop holds its own copies: closing ours lets its close of
   * stdout be the reader's EOF. */
  close(0);
  close(1);
  client_stream_wait(t, s, -1, &end);
  switch(end.code) {
  case 0:
    return CLI_EXIT_OK;
  case BEACON_ERESET:
    fprintf(stderr,
            "beacon connect: %s: connection reset (the relay could not "
            "reach the target, or the target reset it)\n",
            target);
    return CLI_EXIT_FAILURE;
  case BEACON_ECLOSED:
    fprintf(stderr, "beacon connect: %s: the tunnel to the relay was lost\n",
            target);
    return CLI_EXIT_FAILURE;
  default:
    /* stdin/stdout went away (the reader exited): as with EPIPE. */
    return CLI_EXIT_OK;
  }
}

int cli_connect_main(int argc, char **argv)
{
  cli_client_opts_t o;
  int rc = cli_client_opts_parse(&o, argc, argv, "connect", usage_text, 0);
  if(rc != CLI_GO_ON)
    return rc;
  if(optind != argc - 1) {
    fprintf(stderr, "beacon connect: expected one TARGET (host:port)\n%s",
            usage_text);
    cli_client_opts_free(&o);
    return CLI_EXIT_USAGE;
  }
  const char *target = argv[optind];
  signal(SIGPIPE, SIG_IGN);
  beacon_tunnel_t *t;
  rc = cli_client_tunnel(&o, &t, "connect");
  cli_client_opts_free(&o);
  if(rc)
    return rc;
  beacon_error_t err;
  if(client_stream_fd_ok(0) && client_stream_fd_ok(1)) {
    rc = pump_in_loop(t, target);
    beacon_tunnel_free(t);
    return rc;
  }
  int fd = beacon_dial(t, target, 0, &err);
  if(fd < 0) {
    fprintf(stderr, "beacon connect: %s: %s\n", target, err.message);
    beacon_tunnel_free(t);
    return fd == BEACON_EINVAL || fd == BEACON_ETOOLONG ? CLI_EXIT_USAGE
                                                        : CLI_EXIT_FAILURE;
  }
  rc = pump(fd, target);
  close(fd);
  beacon_tunnel_free(t);
  return rc;
}

/* ---- options shared with `beacon forward` (cli/client_opts.h) ------- */

enum {
  OPT_RELAY = 256,
  OPT_CONFIG_DIR,
  OPT_CERT,
  OPT_KEY,
  OPT_CA,
  OPT_TIMEOUT,
  OPT_SOCKS,
  OPT_HTTP,
  OPT_LOG_LEVEL,
  OPT_LOG_FORMAT,
  OPT_GRACE,
  OPT_MAX_CONNS,
  OPT_DRAIN,
  OPT_METRICS,
  OPT_WINDOW_BUDGET,
  OPT_HELP
};

static const struct option long_opts[] = {
    {"relay", required_argument, NULL, OPT_RELAY},
    {"config-dir", required_argument, NULL, OPT_CONFIG_DIR},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"ca", required_argument, NULL, OPT_CA},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"socks", required_argument, NULL, OPT_SOCKS},
    {"http-connect", required_argument, NULL, OPT_HTTP},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"connect-grace", required_argument, NULL, OPT_GRACE},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN},
    {"metrics-addr", required_argument, NULL, OPT_METRICS},
    {"window-budget", required_argument, NULL, OPT_WINDOW_BUDGET},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void cli_client_opts_free(cli_client_opts_t *o)
{
  (void)o; /* every string points into argv */
}

static int bad(const char *cmd, const char *usage, const char *fmt,
               const char *arg)
{
  fprintf(stderr, "beacon %s: ", cmd);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage);
  return CLI_EXIT_USAGE;
}

int cli_client_opts_parse(cli_client_opts_t *o, int argc, char **argv,
                          const char *cmd, const char *usage, int forward)
{
  int level = LOG_INFO, json = 0;
  memset(o, 0, sizeof(*o));
  o->config_dir = "/etc/beacon";
  o->timeout_ms = 10000;
  o->window_budget = -1;
  o->grace_ms = 250;
  o->max_conns = 1024;
  o->drain_ms = 30000;
  optind = 1;
  opterr = 0;
  for(;;) {
    int c = getopt_long(argc, argv, forward ? "+L:h" : "+h", long_opts, NULL);
    if(c == -1)
      break;
    const char *a = optarg;
    int fwd_only = c == 'L' || c == OPT_SOCKS || c == OPT_HTTP ||
                   c == OPT_LOG_LEVEL || c == OPT_LOG_FORMAT ||
                   c == OPT_GRACE || c == OPT_MAX_CONNS || c == OPT_DRAIN ||
                   c == OPT_METRICS;
    if(fwd_only && !forward)
      c = '?';
    switch(c) {
    case OPT_RELAY:
      if(o->nrelays == CLI_MAX_RELAYS)
        return bad(cmd, usage, "at most 8 --relay hops (got '%s')", a);
      o->relays[o->nrelays++] = a;
      break;
    case OPT_CONFIG_DIR:
      o->config_dir = a;
      break;
    case OPT_CERT:
      o->cert = a;
      break;
    case OPT_KEY:
      o->key = a;
      break;
    case OPT_CA:
      o->ca = a;
      break;
    case OPT_TIMEOUT:
      o->timeout_ms = cli_parse_seconds(a);
      if(o->timeout_ms <= 0)
        return bad(cmd, usage, "--timeout: bad number of seconds '%s'", a);
      break;
    case OPT_WINDOW_BUDGET:
      o->window_budget = cli_parse_size(a);
      if(o->window_budget < 0)
        return bad(cmd, usage, "--window-budget: bad size '%s'", a);
      break;
    case 'L':
      if(o->nforwards == CLI_MAX_FORWARDS)
        return bad(cmd, usage, "too many -L forwards (at '%s')", a);
      o->forwards[o->nforwards++] = a;
      break;
    case OPT_SOCKS:
      o->socks_addr = a;
      break;
    case OPT_HTTP:
      o->http_addr = a;
      break;
    case OPT_LOG_LEVEL:
      level = log_level_parse(a);
      if(level < 0)
        return bad(cmd, usage, "--log-level: unknown level '%s'", a);
      break;
    case OPT_LOG_FORMAT:
      json = log_format_parse(a);
      if(json < 0)
        return bad(cmd, usage, "--log-format: unknown format '%s'", a);
      break;
    case OPT_GRACE:
      o->grace_ms = cli_parse_seconds(a);
      if(o->grace_ms < 0)
        return bad(cmd, usage, "--connect-grace: bad seconds '%s'", a);
      break;
    case OPT_MAX_CONNS:
      o->max_conns = strtol(a, NULL, 10);
      if(o->max_conns <= 0 || o->max_conns > 100000)
        return bad(cmd, usage, "--max-conns: bad count '%s'", a);
      break;
    case OPT_DRAIN:
      o->drain_ms = cli_parse_seconds(a);
      if(o->drain_ms < 0)
        return bad(cmd, usage, "--drain-timeout: bad seconds '%s'", a);
      break;
    case OPT_METRICS:
      o->metrics_addr = a;
      break;
    case 'h':
    case OPT_HELP:
      fputs(usage, stdout);
      return CLI_EXIT_OK;
    default:
      return bad(cmd, usage, "unknown or incomplete option '%s'",
                 argv[optind - 1]);
    }
  }
  if(!o->nrelays)
    return bad(cmd, usage, "%s", "at least one --relay HOST:PORT is needed");
  log_setup((log_level_t)level, json);
  return CLI_GO_ON;
}

int cli_client_tunnel(const cli_client_opts_t *o, beacon_tunnel_t **out,
                      const char *cmd)
{
  beacon_config_t *cfg = beacon_config_new();
  beacon_error_t err;
  char path[3][4096];
  int rc;
  if(!cfg) {
    fprintf(stderr, "beacon %s: out of memory\n", cmd);
    return CLI_EXIT_FAILURE;
  }
  for(int i = 0; i < o->nrelays; i++) {
    if(beacon_config_add_relay(cfg, o->relays[i])) {
      fprintf(stderr, "beacon %s: --relay '%s': expected HOST:PORT\n", cmd,
              o->relays[i]);
      beacon_config_free(cfg);
      return CLI_EXIT_USAGE;
    }
  }
  snprintf(path[0], sizeof(path[0]), "%s/controller.crt", o->config_dir);
  snprintf(path[1], sizeof(path[1]), "%s/controller.key", o->config_dir);
  snprintf(path[2], sizeof(path[2]), "%s/fleet-ca.crt", o->config_dir);
  beacon_config_set_identity(cfg, o->cert ? o->cert : path[0],
                             o->key ? o->key : path[1],
                             o->ca ? o->ca : path[2]);
  char warn[512]; /* as OpenSSH would, but a warning: the key is ours */
  if(tls_key_file_check(o->key ? o->key : path[1], 0, warn, sizeof(warn)))
    fprintf(stderr, "beacon %s: warning: %s\n", cmd, warn);
  beacon_config_set_timeouts(cfg, (int)o->timeout_ms, (int)o->timeout_ms,
                             (int)o->timeout_ms);
  if(o->window_budget >= 0)
    beacon_config_set_window_budget(cfg, (size_t)o->window_budget);
  rc = beacon_tunnel_new(out, cfg, &err);
  beacon_config_free(cfg);
  if(rc) {
    fprintf(stderr, "beacon %s: %s\n", cmd, err.message);
    return rc == BEACON_ECONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
  }
  return 0;
}
