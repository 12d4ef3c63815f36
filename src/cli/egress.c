/*
 * egress.c - `beacon egress`: run the relay (docs/OPERATIONS.md "Running the
 * relay"). Every flag is checked before anything starts: exit 2 for bad usage,
 * 3 for missing or invalid files, 1 when the relay cannot start (a busy
 * address).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "cli/egress_reload.h"
#include "cli/options.h"
#include "cli/values.h"
#include "log/log.h"
#include "policy/policy.h"
#include "relay/relay.h"
#include "tls/identity.h"

#define MAX_EGRESS_OPTS 32

static const char usage_text[] =
    "Usage: beacon egress [options]\n"
    "\n"
    "Serve controller tunnels (mutual TLS 1.3 + yamux) and relay each\n"
    "stream to the host:port named by its first line.\n"
    "\n"
    "Options:\n";

static const char footer_text[] =
    "\n"
    "Signals: SIGTERM/SIGINT drain and exit. SIGHUP reads the\n"
    "configuration again (the --config file and the command line)\n"
    "and applies it at once, or nothing of it if it is invalid: the\n"
    "policy, --allow-client, timeouts, limits and --log-level for new\n"
    "streams and tunnels, the certificates, key, CA and CRL for new\n"
    "tunnels; the relay's own addresses are read again. An option that\n"
    "needs a restart keeps its running value with a warning\n"
    "(beacon(1), SIGNALS).\n";

static const char policy_help[] = "deny CIDR[:PORT[-PORT]] (repeatable).\n"
                                  "First, always: loopback, unspecified,\n"
                                  "link-local, metadata, multicast,\n"
                                  "broadcast and the relay's own addresses\n"
                                  "are refused unless an --allow names a\n"
                                  "range inside that class. Then the rules\n"
                                  "apply in order, first match wins, then\n"
                                  "allow.\n"
                                  "RULE 'private' is the ranges that are\n"
                                  "not globally reachable: 10/8,\n"
                                  "172.16/12, 192.168/16, 100.64/10,\n"
                                  "192.0.0/24, 198.18/15, the documentation\n"
                                  "nets, 240/4, fc00::/7, fec0::/10,\n"
                                  "100::/64, 2001:db8::/32, 2001:2::/48.\n"
                                  "NAT64 (64:ff9b::/96, 64:ff9b:1::/48),\n"
                                  "6to4 (2002::/16) and ::a.b.c.d are also\n"
                                  "judged as the IPv4 address they embed";

static const char allow_client_help[] =
    "accept only these controllers: a subject\n"
    "(\"CN=ctl-1,O=fleet\", \"/O=fleet/CN=ctl-1\"\n"
    "or as `openssl x509 -subject` prints it;\n"
    "types case-insensitive, values exact, RDN\n"
    "order free) or a 64-hex SPKI SHA-256 from\n"
    "`beacon pki fingerprint` (repeatable;\n"
    "default: any Fleet CA controller)";

static int parse_allow(void *policy, const char *v, char *why, size_t cap)
{
  return policy_add(policy, 1, v, why, cap) ? -1 : 0;
}

static int parse_deny(void *policy, const char *v, char *why, size_t cap)
{
  return policy_add(policy, 0, v, why, cap) ? -1 : 0;
}

static int parse_allow_client(void *flags, const char *v, char *why,
                              size_t cap)
{
  egress_flags_t *f = flags;
  char canon[TLS_IDENTITY_MAX];
  if(f->nclients == MAX_ALLOW_CLIENTS) {
    snprintf(why, cap, "at most %d entries", MAX_ALLOW_CLIENTS);
    return -1;
  }
  if(tls_identity_parse(v, canon, sizeof(canon), why, cap))
    return -1;
  if(!(f->clients[f->nclients] = strdup(canon))) {
    snprintf(why, cap, "out of memory");
    return CLI_EXIT_FAILURE;
  }
  f->nclients++;
  return 0;
}

/* One whole number 0..max of --max-handshakes; NULL at a bad one. */
static const char *handshake_number(const char *p, uint32_t max, uint32_t *out)
{
  char *end;
  if(*p < '0' || *p > '9')
    return NULL;
  errno = 0;
  unsigned long v = strtoul(p, &end, 10);
  if(errno || v > max)
    return NULL;
  *out = (uint32_t)v;
  return end;
}

