/*
 * egress.c - `beacon egress`: run the relay (docs/OPERATIONS.md "Running the
 * relay"). Every flag is checked before anything starts: exit 2 for bad usage,
 * 3 for missing or invalid files, 1 when the relay cannot start (a busy
 * address).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "log/log.h"
#include "metrics/http.h"
#include "policy/policy.h"
#include "relay/relay.h"
#include "tls/identity.h"

#define MAX_ALLOW_CLIENTS 256

static void usage(FILE *f)
{
  fprintf(
      f,
      "Usage: beacon egress [options]\n"
      "\n"
      "Serve controller tunnels (mutual TLS 1.3 + yamux) and relay each\n"
      "stream to the host:port named by its first line.\n"
      "\n"
      "Options:\n"
      "  --config-dir DIR          relay.crt, relay.key, fleet-ca.crt and an\n"
      "                            optional crl.pem (default /etc/beacon)\n"
      "  --tunnel-addr ADDR        :PORT (all addresses), HOST:PORT or\n"
      "                            [IPV6]:PORT (default :8456)\n"
      "  --workers N               event loops / threads (default: CPUs)\n"
      "  --allow RULE              allow CIDR[:PORT[-PORT]] (repeatable)\n"
      "  --deny RULE               deny CIDR[:PORT[-PORT]] (repeatable);\n"
      "                            rules apply in order, first match wins,\n"
      "                            then the default refuses loopback,\n"
      "                            link-local, unspecified and multicast.\n"
      "                            RULE 'private' is the ranges that are\n"
      "                            not globally reachable: 10/8,\n"
      "                            172.16/12, 192.168/16, 100.64/10,\n"
      "                            192.0.0/24, 198.18/15, the documentation\n"
      "                            nets, 240/4, fc00::/7, fec0::/10,\n"
      "                            100::/64, 2001:db8::/32, 2001:2::/48.\n"
      "                            NAT64 (64:ff9b::/96, 64:ff9b:1::/48),\n"
      "                            6to4 (2002::/16) and ::a.b.c.d are also\n"
      "                            judged as the IPv4 address they embed\n"
      "  --allow-client ID         accept only these controllers: a subject\n"
      "                            (\"CN=ctl-1,O=fleet\", "
      "\"/O=fleet/CN=ctl-1\"\n"
      "                            or as `openssl x509 -subject` prints it;\n"
      "                            types case-insensitive, values exact, RDN\n"
      "                            order free) or a 64-hex SPKI SHA-256 from\n"
      "                            `beacon pki fingerprint` (repeatable;\n"
      "                            default: any Fleet CA controller)\n"
      "  --dial-timeout S          connecting to a target (default 15)\n"
      "  --handshake-timeout S     TLS handshake (default 10)\n"
      "  --target-timeout S        target line of a new stream (default 10)\n"
      "  --keepalive S             ping interval, 0 = off (default 20)\n"
      "  --keepalive-timeout S     ping answer deadline (default 10)\n"
      "  --write-timeout S         stalled tunnel writes (default 10)\n"
      "  --drain-timeout S         SIGTERM grace for live streams (default "
      "30)\n"
      "  --max-streams N           streams per tunnel (default 4096)\n"
      "  --max-tunnels N           tunnels per relay (default 1024)\n"
      "  --window-budget SIZE      receive window a tunnel's streams may\n"
      "                            grow into beyond 256 KiB each, together\n"
      "                            (K, M, G; default 64M; 0 = fixed 256 KiB\n"
      "                            windows as the Go relay)\n"
      "  --metrics-addr ADDR       Prometheus /metrics and /healthz on\n"
      "                            HOST:PORT, [IPV6]:PORT or :PORT\n"
      "                            (= 127.0.0.1:PORT); default off\n"
      "  --log-level LEVEL         debug, info, warn, error (default info)\n"
      "  --log-format FORMAT       text or json (default text)\n"
      "  --allow-group-readable-key  accept relay.key with mode 0640 when\n"
      "                            its group is the relay's (root:beacon);\n"
      "                            by default a key readable by anyone but\n"
      "                            its owner is refused (exit 3)\n"
      "  --help                    this text\n"
      "\n"
      "Signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads the\n"
      "certificates, key, CA and CRL for new tunnels.\n");
}

enum {
  OPT_CONFIG_DIR = 256,
  OPT_TUNNEL_ADDR,
  OPT_WORKERS,
  OPT_ALLOW,
  OPT_DENY,
  OPT_ALLOW_CLIENT,
  OPT_DIAL_TIMEOUT,
  OPT_HS_TIMEOUT,
  OPT_TARGET_TIMEOUT,
  OPT_KEEPALIVE,
  OPT_KEEPALIVE_TIMEOUT,
  OPT_WRITE_TIMEOUT,
  OPT_DRAIN_TIMEOUT,
  OPT_MAX_STREAMS,
  OPT_MAX_TUNNELS,
  OPT_WINDOW_BUDGET,
  OPT_METRICS_ADDR,
  OPT_LOG_LEVEL,
  OPT_LOG_FORMAT,
  OPT_GROUP_KEY,
  OPT_HELP
};

static const struct option options[] = {
    {"config-dir", required_argument, NULL, OPT_CONFIG_DIR},
    {"tunnel-addr", required_argument, NULL, OPT_TUNNEL_ADDR},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"deny", required_argument, NULL, OPT_DENY},
    {"allow-client", required_argument, NULL, OPT_ALLOW_CLIENT},
    {"dial-timeout", required_argument, NULL, OPT_DIAL_TIMEOUT},
    {"handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT},
    {"target-timeout", required_argument, NULL, OPT_TARGET_TIMEOUT},
    {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
    {"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT},
    {"write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
    {"max-tunnels", required_argument, NULL, OPT_MAX_TUNNELS},
    {"window-budget", required_argument, NULL, OPT_WINDOW_BUDGET},
    {"metrics-addr", required_argument, NULL, OPT_METRICS_ADDR},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"allow-group-readable-key", no_argument, NULL, OPT_GROUP_KEY},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

static int bad(const char *fmt, const char *a, const char *b)
{
  fprintf(stderr, "beacon egress: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\nRun 'beacon egress --help' for usage.\n");
  return CLI_EXIT_USAGE;
}

/* Seconds flag into ms; zero_ok for "0 = off". */
static int seconds(const char *flag, const char *v, int zero_ok, uint64_t *out)
{
  long ms = cli_parse_seconds(v);
  if(ms < 0 || (!zero_ok && ms == 0))
    return bad("--%s '%s': expected a number of seconds > 0", flag, v);
  *out = (uint64_t)ms;
  return 0;
}

