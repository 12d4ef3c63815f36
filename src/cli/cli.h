/*
 * cli.h - the `beacon` subcommands. Each lives in its own file with a
 * cli_<name>_main(argc, argv) entry point (argv[0] is the subcommand) and
 * a --help that prints the same text as its usage on error.
 */
#ifndef BEACON_CLI_H
#define BEACON_CLI_H

int cli_egress_main(int argc, char **argv);
int cli_connect_main(int argc, char **argv);
int cli_forward_main(int argc, char **argv);
int cli_pki_main(int argc, char **argv);
int cli_gen_csr_main(int argc, char **argv);
int cli_version_main(int argc, char **argv);

/* Exit codes shared by the subcommands. */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_FAILURE = 1, /* the operation failed (network, TLS, peer) */
  CLI_EXIT_USAGE = 2,   /* bad flags or arguments */
  CLI_EXIT_CONFIG = 3,  /* unreadable or invalid files */
  CLI_GO_ON = -1        /* not an exit code: parsing done, carry on */
};

/* Parses a non-negative number of seconds ("15", "0.5") into ms;
 * BEACON_EINVAL when it is not one. */
long cli_parse_seconds(const char *s);

/* Parses a byte count with an optional K, M or G suffix (powers of
 * 1024: "64M"); -1 on error or above 1 TiB. */
long long cli_parse_size(const char *s);

#endif