/* --max-handshakes FULL or START:RATE:FULL (OpenSSH's MaxStartups): FULL
 * alone refuses at FULL with no random early drop. */
static int parse_max_handshakes(void *cfg, const char *v, char *why,
                                size_t cap)
{
  relay_config_t *c = cfg;
  uint32_t n[3];
  const char *p = v;
  int k = 0;
  for(; k < 3; k++) {
    if(!(p = handshake_number(p, 1u << 20, &n[k])))
      break;
    if(*p != ':')
      break;
    p++;
  }
  if(p && !*p && k == 0 && n[0] >= 1) {
    c->max_handshakes_start = c->max_handshakes = n[0];
    c->max_handshakes_rate = 100;
    return 0;
  }
  if(p && !*p && k == 2 && n[1] <= 100 && n[2] >= 1 && n[0] <= n[2]) {
    c->max_handshakes_start = n[0];
    c->max_handshakes_rate = n[1];
    c->max_handshakes = n[2];
    return 0;
  }
  snprintf(why, cap,
           "want FULL or START:RATE:FULL (START <= FULL, RATE 0-100, "
           "FULL >= 1)");
  return -1;
}

/* The pre-authentication budget; returns how many it wrote. */
static size_t handshake_opts(relay_config_t *c, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){.name = "max-handshakes",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "S:R:F",
                       .parse = parse_max_handshakes,
                       .ctx = c,
                       .help = "TLS handshakes in progress, relay-wide:\n"
                               "from S on, new connections wait in the\n"
                               "listen backlog unless a stale handshake\n"
                               "can go; then one is dropped at random,\n"
                               "R % rising to 100 % at F (the oldest\n"
                               "handshake goes first); the deadline\n"
                               "shrinks to 2 s at F. F alone = no early\n"
                               "drop (default 1024:30:2048)"};
  t[n++] = (cli_opt_t){.name = "max-handshakes-per-source",
                       .kind = CLI_OPT_COUNT,
                       .metavar = "N",
                       .count = &c->max_handshakes_per_source,
                       .min = 1,
                       .max = 1 << 20,
                       .help = "handshakes in progress per IPv4 address\n"
                               "or IPv6 /64 (default 64)"};
  return n;
}

/* The relay's files, addresses and policy; returns how many it wrote. */
static size_t where_opts(relay_config_t *c, egress_flags_t *f, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){
      .name = "config-dir",
      .kind = CLI_OPT_STRING,
      .metavar = "DIR",
      .str = &c->config_dir,
      .help = "relay.crt, relay.key, fleet-ca.crt and an\noptional crl.pem "
              "(default /etc/beacon)"};
  t[n++] =
      (cli_opt_t){.name = "tunnel-addr",
                  .kind = CLI_OPT_STRING,
                  .metavar = "ADDR",
                  .str = &c->tunnel_addr,
                  .check = cli_check_listen_addr,
                  .help = ":PORT (all addresses), HOST:PORT or\n[IPV6]:PORT "
                          "(default :8456)"};
  t[n++] = (cli_opt_t){.name = "workers",
                       .kind = CLI_OPT_COUNT,
                       .metavar = "N",
                       .count = &c->workers,
                       .min = 1,
                       .max = 256,
                       .help = "event loops / threads (default: CPUs)"};
  t[n++] = (cli_opt_t){.name = "allow",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "RULE",
                       .parse = parse_allow,
                       .ctx = f->policy,
                       .help = "allow CIDR[:PORT[-PORT]] (repeatable)"};
  t[n++] = (cli_opt_t){.name = "deny",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "RULE",
                       .parse = parse_deny,
                       .ctx = f->policy,
                       .help = policy_help};
  t[n++] = (cli_opt_t){.name = "allow-client",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "ID",
                       .parse = parse_allow_client,
                       .ctx = f,
                       .help = allow_client_help};
  t[n++] =
      (cli_opt_t){.name = "running-config",
                  .kind = CLI_OPT_STRING,
                  .metavar = "FILE",
                  .str = &c->running_config,
                  .help = "write the options a reload cannot change\nhere, as "
                          "running; --check-config lists\nthose that differ "
                          "(default: none)"};
  return n;
}

