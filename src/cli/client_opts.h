/*
 * client_opts.h - the flags `beacon connect` and `beacon forward` share
 * (relays, identity files, timeouts, logging), parsed once in connect.c.
 */
#ifndef BEACON_CLI_CLIENT_OPTS_H
#define BEACON_CLI_CLIENT_OPTS_H

#include "beacon/beacon.h"

#define CLI_MAX_RELAYS 8
#define CLI_MAX_FORWARDS 64

typedef struct cli_client_opts {
  const char *relays[CLI_MAX_RELAYS];
  int nrelays;
  const char *config_dir;
  const char *cert, *key, *ca;
  long timeout_ms;
  long long window_budget; /* -1: the library's default */
  /* forward only */
  const char *forwards[CLI_MAX_FORWARDS]; /* -L specs */
  int nforwards;
  const char *socks_addr;
  const char *http_addr;
  long grace_ms;
  long max_conns;
  long drain_ms; /* SIGTERM/SIGINT: how long live connections may finish */
  const char *metrics_addr; /* NULL: no /metrics endpoint */
} cli_client_opts_t;

/* Parses argv (getopt_long; optind is left at the first operand). Returns
 * CLI_GO_ON to go on, or an exit code (--help printed, or a usage error).
 * forward = 1 accepts the forward-only flags. */
int cli_client_opts_parse(cli_client_opts_t *o, int argc, char **argv,
                          const char *cmd, const char *usage, int forward);
void cli_client_opts_free(cli_client_opts_t *o);
/* Builds the tunnel; prints one line and returns an exit code on error. */
int cli_client_tunnel(const cli_client_opts_t *o, beacon_tunnel_t **out,
                      const char *cmd);

#endif
