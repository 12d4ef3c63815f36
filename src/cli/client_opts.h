/*
 * client_opts.h - the flags `beacon connect` and `beacon forward` share
 * (relays, identity files, timeouts) and those only forward takes (front
 * ends, limits, drain, metrics, logging), as one option table
 * (cli/options.h), and the tunnel they describe.
 */
#ifndef BEACON_CLI_CLIENT_OPTS_H
#define BEACON_CLI_CLIENT_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "beacon/beacon.h"

#define CLI_MAX_RELAYS 8
#define CLI_MAX_FORWARDS 64

typedef struct cli_client_opts {
  const char *relays[CLI_MAX_RELAYS];
  int nrelays;
  const char *config_dir;
  const char *cert, *key, *ca;
  const char *crl;            /* --crl: revoked relay certificates */
  const char *relay_spki[16]; /* --relay-spki pins (tls/pin.h) */
  int nrelay_spki;
  uint64_t timeout_ms;
  size_t window_budget;   /* SIZE_MAX: the library's default */
  const char *congestion; /* NULL: the library's default */
  /* forward only */
  const char *forwards[CLI_MAX_FORWARDS]; /* -L specs */
  int nforwards;
  const char *socks_addr;
  const char *http_addr;
  uint64_t grace_ms;
  uint32_t max_conns;
  uint32_t pool_size; /* 0: every member of the first hop's pool */
  uint64_t drain_ms; /* SIGTERM/SIGINT: how long live connections may finish */
  const char *metrics_addr; /* NULL: no /metrics endpoint */
  int check_config;         /* --check-config (and --config FILE) */
} cli_client_opts_t;

/* What --help shows around the options of one command. */
typedef struct cli_client_help {
  const char *usage;  /* "Usage: ..." and a description */
  const char *footer; /* after the options, or NULL */
} cli_client_help_t;

/* Parses argv for `beacon CMD` (forward = 1 accepts the forward-only
 * flags; both take --config FILE and --check-config) and sets up
 * logging. Returns CLI_GO_ON with *first_operand set, or an exit code
 * (--help printed, or a usage error). */
int cli_client_opts_parse(cli_client_opts_t *o, int argc, char **argv,
                          const char *cmd, const cli_client_help_t *help,
                          int forward, int *first_operand);
/* The controller certificate's path (--cert, or in --config-dir); buf
 * holds it when it is built. */
const char *cli_client_cert_path(const cli_client_opts_t *o, char *buf,
                                 size_t cap);
/* --check-config: the relay addresses and the identity files the tunnel
 * would use, nothing dialled. 0, or an exit code after one line. */
int cli_client_check(const cli_client_opts_t *o, const char *cmd);
/* Builds the tunnel; prints one line and returns an exit code on error.
 * libbeacon's warnings (beacon_config_set_log()) go to the log (forward)
 * or stderr (connect). */
int cli_client_tunnel(const cli_client_opts_t *o, beacon_tunnel_t **out,
                      const char *cmd);

#endif
