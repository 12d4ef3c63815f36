/*
 * gen_csr.c - `beacon gen-csr`: create the relay's (or with --controller
 * a controller's) key, reused when present, and print a PKCS#10 request
 * for it on stdout (docs/OPERATIONS.md
 * "Certificates (enrolment)"). Nothing but the PEM request goes to stdout, so
 * it can be piped.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "cli/options.h"
#include "cli_support/pki.h"

static const char usage_text[] =
    "Usage: beacon gen-csr [--controller] [--config-dir DIR] [--cn NAME]\n"
    "                      [--san LIST]\n"
    "\n"
    "Creates DIR/relay.key (ECDSA P-256, mode 0600) unless it exists, then\n"
    "prints a certificate request for it on stdout. Sign it with\n"
    "`beacon pki sign --ca-dir CA --csr FILE` and install the result as\n"
    "DIR/relay.crt. DIR must exist.\n"
    "\n";

typedef struct gen_csr_flags {
  const char *dir, *cn, *sans;
  int controller;
} gen_csr_flags_t;

/* CLI_GO_ON with f filled, or an exit code. */
static int parse_flags(int argc, char **argv, gen_csr_flags_t *f)
{
  const cli_opt_t t[] = {
      {.name = "controller",
       .kind = CLI_OPT_FLAG,
       .flag = &f->controller,
       .help = "a controller's key and request instead:\nDIR/controller.key, "
               "EKU clientAuth, no SAN needed;\ninstall the result as "
               "DIR/controller.crt"},
      {.name = "config-dir",
       .kind = CLI_OPT_STRING,
       .metavar = "DIR",
       .str = &f->dir,
       .help = "where the key lives (default /etc/beacon; for a\nuser's own "
               "controller key e.g. ~/.config/beacon)"},
      {.name = "cn",
       .kind = CLI_OPT_STRING,
       .metavar = "NAME",
       .str = &f->cn,
       .help = "subject common name (default: this host's name)"},
      {.name = "san",
       .kind = CLI_OPT_STRING,
       .metavar = "LIST",
       .str = &f->sans,
       .help = "comma-separated DNS names / IP addresses the relay\nis "
               "reached by (default: the common name; none for\n"
               "--controller)"},
  };
  cli_command_t cmd = {.name = "gen-csr",
                       .usage = usage_text,
                       .opts = t,
                       .nopts = sizeof(t) / sizeof(t[0]),
                       .help_column = 20};
  int first;
  int rc = cli_options_parse(&cmd, argc, argv, &first);
  if(rc == CLI_GO_ON && first != argc)
    return cli_usage_error("gen-csr", "unexpected argument '%s'", argv[first]);
  return rc;
}

int cli_gen_csr_main(int argc, char **argv)
{
  gen_csr_flags_t f = {.dir = "/etc/beacon"};
  char host[256];
  int rc = parse_flags(argc, argv, &f);
  if(rc != CLI_GO_ON)
    return rc;
  if(!f.cn) {
    if(gethostname(host, sizeof(host))) {
      fprintf(stderr, "beacon gen-csr: cannot read the host name; use "
                      "--cn\n");
      return CLI_EXIT_USAGE;
    }
    host[sizeof(host) - 1] = '\0';
    f.cn = host;
  }
  if(!f.sans && !f.controller)
    f.sans = f.cn;
  char err[512];
  rc = pki_gen_csr(f.dir, f.cn, f.sans, f.controller, "-", err, sizeof(err));
  if(rc) {
    fprintf(stderr, "beacon gen-csr: %s\n", err);
    return rc == BEACON_EINVAL    ? CLI_EXIT_USAGE
           : rc == BEACON_ECONFIG ? CLI_EXIT_CONFIG
                                  : CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}
