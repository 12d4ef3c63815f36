/*
 * client_opts.c - the option table of `beacon connect` and `beacon
 * forward` (cli/client_opts.h), and the tunnel their flags describe.
 */
#include "cli/client_opts.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/values.h"
#include "client/members.h"
#include "log/log.h"
#include "tls/file_checks.h"

#define MAX_CLIENT_OPTS 21

static void defaults(cli_client_opts_t *o)
{
  memset(o, 0, sizeof(*o));
  o->config_dir = "/etc/beacon";
  o->timeout_ms = 10000;
  o->window_budget = SIZE_MAX;
  o->grace_ms = 250;
  o->max_conns = 1024;
  o->drain_ms = 30000;
}

/* The flags both commands take; returns how many it wrote. */
static size_t shared_opts(cli_client_opts_t *o, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){
      .name = "relay",
      .kind = CLI_OPT_REPEATED,
      .metavar = "HOST:PORT[,...]",
      .list = o->relays,
      .n = &o->nrelays,
      .max = CLI_MAX_RELAYS,
      .help = "relay tunnel address; a comma list is a\npool of "
              "alternatives (repeat for a\nchain, first hop first)"};
  t[n++] = (cli_opt_t){.name = "config-dir",
                       .kind = CLI_OPT_STRING,
                       .metavar = "DIR",
                       .str = &o->config_dir,
                       .help = "controller.crt, controller.key,\nfleet-ca.crt "
                               "(default /etc/beacon)"};
  t[n++] = (cli_opt_t){.name = "cert",
                       .kind = CLI_OPT_STRING,
                       .metavar = "F",
                       .str = &o->cert,
                       .label = "--cert/--key/--ca F",
                       .help = "override one file of the config dir"};
  t[n++] = (cli_opt_t){
      .name = "key", .kind = CLI_OPT_STRING, .metavar = "F", .str = &o->key};
  t[n++] = (cli_opt_t){
      .name = "ca", .kind = CLI_OPT_STRING, .metavar = "F", .str = &o->ca};
  t[n++] = (cli_opt_t){
      .name = "timeout",
      .kind = CLI_OPT_SECONDS,
      .metavar = "SECONDS",
      .ms = &o->timeout_ms,
      .min = 1,
      .help = "connect, handshake and stream-open\ntimeout (default 10)"};
  t[n++] = (cli_opt_t){
      .name = "window-budget",
      .kind = CLI_OPT_SIZE,
      .metavar = "SIZE",
      .size = &o->window_budget,
      .help = "receive window the tunnel's streams may\ngrow into beyond "
              "256 KiB each, together\n(K, M, G; default 64M; 0 = fixed "
              "256 KiB\nwindows)"};
  return n;
}

/* forward's front ends and their limits; returns how many it wrote. */
static size_t front_opts(cli_client_opts_t *o, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){.short_name = 'L',
                       .kind = CLI_OPT_REPEATED,
                       .metavar = "[BIND:]PORT:HOST:PORT",
                       .list = o->forwards,
                       .n = &o->nforwards,
                       .max = CLI_MAX_FORWARDS,
                       .help = "forward a local port to HOST:PORT"};
  t[n++] = (cli_opt_t){
      .name = "socks",
      .kind = CLI_OPT_STRING,
      .metavar = "ADDR",
      .str = &o->socks_addr,
      .help = "SOCKS5 (no auth, CONNECT; names are\nresolved by the relay)"};
  t[n++] = (cli_opt_t){.name = "http-connect",
                       .kind = CLI_OPT_STRING,
                       .metavar = "ADDR",
                       .str = &o->http_addr,
                       .help = "HTTP/1.1 CONNECT proxy"};
  t[n++] = (cli_opt_t){
      .name = "connect-grace",
      .kind = CLI_OPT_SECONDS,
      .metavar = "SECONDS",
      .ms = &o->grace_ms,
      .help = "behind a Go relay, wait this long for\na refusal before "
              "answering success\n(default 0.25; a beacon relay says)"};
  t[n++] = (cli_opt_t){.name = "max-conns",
                       .kind = CLI_OPT_COUNT,
                       .metavar = "N",
                       .count = &o->max_conns,
                       .min = 1,
                       .max = 100000,
                       .help = "concurrent connections (default 1024)"};
  t[n++] = (cli_opt_t){.name = "pool-size",
                       .kind = CLI_OPT_COUNT,
                       .metavar = "N",
                       .count = &o->pool_size,
                       .min = 1,
                       .max = 16,
                       .help = "first-hop pool members kept connected\n"
                               "(default all, at most 16)"};
  return n;
}

/* forward's drain, metrics and logging flags; returns how many it
 * wrote. */
static size_t service_opts(cli_client_opts_t *o, int *level, int *json,
                           cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){
      .name = "drain-timeout",
      .kind = CLI_OPT_SECONDS,
      .metavar = "SECONDS",
      .ms = &o->drain_ms,
      .help = "on SIGTERM/SIGINT, let live connections\nfinish for this "
              "long (default 30)"};
  t[n++] = (cli_opt_t){
      .name = "metrics-addr",
      .kind = CLI_OPT_CUSTOM,
      .metavar = "ADDR",
      .parse = cli_value_metrics_addr,
      .ctx = &o->metrics_addr,
      .help = "Prometheus /metrics and /healthz (off by\ndefault; a bare "
              "PORT or :PORT binds to\n127.0.0.1)"};
  t[n++] = (cli_opt_t){.name = "log-level",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "LEVEL",
                       .parse = cli_value_log_level,
                       .ctx = level,
                       .help = "debug, info, warn, error (default info)"};
  t[n++] = (cli_opt_t){.name = "log-format",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "FORMAT",
                       .parse = cli_value_log_format,
                       .ctx = json,
                       .help = "text or json (default text)"};
  return n;
}

int cli_client_opts_parse(cli_client_opts_t *o, int argc, char **argv,
                          const char *cmd, const cli_client_help_t *help,
                          int forward, int *first_operand)
{
  cli_opt_t t[MAX_CLIENT_OPTS];
  int level = LOG_INFO, json = 0;
  defaults(o);
  size_t n = shared_opts(o, t);
  if(forward) {
    n += front_opts(o, t + n);
    n += service_opts(o, &level, &json, t + n);
  }
  cli_command_t c = {.name = cmd,
                     .usage = help->usage,
                     .footer = help->footer,
                     .opts = t,
                     .nopts = n,
                     .in_order = 1,
                     .help_column = 28};
  int rc = cli_options_parse(&c, argc, argv, first_operand);
  if(rc != CLI_GO_ON)
    return rc;
  if(!o->nrelays)
    return cli_usage_error(cmd, "at least one --relay HOST:PORT is needed");
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
      fprintf(stderr,
              "beacon %s: --relay '%s': expected HOST:PORT or a list "
              "HOST:PORT,HOST:PORT,... (at most 16)\n",
              cmd, o->relays[i]);
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
  /* connect is one-shot: only forward keeps the pool warm and logs it */
  client_config_set_pool(cfg, (int)o->pool_size, !strcmp(cmd, "forward"));
  if(o->window_budget != SIZE_MAX)
    beacon_config_set_window_budget(cfg, o->window_budget);
  rc = beacon_tunnel_new(out, cfg, &err);
  beacon_config_free(cfg);
  if(rc) {
    fprintf(stderr, "beacon %s: %s\n", cmd, err.message);
    return rc == BEACON_ECONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
  }
  return 0;
}
