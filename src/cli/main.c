/* main.c - the `beacon` command: a table of subcommands (wg-style). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "beacon/beacon.h"

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *description;
} subcommands[] = {
    {"egress", cli_egress_main, "run the relay: serve controller tunnels"},
    {"connect", cli_connect_main,
     "pipe stdin/stdout to a target through the relay (ProxyCommand)"},
    {"forward", cli_forward_main,
     "local forwards, SOCKS5 and HTTP CONNECT through the relay"},
    {"pki", cli_pki_main,
     "development PKI: init, sign, issue; key fingerprints"},
    {"gen-csr", cli_gen_csr_main,
     "create a relay or controller key and print a CSR"},
    {"version", cli_version_main, "print the version"},
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
  fprintf(f, "Usage: beacon <command> [options]\n\nCommands:\n");
  for(size_t i = 0; i < NSUB; i++)
    fprintf(f, "  %-9s %s\n", subcommands[i].name, subcommands[i].description);
  fprintf(f, "\nRun 'beacon <command> --help' for a command's options.\n");
}

int cli_version_main(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  printf("beacon %s\n", BEACON_VERSION);
  return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
  if(argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if(!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if(!strcmp(cmd, "--version"))
    return cli_version_main(argc - 1, argv + 1);
  for(size_t i = 0; i < NSUB; i++)
    if(!strcmp(cmd, subcommands[i].name))
      return subcommands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "beacon: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return CLI_EXIT_USAGE;
}