static int count(const char *flag, const char *v, unsigned long max,
                 uint32_t *out)
{
  char *end;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if(errno || end == v || *end || v[0] == '-' || n == 0 || n > max) {
    char lim[32];
    snprintf(lim, sizeof(lim), "1..%lu", max);
    fprintf(stderr, "beacon egress: --%s '%s': expected a count %s\n", flag, v,
            lim);
    return CLI_EXIT_USAGE;
  }
  *out = (uint32_t)n;
  return 0;
}

int cli_egress_main(int argc, char **argv)
{
  relay_config_t cfg;
  relay_config_default(&cfg);
  policy_t *policy = policy_new();
  /* canonical forms (tls/identity.h), compared with each peer's */
  const char *clients[MAX_ALLOW_CLIENTS];
  char *client_ids[MAX_ALLOW_CLIENTS];
  size_t nclients = 0;
  int level = LOG_INFO, json = 0;
  int rc = CLI_EXIT_USAGE;
  uint32_t n32;
  if(!policy) {
    fprintf(stderr, "beacon egress: out of memory\n");
    return CLI_EXIT_FAILURE;
  }
  opterr = 0;
  optind = 1;
  for(;;) {
    int opt = getopt_long(argc, argv, "h", options, NULL);
    if(opt == -1)
      break;
    char err[256];
    int r = 0;
    switch(opt) {
    case OPT_CONFIG_DIR:
      cfg.config_dir = optarg;
      break;
    case OPT_TUNNEL_ADDR:
      cfg.tunnel_addr = optarg;
      break;
    case OPT_WORKERS:
      r = count("workers", optarg, 256, &n32);
      cfg.workers = n32;
      break;
    case OPT_ALLOW:
    case OPT_DENY:
      if(policy_add(policy, opt == OPT_ALLOW, optarg, err, sizeof(err))) {
        fprintf(stderr, "beacon egress: --%s '%s': %s\n",
                opt == OPT_ALLOW ? "allow" : "deny", optarg, err);
        r = CLI_EXIT_USAGE;
      }
      break;
    case OPT_ALLOW_CLIENT: {
      char canon[TLS_IDENTITY_MAX];
      if(nclients == MAX_ALLOW_CLIENTS)
        r = bad("--allow-client: at most %s entries%s", "256", "");
      else if(tls_identity_parse(optarg, canon, sizeof(canon), err,
                                 sizeof(err)))
        r = bad("--allow-client '%s': %s", optarg, err);
      else if(!(client_ids[nclients] = strdup(canon))) {
        fprintf(stderr, "beacon egress: out of memory\n");
        r = CLI_EXIT_FAILURE;
      } else {
        clients[nclients] = client_ids[nclients];
        nclients++;
      }
      break;
    }
    case OPT_DIAL_TIMEOUT:
      r = seconds("dial-timeout", optarg, 0, &cfg.dial_timeout_ms);
      break;
    case OPT_HS_TIMEOUT:
      r = seconds("handshake-timeout", optarg, 0, &cfg.handshake_timeout_ms);
      break;
    case OPT_TARGET_TIMEOUT:
      r = seconds("target-timeout", optarg, 0, &cfg.target_timeout_ms);
      break;
    case OPT_KEEPALIVE:
      r = seconds("keepalive", optarg, 1, &cfg.keepalive_ms);
      break;
    case OPT_KEEPALIVE_TIMEOUT:
      r = seconds("keepalive-timeout", optarg, 0, &cfg.keepalive_timeout_ms);
      break;
    case OPT_WRITE_TIMEOUT:
      r = seconds("write-timeout", optarg, 0, &cfg.write_timeout_ms);
      break;
    case OPT_DRAIN_TIMEOUT:
      r = seconds("drain-timeout", optarg, 1, &cfg.drain_timeout_ms);
      break;
    case OPT_MAX_STREAMS:
      r = count("max-streams", optarg, 1u << 20, &cfg.max_streams);
      break;
    case OPT_MAX_TUNNELS:
      r = count("max-tunnels", optarg, 1u << 20, &cfg.max_tunnels);
      break;
    case OPT_WINDOW_BUDGET: {
      long long v = cli_parse_size(optarg);
      if(v < 0)
        r = bad("--window-budget '%s': expected a size such as 64M%s", optarg,
                "");
      else
        cfg.window_budget = (size_t)v;
      break;
    }
    case OPT_METRICS_ADDR: {
      struct sockaddr_storage ss;
      char merr[256];
      cfg.metrics_addr = optarg;
      if(metrics_parse_addr(optarg, &ss, merr, sizeof(merr)))
        r = bad("--metrics-addr: %s%s", merr, "");
      break;
    }
    case OPT_LOG_LEVEL:
      level = log_level_parse(optarg);
      if(level < 0)
        r = bad("--log-level '%s': expected debug, info, warn or error%s",
                optarg, "");
      break;
    case OPT_LOG_FORMAT:
      json = log_format_parse(optarg);
      if(json < 0)
        r = bad("--log-format '%s': expected text or json%s", optarg, "");
      break;
    case OPT_GROUP_KEY:
      cfg.allow_group_readable_key = 1;
      break;
    case OPT_HELP:
    case 'h':
      usage(stdout);
      rc = CLI_EXIT_OK;
      goto out;
    default:
      if(optopt && optopt < 256)
        r = bad("unknown option '-%c'%s", (char[]){(char)optopt, 0}, "");
      else
        r = bad("unknown or incomplete option '%s'%s", argv[optind - 1], "");
    }
    if(r)
      goto out;
  }
  if(optind < argc) {
    bad("unexpected argument '%s'%s", argv[optind], "");
    goto out;
  }
  log_setup((log_level_t)level, json);
  cfg.policy = policy;
  cfg.allow_clients = clients;
  cfg.n_allow_clients = nclients;

  relay_t *relay = NULL;
  char err[1024];
  int e = relay_new(&relay, &cfg, err, sizeof(err));
  if(e) {
    fprintf(stderr, "beacon egress: %s\n", err);
    rc = e == BEACON_ECONFIG  ? CLI_EXIT_CONFIG
         : e == BEACON_EINVAL ? CLI_EXIT_USAGE
                              : CLI_EXIT_FAILURE;
    goto out;
  }
  rc = relay_run(relay) ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
  relay_free(relay);
out:
  for(size_t i = 0; i < nclients; i++)
    free(client_ids[i]);
  policy_free(policy);
  return rc;
}