/* Deadlines; returns how many it wrote. */
static size_t timeout_opts(relay_config_t *c, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){.name = "dial-timeout",
                       .kind = CLI_OPT_SECONDS,
                       .metavar = "S",
                       .ms = &c->dial_timeout_ms,
                       .min = 1,
                       .help = "connecting to a target (default 15)"};
  t[n++] = (cli_opt_t){.name = "handshake-timeout",
                       .kind = CLI_OPT_SECONDS,
                       .metavar = "S",
                       .ms = &c->handshake_timeout_ms,
                       .min = 1,
                       .help = "TLS handshake (default 10)"};
  t[n++] = (cli_opt_t){.name = "target-timeout",
                       .kind = CLI_OPT_SECONDS,
                       .metavar = "S",
                       .ms = &c->target_timeout_ms,
                       .min = 1,
                       .help = "target line of a new stream (default 10)"};
  t[n++] = (cli_opt_t){.name = "keepalive",
                       .kind = CLI_OPT_SECONDS,
                       .metavar = "S",
                       .ms = &c->keepalive_ms,
                       .help = "ping interval, 0 = off (default 20)"};
  t[n++] = (cli_opt_t){.name = "keepalive-timeout",
                       .kind = CLI_OPT_SECONDS,
                       .metavar = "S",
                       .ms = &c->keepalive_timeout_ms,
                       .min = 1,
                       .help = "ping answer deadline (default 10)"};
  t[n++] = (cli_opt_t){.name = "write-timeout",
                       .kind = CLI_OPT_SECONDS,
                       .metavar = "S",
                       .ms = &c->write_timeout_ms,
                       .min = 1,
                       .help = "stalled tunnel writes (default 10)"};
  t[n++] = (cli_opt_t){.name = "drain-timeout",
                       .kind = CLI_OPT_SECONDS,
                       .metavar = "S",
                       .ms = &c->drain_timeout_ms,
                       .help = "SIGTERM grace for live streams (default 30)"};
  t[n++] = (cli_opt_t){.name = "drain-grace",
                       .kind = CLI_OPT_SECONDS,
                       .metavar = "S",
                       .ms = &c->drain_grace_ms,
                       .help = "streams' grace once a certificate ends\n"
                               "(controller's or relay's; default 30)"};
  return n;
}

/* Limits, metrics, logging and key checks; returns how many it wrote. */
static size_t other_opts(relay_config_t *c, egress_flags_t *f, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){.name = "max-streams",
                       .kind = CLI_OPT_COUNT,
                       .metavar = "N",
                       .count = &c->max_streams,
                       .min = 1,
                       .max = 1 << 20,
                       .help = "streams per tunnel (default 4096)"};
  t[n++] = (cli_opt_t){.name = "max-tunnels",
                       .kind = CLI_OPT_COUNT,
                       .metavar = "N",
                       .count = &c->max_tunnels,
                       .min = 1,
                       .max = 1 << 20,
                       .help = "tunnels per relay (default: derived\nfrom "
                               "--memory-limit and the\ndescriptor limit, "
                               "logged at start)"};
  t[n++] = (cli_opt_t){
      .name = "memory-limit",
      .kind = CLI_OPT_SIZE,
      .metavar = "SIZE",
      .size = &c->memory_limit,
      .help =
          "bytes the relay may be made to hold:\nwindows, queues, TLS "
          "buffers (K, M, G; default a quarter\nof the RAM, at least 64M)"};
  t[n++] = (cli_opt_t){.name = "max-dials-per-tunnel",
                       .kind = CLI_OPT_COUNT,
                       .metavar = "N",
                       .count = &c->max_dials_per_tunnel,
                       .max = 1 << 20,
                       .help = "connects in progress per tunnel, lookups\n"
                               "included; 0 = no cap (default 1024)"};
  t[n++] = (cli_opt_t){
      .name = "window-budget",
      .kind = CLI_OPT_SIZE,
      .metavar = "SIZE",
      .size = &c->window_budget,
      .help = "receive window a tunnel's streams may\ngrow into beyond "
              "256 KiB each, together\n(K, M, G; default 64M; 0 = fixed "
              "256 KiB\nwindows as the Go relay)"};
  t[n++] = (cli_opt_t){.name = "congestion",
                       .kind = CLI_OPT_STRING,
                       .metavar = "NAME",
                       .str = &c->congestion,
                       .check = cli_check_congestion,
                       .help = CLI_CONGESTION_HELP};
  t[n++] = (cli_opt_t){
      .name = "metrics-addr",
      .kind = CLI_OPT_CUSTOM,
      .metavar = "ADDR",
      .parse = cli_value_metrics_addr,
      .ctx = &c->metrics_addr,
      .help = "Prometheus /metrics and /healthz on\nHOST:PORT, "
              "[IPV6]:PORT or :PORT\n(= 127.0.0.1:PORT); default off"};
  t[n++] = (cli_opt_t){.name = "log-level",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "LEVEL",
                       .parse = cli_value_log_level,
                       .ctx = &f->level,
                       .help = "debug, info, warn, error (default info)"};
  t[n++] = (cli_opt_t){.name = "log-format",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "FORMAT",
                       .parse = cli_value_log_format,
                       .ctx = &f->json,
                       .help = "text or json (default text)"};
  t[n++] = (cli_opt_t){
      .name = "allow-group-readable-key",
      .kind = CLI_OPT_FLAG,
      .flag = &c->allow_group_readable_key,
      .help = "accept relay.key with mode 0640 when\nits group is the "
              "relay's (root:beacon);\nby default a key readable by anyone "
              "but\nits owner is refused (exit 3)"};
  return n;
}

