/*
 * client_opts.c - the option table of `beacon connect` and `beacon
 * forward` (cli/client_opts.h), and the tunnel their flags describe.
 */
#include "cli/client_opts.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/values.h"
#include "client/client_pool.h"
#include "log/log.h"
#include "tls/config_check.h"
#include "tls/file_checks.h"
#include "tls/pin.h"
#include "tls/tls.h"

#define MAX_CLIENT_OPTS 26

static void defaults(cli_client_opts_t *o)
{
  memset(o, 0, sizeof(*o));
  o->config_dir = CLI_DEFAULT_CONFIG_DIR;
  o->timeout_ms = 10000;
  o->window_budget = SIZE_MAX;
  o->grace_ms = 250;
  o->max_conns = 1024;
  o->drain_ms = 30000;
}

static int check_spki(const char *v, char *why, size_t cap)
{
  char hex[65];
  if(!tls_pin_parse(v, hex))
    return 0;
  snprintf(why, cap,
           "expected the relay key's SHA-256: 64 hex digits "
           "(beacon pki fingerprint relay.crt)");
  return -1;
}

/* --crl and --relay-spki: which relays the controller still trusts. */
static size_t relay_trust_opts(cli_client_opts_t *o, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){.name = "crl",
                       .kind = CLI_OPT_STRING,
                       .metavar = "F",
                       .str = &o->crl,
                       .help = "revoked relay certificates (PEM CRL of\n"
                               "the fleet CA; reread when it changes)"};
  t[n++] = (cli_opt_t){.name = "relay-spki",
                       .kind = CLI_OPT_REPEATED,
                       .metavar = "HEX",
                       .list = o->relay_spki,
                       .n = &o->nrelay_spki,
                       .max = TLS_PINS_MAX,
                       .check = check_spki,
                       .help = "accept only relays with this key: the\n"
                               "SHA-256 of its SubjectPublicKeyInfo\n"
                               "(beacon pki fingerprint; repeat for\n"
                               "each key)"};
  return n;
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
              "alternatives (repeat for a\nchain, first hop first); "
              "srv:NAME\ntakes the first hop's pool from DNS SRV"};
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
  n += relay_trust_opts(o, t + n);
  t[n++] = (cli_opt_t){.name = "congestion",
                       .kind = CLI_OPT_STRING,
                       .metavar = "NAME",
                       .str = &o->congestion,
                       .check = cli_check_congestion,
                       .help = CLI_CONGESTION_HELP};
  return n;
}

/* forward's front ends and their limits; returns how many it wrote. */
static size_t front_opts(cli_client_opts_t *o, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){.name = "local-forward",
                       .short_name = 'L',
                       .kind = CLI_OPT_REPEATED,
                       .metavar = "[BIND:]PORT:HOST:PORT",
                       .list = o->forwards,
                       .n = &o->nforwards,
                       .max = CLI_MAX_FORWARDS,
                       .check = cli_check_forward_spec,
                       .label = "-L [BIND:]PORT:HOST:PORT",
                       .help = "forward a local port to HOST:PORT\n"
                               "(also --local-forward)"};
  t[n++] = (cli_opt_t){
      .name = "socks",
      .kind = CLI_OPT_STRING,
      .metavar = "ADDR",
      .str = &o->socks_addr,
      .check = cli_check_front_addr,
      .help = "SOCKS5 (no auth, CONNECT; names are\nresolved by the relay)"};
  t[n++] = (cli_opt_t){
      .name = "http-connect",
      .kind = CLI_OPT_STRING,
      .metavar = "ADDR",
      .str = &o->http_addr,
      .check = cli_check_front_addr,
      .help = "HTTP/1.1 proxy: CONNECT, and plain\nhttp:// URLs (forwarded)"};
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
                     .help_column = 28,
                     .check_config = &o->check_config};
  int rc = cli_options_parse(&c, argc, argv, first_operand);
  if(rc != CLI_GO_ON)
    return rc;
  if(!o->nrelays)
    return cli_usage_error(cmd, "at least one --relay HOST:PORT is needed");
  log_setup((log_level_t)level, json);
  return CLI_GO_ON;
}

/* libbeacon's warnings about our own files: a log line for forward (a
 * service with --log-format), a "warning:" line for connect. */
static void library_warning(int level, const char *event, const char *message,
                            void *ud)
{
  const char *cmd = ud;
  (void)level;
  if(!strcmp(cmd, "forward"))
    log_msg(LOG_WARN, event, "%s", message);
  else
    fprintf(stderr, "beacon %s: warning: %s\n", cmd, message);
}

