/*
 * pki.c - `beacon pki init|sign|issue`: the development PKI
 * (docs/OPERATIONS.md "Certificates (enrolment)"). The certificate work lives
 * in src/cli_support/pki.c; this file parses flags.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "cli_support/pki.h"

static const char usage_text[] =
    "Usage: beacon pki init DIR [--force [--replace-ca]]\n"
    "       beacon pki sign --ca-dir DIR --csr FILE [--out FILE] [--days N]\n"
    "                       [--controller]\n"
    "       beacon pki issue --ca-dir DIR --out-dir DIR --name NAME\n"
    "                        [--cn CN] [--usage client|server|both|none]\n"
    "                        [--san LIST] [--not-before-days N] [--days N]\n"
    "                        [--ca-name NAME] [--self-signed-ca]\n"
    "       beacon pki fingerprint FILE\n"
    "\n"
    "  init    create a development PKI in DIR (created 0700 if missing):\n"
    "          root-ca, fleet-ca (the trust anchor), relay (SANs localhost,\n"
    "          127.0.0.1, ::1) and controller, as NAME.crt + NAME.key "
    "(0600).\n"
    "          Existing files are kept unless --force, which replaces\n"
    "          the relay and controller leaves but refuses to replace an\n"
    "          existing CA (that breaks every certificate it signed)\n"
    "          unless --replace-ca is given too.\n"
    "  sign    sign a CSR from `beacon gen-csr` with DIR's Fleet CA;\n"
    "          writes leaf + chain to --out (default: stdout). The CSR's\n"
    "          SANs are copied. A relay's gets serverAuth+clientAuth; a\n"
    "          controller's (from gen-csr --controller, or --controller)\n"
    "          gets clientAuth and needs no SAN. --days default 825.\n"
    "  issue   make a test certificate NAME.crt (leaf + chain) and NAME.key\n"
    "          in --out-dir, signed by --ca-dir's CA (--ca-name, default\n"
    "          fleet-ca), or a new self-signed CA with --self-signed-ca.\n"
    "          --usage sets the EKU (default both; none = no EKU).\n"
    "          --san is a comma-separated list of DNS names and IPs.\n"
    "          --not-before-days / --days are offsets from now in days and\n"
    "          may be negative (an expired or not-yet-valid certificate);\n"
    "          defaults -1 hour and 825 days.\n"
    "  fingerprint  print the SHA-256 of the public key (SPKI) in FILE, a\n"
    "          PEM certificate, CSR or key, as the 64 hex digits\n"
    "          `beacon egress --allow-client` pins.\n";

static int usage(int code)
{
  fputs(usage_text, code == CLI_EXIT_OK ? stdout : stderr);
  return code;
}

static int parse_long(const char *flag, const char *s, long *out)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if(errno || end == s || *end || v < -36500 || v > 36500) {
    fprintf(stderr, "beacon pki: %s: '%s' is not a number of days\n", flag, s);
    return BEACON_EINVAL;
  }
  *out = v;
  return 0;
}

static int exit_code(int rc)
{
  switch(rc) {
  case BEACON_EINVAL:
    return CLI_EXIT_USAGE;
  case BEACON_ECONFIG:
    return CLI_EXIT_CONFIG;
  default:
    return CLI_EXIT_FAILURE;
  }
}

static int pki_init_main(int argc, char **argv)
{
  static const struct option opts[] = {{"force", no_argument, 0, 'f'},
                                       {"replace-ca", no_argument, 0, 'R'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int flags = 0, c;
  while((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
    if(c == 'f')
      flags |= PKI_INIT_FORCE;
    else if(c == 'R')
      flags |= PKI_INIT_REPLACE_CA;
    else if(c == 'h')
      return usage(CLI_EXIT_OK);
    else
      return usage(CLI_EXIT_USAGE);
  }
  if(optind != argc - 1) {
    fprintf(stderr, "beacon pki init: exactly one DIR is needed\n");
    return usage(CLI_EXIT_USAGE);
  }
  char err[512];
  int rc = pki_init(argv[optind], flags, err, sizeof(err));
  if(rc) {
    fprintf(stderr, "beacon pki init: %s\n", err);
    return exit_code(rc);
  }
  return CLI_EXIT_OK;
}

static int pki_fingerprint_main(int argc, char **argv)
{
  if(argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
    return usage(CLI_EXIT_OK);
  if(argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "beacon pki fingerprint: exactly one FILE is needed\n");
    return usage(CLI_EXIT_USAGE);
  }
  char hex[65], err[512];
  int rc = pki_fingerprint(argv[1], hex, err, sizeof(err));
  if(rc) {
    fprintf(stderr, "beacon pki fingerprint: %s\n", err);
    return exit_code(rc);
  }
  printf("%s\n", hex);
  return CLI_EXIT_OK;
}

static int pki_sign_main(int argc, char **argv)
{
  static const struct option opts[] = {{"ca-dir", required_argument, 0, 'c'},
                                       {"csr", required_argument, 0, 'r'},
                                       {"out", required_argument, 0, 'o'},
                                       {"days", required_argument, 0, 'd'},
                                       {"controller", no_argument, 0, 'C'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *ca_dir = NULL, *csr = NULL, *out = "-";
  long days = 0;
  int c, controller = 0;
  while((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch(c) {
    case 'c':
      ca_dir = optarg;
      break;
    case 'r':
      csr = optarg;
      break;
    case 'o':
      out = optarg;
      break;
    case 'd':
      if(parse_long("--days", optarg, &days))
        return CLI_EXIT_USAGE;
      if(days <= 0) {
        fprintf(stderr, "beacon pki sign: --days must be positive\n");
        return CLI_EXIT_USAGE;
      }
      break;
    case 'C':
      controller = 1;
      break;
    case 'h':
      return usage(CLI_EXIT_OK);
    default:
      return usage(CLI_EXIT_USAGE);
    }
  }
  if(optind != argc || !ca_dir || !csr) {
    fprintf(stderr, "beacon pki sign: %s\n",
            optind != argc ? "unexpected argument"
            : !ca_dir      ? "--ca-dir is required"
                           : "--csr is required");
    return usage(CLI_EXIT_USAGE);
  }
  char err[512];
  int rc = pki_sign_csr(ca_dir, csr, out, days, controller, err, sizeof(err));
  if(rc) {
    fprintf(stderr, "beacon pki sign: %s\n", err);
    return exit_code(rc);
  }
  return CLI_EXIT_OK;
}

static int pki_issue_main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"ca-dir", required_argument, 0, 'c'},
      {"out-dir", required_argument, 0, 'o'},
      {"name", required_argument, 0, 'n'},
      {"cn", required_argument, 0, 'C'},
      {"usage", required_argument, 0, 'u'},
      {"san", required_argument, 0, 's'},
      {"not-before-days", required_argument, 0, 'b'},
      {"days", required_argument, 0, 'd'},
      {"ca-name", required_argument, 0, 'N'},
      {"self-signed-ca", no_argument, 0, 'S'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  pki_issue_opts_t o = {.server_auth = 1, .client_auth = 1};
  const char *out_dir = NULL;
  int c;
  while((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch(c) {
    case 'c':
      o.ca_dir = optarg;
      break;
    case 'o':
      out_dir = optarg;
      break;
    case 'n':
      o.name = optarg;
      break;
    case 'C':
      o.cn = optarg;
      break;
    case 'u':
      if(!strcmp(optarg, "client") || !strcmp(optarg, "server") ||
         !strcmp(optarg, "both") || !strcmp(optarg, "none")) {
        o.client_auth = !strcmp(optarg, "client") || !strcmp(optarg, "both");
        o.server_auth = !strcmp(optarg, "server") || !strcmp(optarg, "both");
        break;
      }
      fprintf(stderr,
              "beacon pki issue: --usage: '%s' is not client, server, both "
              "or none\n",
              optarg);
      return CLI_EXIT_USAGE;
    case 's':
      o.sans = optarg;
      break;
    case 'b':
      if(parse_long("--not-before-days", optarg, &o.not_before_days))
        return CLI_EXIT_USAGE;
      break;
    case 'd':
      if(parse_long("--days", optarg, &o.not_after_days))
        return CLI_EXIT_USAGE;
      if(!o.not_after_days) {
        fprintf(stderr, "beacon pki issue: --days must not be 0\n");
        return CLI_EXIT_USAGE;
      }
      break;
    case 'N':
      o.ca_name = optarg;
      break;
    case 'S':
      o.self_signed_ca = 1;
      break;
    case 'h':
      return usage(CLI_EXIT_OK);
    default:
      return usage(CLI_EXIT_USAGE);
    }
  }
  if(optind != argc || !out_dir || !o.name ||
     (!o.ca_dir && !o.self_signed_ca)) {
    fprintf(stderr, "beacon pki issue: %s\n",
            optind != argc ? "unexpected argument"
            : !out_dir     ? "--out-dir is required"
            : !o.name      ? "--name is required"
                           : "--ca-dir is required (or --self-signed-ca)");
    return usage(CLI_EXIT_USAGE);
  }
  char err[512];
  int rc = pki_issue(out_dir, &o, err, sizeof(err));
  if(rc) {
    fprintf(stderr, "beacon pki issue: %s\n", err);
    return exit_code(rc);
  }
  return CLI_EXIT_OK;
}

int cli_pki_main(int argc, char **argv)
{
  if(argc < 2) {
    fprintf(stderr, "beacon pki: a command is needed (init, sign, issue, "
                    "fingerprint)\n");
    return usage(CLI_EXIT_USAGE);
  }
  const char *sub = argv[1];
  if(!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help"))
    return usage(CLI_EXIT_OK);
  /* argv[1] becomes getopt's argv[0]; optind restarts for each parse */
  optind = 1;
  if(!strcmp(sub, "init"))
    return pki_init_main(argc - 1, argv + 1);
  if(!strcmp(sub, "sign"))
    return pki_sign_main(argc - 1, argv + 1);
  if(!strcmp(sub, "issue"))
    return pki_issue_main(argc - 1, argv + 1);
  if(!strcmp(sub, "fingerprint"))
    return pki_fingerprint_main(argc - 1, argv + 1);
  fprintf(stderr, "beacon pki: unknown command '%s'\n", sub);
  return usage(CLI_EXIT_USAGE);
}
