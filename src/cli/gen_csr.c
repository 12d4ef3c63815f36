/*
 * gen_csr.c - `beacon gen-csr`: create the relay's (or with --controller
 * a controller's) key, reused when present, and print a PKCS#10 request
 * for it on stdout (docs/OPERATIONS.md
 * "Certificates (enrolment)"). Nothing but the PEM request goes to stdout, so
 * it can be piped.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "cli_support/pki.h"

static const char usage_text[] =
    "Usage: beacon gen-csr [--controller] [--config-dir DIR] [--cn NAME]\n"
    "                      [--san LIST]\n"
    "\n"
    "Creates DIR/relay.key (ECDSA P-256, mode 0600) unless it exists, then\n"
    "prints a certificate request for it on stdout. Sign it with\n"
    "`beacon pki sign --ca-dir CA --csr FILE` and install the result as\n"
    "DIR/relay.crt. DIR must exist.\n"
    "\n"
    "  --controller      a controller's key and request instead:\n"
    "                    DIR/controller.key, EKU clientAuth, no SAN needed;\n"
    "                    install the result as DIR/controller.crt\n"
    "  --config-dir DIR  where the key lives (default /etc/beacon; for a\n"
    "                    user's own controller key e.g. ~/.config/beacon)\n"
    "  --cn NAME         subject common name (default: this host's name)\n"
    "  --san LIST        comma-separated DNS names / IP addresses the relay\n"
    "                    is reached by (default: the common name; none for\n"
    "                    --controller)\n";

int cli_gen_csr_main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"config-dir", required_argument, 0, 'c'},
      {"cn", required_argument, 0, 'n'},
      {"san", required_argument, 0, 's'},
      {"controller", no_argument, 0, 'C'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *dir = "/etc/beacon", *cn = NULL, *sans = NULL;
  char host[256];
  int c, controller = 0;
  optind = 1;
  while((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch(c) {
    case 'c':
      dir = optarg;
      break;
    case 'n':
      cn = optarg;
      break;
    case 's':
      sans = optarg;
      break;
    case 'C':
      controller = 1;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return CLI_EXIT_OK;
    default:
      fputs(usage_text, stderr);
      return CLI_EXIT_USAGE;
    }
  }
  if(optind != argc) {
    fprintf(stderr, "beacon gen-csr: unexpected argument '%s'\n",
            argv[optind]);
    fputs(usage_text, stderr);
    return CLI_EXIT_USAGE;
  }
  if(!cn) {
    if(gethostname(host, sizeof(host))) {
      fprintf(stderr, "beacon gen-csr: cannot read the host name; use "
                      "--cn\n");
      return CLI_EXIT_USAGE;
    }
    host[sizeof(host) - 1] = '\0';
    cn = host;
  }
  if(!sans && !controller)
    sans = cn;
  char err[512];
  int rc = pki_gen_csr(dir, cn, sans, controller, "-", err, sizeof(err));
  if(rc) {
    fprintf(stderr, "beacon gen-csr: %s\n", err);
    return rc == BEACON_EINVAL    ? CLI_EXIT_USAGE
           : rc == BEACON_ECONFIG ? CLI_EXIT_CONFIG
                                  : CLI_EXIT_FAILURE;
  }
  return CLI_EXIT_OK;
}