const char *cli_client_cert_path(const cli_client_opts_t *o, char *buf,
                                 size_t cap)
{
  if(o->cert)
    return o->cert;
  snprintf(buf, cap, "%s/controller.crt", o->config_dir);
  return buf;
}

/* The tunnel's configuration from the flags, the identity files in
 * paths; 0, or an exit code after one line. */
static int client_config(const cli_client_opts_t *o, beacon_config_t **out,
                         char path[3][4096], const char *cmd)
{
  beacon_config_t *cfg = beacon_config_new();
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
  const char *given[3] = {o->cert, o->key, o->ca};
  static const char *const names[3] = {"controller.crt", "controller.key",
                                       "fleet-ca.crt"};
  for(int i = 0; i < 3; i++)
    if(given[i])
      snprintf(path[i], 4096, "%s", given[i]);
    else
      snprintf(path[i], 4096, "%s/%s", o->config_dir, names[i]);
  beacon_config_set_identity(cfg, path[0], path[1], path[2]);
  /* the values were checked as they were parsed */
  if(beacon_config_set_crl(cfg, o->crl)) {
    fprintf(stderr, "beacon %s: out of memory\n", cmd);
    beacon_config_free(cfg);
    return CLI_EXIT_FAILURE;
  }
  for(int i = 0; i < o->nrelay_spki; i++)
    (void)beacon_config_add_relay_spki(cfg, o->relay_spki[i]);
  /* The library checks the key's mode and the certificate's expiry. */
  beacon_config_set_log(cfg, library_warning, (void *)cmd);
  *out = cfg;
  return 0;
}

/* --check-config's warnings (tls/config_check.h). */
static void check_warning(const char *file, int64_t end, const char *msg,
                          void *cmd)
{
  (void)file;
  (void)end;
  fprintf(stderr, "beacon %s: warning: %s\n", (const char *)cmd, msg);
}

int cli_client_check(const cli_client_opts_t *o, const char *cmd)
{
  beacon_config_t *cfg;
  char path[3][4096], err[512];
  tls_ctx_t *ctx;
  int rc = client_config(o, &cfg, path, cmd);
  if(rc)
    return rc;
  beacon_config_free(cfg);
  char warn[512]; /* what the library would warn about at start */
  if(tls_key_file_check(path[1], 0, warn, sizeof(warn)))
    fprintf(stderr, "beacon %s: warning: %s\n", cmd, warn);
  rc = tls_ctx_new(&ctx, TLS_CLIENT, path[0], path[1], path[2], o->crl, err,
                   sizeof(err));
  if(!rc &&
     (rc = tls_config_check(TLS_CLIENT, path[0], path[2], NULL, time(NULL),
                            check_warning, (void *)cmd, err, sizeof(err))))
    tls_ctx_unref(ctx);
  if(rc) {
    fprintf(stderr, "beacon %s: %s%s\n", cmd, err,
            rc == BEACON_ECONFIG ? cli_config_dir_hint(o->config_dir) : "");
    return rc == BEACON_ECONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
  }
  tls_ctx_unref(ctx);
  return 0;
}

int cli_client_tunnel(const cli_client_opts_t *o, beacon_tunnel_t **out,
                      const char *cmd)
{
  beacon_config_t *cfg;
  beacon_error_t err;
  char path[3][4096];
  int rc = client_config(o, &cfg, path, cmd);
  if(rc)
    return rc;
  beacon_config_set_timeouts(cfg, (int)o->timeout_ms, (int)o->timeout_ms,
                             (int)o->timeout_ms);
  /* connect is one-shot: only forward keeps the pool warm and logs it */
  client_config_set_pool(cfg, (int)o->pool_size, !strcmp(cmd, "forward"));
  if(o->window_budget != SIZE_MAX)
    beacon_config_set_window_budget(cfg, o->window_budget);
  if(o->congestion && beacon_config_set_congestion(cfg, o->congestion)) {
    /* the option's check passed, so the kernel changed since */
    fprintf(stderr, "beacon %s: cannot use --congestion %s\n", cmd,
            o->congestion);
    beacon_config_free(cfg);
    return CLI_EXIT_CONFIG;
  }
  rc = beacon_tunnel_new(out, cfg, &err);
  beacon_config_free(cfg);
  if(rc) {
    fprintf(stderr, "beacon %s: %s%s\n", cmd, err.message,
            rc == BEACON_ECONFIG ? cli_config_dir_hint(o->config_dir) : "");
    return rc == BEACON_ECONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
  }
  return 0;
}
