/* pki.c - placeholder until the subcommand lands. */
#include <stdio.h>

#include "cli/cli.h"

int cli_pki_main(int argc, char **argv)
{
  (void)argc;
  fprintf(stderr, "beacon %s: not built yet\n", argv[0]);
  return CLI_EXIT_FAILURE;
}