/* Fills cfg and f from argv (egress_parse_fn). CLI_GO_ON, or an exit
 * code. */
static int parse_flags(int argc, char **argv, relay_config_t *cfg,
                       egress_flags_t *f, char **text, FILE *err)
{
  cli_opt_t t[MAX_EGRESS_OPTS];
  size_t n = where_opts(cfg, f, t);
  n += timeout_opts(cfg, t + n);
  n += other_opts(cfg, f, t + n);
  n += handshake_opts(cfg, t + n);
  cli_command_t cmd = {.name = "egress",
                       .usage = usage_text,
                       .footer = footer_text,
                       .opts = t,
                       .nopts = n,
                       .help_column = 28,
                       .check_config = &f->check_config,
                       .config_text = text,
                       .err = err};
  int first;
  int rc = cli_options_parse(&cmd, argc, argv, &first);
  if(rc == CLI_GO_ON && first < argc)
    rc = cli_usage_error("egress", "unexpected argument '%s'", argv[first]);
  return rc;
}

/* --check-config: everything relay_new() would refuse, nothing bound. */
static int check(const relay_config_t *cfg)
{
  char err[1024];
  int e = relay_check(cfg, err, sizeof(err));
  if(e) {
    fprintf(stderr, "beacon egress: %s%s\n", err,
            e == BEACON_ECONFIG ? cli_config_dir_hint(cfg->config_dir) : "");
    return e == BEACON_ECONFIG  ? CLI_EXIT_CONFIG
           : e == BEACON_EINVAL ? CLI_EXIT_USAGE
                                : CLI_EXIT_FAILURE;
  }
  printf("beacon egress: configuration OK\n");
  return egress_check_running(cfg, parse_flags);
}

static int run(relay_config_t *cfg, int argc, char **argv)
{
  relay_t *relay = NULL;
  relay_config_source_t source;
  egress_reload_source(&source, parse_flags, argc, argv);
  cfg->source = &source;
  char err[1024];
  int e = relay_new(&relay, cfg, err, sizeof(err));
  if(e) {
    fprintf(stderr, "beacon egress: %s%s\n", err,
            e == BEACON_ECONFIG ? cli_config_dir_hint(cfg->config_dir) : "");
    return e == BEACON_ECONFIG  ? CLI_EXIT_CONFIG
           : e == BEACON_EINVAL ? CLI_EXIT_USAGE
                                : CLI_EXIT_FAILURE;
  }
  int rc = relay_run(relay) ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
  relay_free(relay);
  return rc;
}

int cli_egress_main(int argc, char **argv)
{
  relay_config_t cfg;
  egress_flags_t f = {.policy = policy_new(), .level = LOG_INFO};
  relay_config_default(&cfg);
  if(!f.policy) {
    fprintf(stderr, "beacon egress: out of memory\n");
    return CLI_EXIT_FAILURE;
  }
  int rc = parse_flags(argc, argv, &cfg, &f, NULL, NULL);
  if(rc == CLI_GO_ON) {
    log_setup((log_level_t)f.level, f.json);
    egress_flags_apply(&f, &cfg);
    rc = f.check_config ? check(&cfg) : run(&cfg, argc, argv);
  }
  egress_flags_free(&f);
  return rc;
}
