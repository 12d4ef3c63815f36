/*
 * pki.c - `beacon pki init|sign|renew|crl|issue|fingerprint`: the
 * development PKI
 * (docs/OPERATIONS.md "Certificates (enrolment)"). The certificate work lives
 * in src/cli_support/; this file parses flags, one option table per
 * subcommand.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "cli/options.h"
#include "cli_support/pki.h"

#define DAYS_MAX 36500
#define HOURS_MAX (3650L * 24) /* what the Fleet CA signs at most */
#define REVOKE_MAX 64

typedef struct pki_sub {
  const char *name;
  const char *synopsis; /* "beacon pki NAME ...", continuation lines too */
  const char *about;    /* its paragraph of `beacon pki --help` */
  int (*main)(const struct pki_sub *sub, int argc, char **argv);
} pki_sub_t;

static int init_main(const pki_sub_t *sub, int argc, char **argv);
static int sign_main(const pki_sub_t *sub, int argc, char **argv);
static int renew_main(const pki_sub_t *sub, int argc, char **argv);
static int crl_main(const pki_sub_t *sub, int argc, char **argv);
static int issue_main(const pki_sub_t *sub, int argc, char **argv);
static int fingerprint_main(const pki_sub_t *sub, int argc, char **argv);

static const pki_sub_t subs[] = {
    {"init", "beacon pki init DIR [--force [--replace-ca]]\n",
     "  init    create a development PKI in DIR (created 0700 if missing):\n"
     "          root-ca, fleet-ca (the trust anchor), relay (SANs localhost,\n"
     "          127.0.0.1, ::1) and controller, as NAME.crt + NAME.key "
     "(0600).\n"
     "          Existing files are kept unless --force, which replaces\n"
     "          the relay and controller leaves but refuses to replace an\n"
     "          existing CA (that breaks every certificate it signed)\n"
     "          unless --replace-ca is given too.\n",
     init_main},
    {"sign",
     "beacon pki sign --ca-dir DIR --csr FILE [--out FILE]\n"
     "                       [--days N | --hours N] [--controller]\n",
     "  sign    sign a CSR from `beacon gen-csr` with DIR's Fleet CA;\n"
     "          writes leaf + chain to --out (default: stdout). The CSR's\n"
     "          SANs are copied. A relay's gets serverAuth+clientAuth; a\n"
     "          controller's (from gen-csr --controller, or --controller)\n"
     "          gets clientAuth and needs no SAN. Valid for --days or\n"
     "          --hours from now (default 825 days).\n",
     sign_main},
    {"renew",
     "beacon pki renew --ca-dir DIR --cert FILE --key FILE [--hours N]\n",
     "  renew   re-issue the certificate in --cert with DIR's Fleet CA: the\n"
     "          same subject, SANs and usage, for the same key (--key must\n"
     "          match). Valid for --hours from now (default: as long as\n"
     "          the old one). --cert is replaced atomically (a temporary\n"
     "          file beside it, fsync, rename), keeping its mode and owner.\n",
     renew_main},
    {"crl",
     "beacon pki crl --ca-dir DIR --out FILE [--revoke CERT]...\n"
     "                      [--days N | --hours N]\n",
     "  crl     write DIR's Fleet CA CRL into --out (atomically), valid for\n"
     "          --days or --hours (default 30 days). The revocations of\n"
     "          that CA's CRL already in --out stay and each --revoke CERT\n"
     "          is added; other CAs' CRLs in --out are kept as they are.\n",
     crl_main},
    {"issue",
     "beacon pki issue --ca-dir DIR --out-dir DIR --name NAME\n"
     "                        [--cn CN] [--usage client|server|both|none]\n"
     "                        [--san LIST] [--not-before-days N] [--days N]\n"
     "                        [--ca-name NAME] [--self-signed-ca]\n",
     "  issue   make a test certificate NAME.crt (leaf + chain) and NAME.key\n"
     "          in --out-dir, signed by --ca-dir's CA (--ca-name, default\n"
     "          fleet-ca), or a new self-signed CA with --self-signed-ca.\n"
     "          --usage sets the EKU (default both; none = no EKU).\n"
     "          --san is a comma-separated list of DNS names and IPs.\n"
     "          --not-before-days / --days are offsets from now in days and\n"
     "          may be negative (an expired or not-yet-valid certificate);\n"
     "          defaults -1 hour and 825 days.\n",
     issue_main},
    {"fingerprint", "beacon pki fingerprint FILE\n",
     "  fingerprint  print the SHA-256 of the public key (SPKI) in FILE, a\n"
     "          PEM certificate, CSR or key, as the 64 hex digits\n"
     "          `beacon egress --allow-client` pins.\n",
     fingerprint_main},
};

#define NSUBS (sizeof(subs) / sizeof(subs[0]))

/* `beacon pki --help`: every synopsis, then every paragraph. */
static int overview(int code)
{
  FILE *f = code == CLI_EXIT_OK ? stdout : stderr;
  for(size_t i = 0; i < NSUBS; i++)
    fprintf(f, "%s%s", i ? "       " : "Usage: ", subs[i].synopsis);
  fputc('\n', f);
  for(size_t i = 0; i < NSUBS; i++)
    fputs(subs[i].about, f);
  return code;
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

/* Parses one subcommand's flags: its --help is its synopsis, paragraph
 * and options. CLI_GO_ON with *first set, or an exit code. */
static int parse_sub(const pki_sub_t *sub, const cli_opt_t *t, size_t n,
                     int argc, char **argv, int *first)
{
  char name[32], usage[2048];
  snprintf(name, sizeof(name), "pki %s", sub->name);
  snprintf(usage, sizeof(usage), "Usage: %s\n%s\n", sub->synopsis, sub->about);
  cli_command_t cmd = {
      .name = name, .usage = usage, .opts = t, .nopts = n, .help_column = 28};
  return cli_options_parse(&cmd, argc, argv, first);
}

/* Runs a pki_* call's result: 0, or its message and exit code. */
static int done(const pki_sub_t *sub, int rc, const char *err)
{
  if(!rc)
    return CLI_EXIT_OK;
  fprintf(stderr, "beacon pki %s: %s\n", sub->name, err);
  return exit_code(rc);
}

/* The rows sign, renew and crl share: the CA to use and how long what
 * it signs is valid. */
static cli_opt_t ca_dir_row(const char **ca_dir)
{
  return (cli_opt_t){.name = "ca-dir",
                     .kind = CLI_OPT_STRING,
                     .metavar = "DIR",
                     .str = ca_dir,
                     .help = "the Fleet CA's directory (required)"};
}

static cli_opt_t days_row(long *days, const char *help)
{
  return (cli_opt_t){.name = "days",
                     .kind = CLI_OPT_INTEGER,
                     .metavar = "N",
                     .integer = days,
                     .min = 1,
                     .max = DAYS_MAX,
                     .help = help};
}

static cli_opt_t hours_row(long *hours, const char *help)
{
  return (cli_opt_t){.name = "hours",
                     .kind = CLI_OPT_INTEGER,
                     .metavar = "N",
                     .integer = hours,
                     .min = 1,
                     .max = HOURS_MAX,
                     .help = help};
}

/* --days or --hours (sign, crl): the validity in seconds (0: the
 * command's default) in *secs, or a usage error when both are given. */
static int validity(const pki_sub_t *sub, long days, long hours, long *secs)
{
  if(days && hours) {
    char name[32];
    snprintf(name, sizeof(name), "pki %s", sub->name);
    return cli_usage_error(name, "--days and --hours exclude each other");
  }
  *secs = hours ? hours * 3600 : days * 86400;
  return CLI_GO_ON;
}

static int init_main(const pki_sub_t *sub, int argc, char **argv)
{
  int force = 0, replace_ca = 0, first;
  const cli_opt_t t[] = {
      {.name = "force",
       .short_name = 'f',
       .kind = CLI_OPT_FLAG,
       .flag = &force,
       .help = "replace the relay and controller leaves"},
      {.name = "replace-ca",
       .kind = CLI_OPT_FLAG,
       .flag = &replace_ca,
       .help = "with --force: replace the CA too"},
  };
  int rc = parse_sub(sub, t, 2, argc, argv, &first);
  if(rc != CLI_GO_ON)
    return rc;
  if(first != argc - 1)
    return cli_usage_error("pki init", "exactly one DIR is needed");
  char err[512];
  int flags =
      (force ? PKI_INIT_FORCE : 0) | (replace_ca ? PKI_INIT_REPLACE_CA : 0);
  return done(sub, pki_init(argv[first], flags, err, sizeof(err)), err);
}

static int fingerprint_main(const pki_sub_t *sub, int argc, char **argv)
{
  int first;
  int rc = parse_sub(sub, NULL, 0, argc, argv, &first);
  if(rc != CLI_GO_ON)
    return rc;
  if(first != argc - 1)
    return cli_usage_error("pki fingerprint", "exactly one FILE is needed");
  char hex[65], err[512];
  rc = pki_fingerprint(argv[first], hex, err, sizeof(err));
  if(!rc)
    printf("%s\n", hex);
  return done(sub, rc, err);
}

static int sign_main(const pki_sub_t *sub, int argc, char **argv)
{
  const char *ca_dir = NULL, *csr = NULL, *out = "-";
  long days = 0, hours = 0;
  int controller = 0, first;
  const cli_opt_t t[] = {
      ca_dir_row(&ca_dir),
      {.name = "csr",
       .kind = CLI_OPT_STRING,
       .metavar = "FILE",
       .str = &csr,
       .help = "the request to sign (required)"},
      {.name = "out",
       .kind = CLI_OPT_STRING,
       .metavar = "FILE",
       .str = &out,
       .help = "leaf + chain (default: stdout)"},
      days_row(&days, "validity in days (default 825)"),
      hours_row(&hours, "validity in hours, instead of --days"),
      {.name = "controller",
       .kind = CLI_OPT_FLAG,
       .flag = &controller,
       .help = "a controller's certificate: clientAuth only"},
  };
  int rc = parse_sub(sub, t, sizeof(t) / sizeof(t[0]), argc, argv, &first);
  if(rc != CLI_GO_ON)
    return rc;
  if(first != argc)
    return cli_usage_error("pki sign", "unexpected argument '%s'",
                           argv[first]);
  if(!ca_dir || !csr)
    return cli_usage_error("pki sign", "%s is required",
                           !ca_dir ? "--ca-dir" : "--csr");
  long secs = 0;
  if((rc = validity(sub, days, hours, &secs)) != CLI_GO_ON)
    return rc;
  char err[512];
  rc = pki_sign_csr(ca_dir, csr, out, secs, controller, err, sizeof(err));
  return done(sub, rc, err);
}

static int renew_main(const pki_sub_t *sub, int argc, char **argv)
{
  const char *ca_dir = NULL, *cert = NULL, *key = NULL;
  long hours = 0;
  int first;
  const cli_opt_t t[] = {
      ca_dir_row(&ca_dir),
      {.name = "cert",
       .kind = CLI_OPT_STRING,
       .metavar = "FILE",
       .str = &cert,
       .help = "the certificate to renew, replaced (required)"},
      {.name = "key",
       .kind = CLI_OPT_STRING,
       .metavar = "FILE",
       .str = &key,
       .help = "its key, kept (required)"},
      hours_row(&hours, "validity (default: the old one's)"),
  };
  int rc = parse_sub(sub, t, sizeof(t) / sizeof(t[0]), argc, argv, &first);
  if(rc != CLI_GO_ON)
    return rc;
  if(first != argc)
    return cli_usage_error("pki renew", "unexpected argument '%s'",
                           argv[first]);
  if(!ca_dir || !cert || !key)
    return cli_usage_error("pki renew", "%s is required",
                           !ca_dir ? "--ca-dir"
                           : !cert ? "--cert"
                                   : "--key");
  char err[512];
  rc = pki_renew(ca_dir, cert, key, hours * 3600, err, sizeof(err));
  return done(sub, rc, err);
}

static int crl_main(const pki_sub_t *sub, int argc, char **argv)
{
  const char *ca_dir = NULL, *out = NULL, *revoke[REVOKE_MAX];
  long days = 0, hours = 0;
  int nrevoke = 0, first;
  const cli_opt_t t[] = {
      ca_dir_row(&ca_dir),
      {.name = "out",
       .kind = CLI_OPT_STRING,
       .metavar = "FILE",
       .str = &out,
       .help = "the CRL file, updated (required)"},
      {.name = "revoke",
       .kind = CLI_OPT_REPEATED,
       .metavar = "CERT",
       .list = revoke,
       .n = &nrevoke,
       .max = REVOKE_MAX,
       .help = "a certificate to revoke (repeatable)"},
      days_row(&days, "validity in days (default 30)"),
      hours_row(&hours, "validity in hours, instead of --days"),
  };
  int rc = parse_sub(sub, t, sizeof(t) / sizeof(t[0]), argc, argv, &first);
  if(rc != CLI_GO_ON)
    return rc;
  if(first != argc)
    return cli_usage_error("pki crl", "unexpected argument '%s'", argv[first]);
  if(!ca_dir || !out)
    return cli_usage_error("pki crl", "%s is required",
                           !ca_dir ? "--ca-dir" : "--out");
  long secs = 0;
  if((rc = validity(sub, days, hours, &secs)) != CLI_GO_ON)
    return rc;
  char err[512];
  rc = pki_make_crl(ca_dir, out, revoke, nrevoke, secs, err, sizeof(err));
  return done(sub, rc, err);
}

/* --usage client|server|both|none into the EKU bits. */
static int parse_usage(void *opts, const char *v, char *why, size_t cap)
{
  pki_issue_opts_t *o = opts;
  if(strcmp(v, "client") && strcmp(v, "server") && strcmp(v, "both") &&
     strcmp(v, "none")) {
    snprintf(why, cap, "expected client, server, both or none");
    return -1;
  }
  o->client_auth = !strcmp(v, "client") || !strcmp(v, "both");
  o->server_auth = !strcmp(v, "server") || !strcmp(v, "both");
  return 0;
}

/* issue's --days: an offset in days, negative for an expired
 * certificate, but not 0 (which would mean the default). */
static int parse_end_days(void *days, const char *v, char *why, size_t cap)
{
  char *end;
  errno = 0;
  long d = strtol(v, &end, 10);
  if(errno || end == v || *end || d == 0 || d < -DAYS_MAX || d > DAYS_MAX) {
    snprintf(why, cap,
             "expected a number of days other than 0, "
             "-%d..%d",
             DAYS_MAX, DAYS_MAX);
    return -1;
  }
  *(long *)days = d;
  return 0;
}

/* issue's output and subject flags into t; returns how many. */
static size_t issue_opts(pki_issue_opts_t *o, const char **out_dir,
                         cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){.name = "ca-dir",
                       .kind = CLI_OPT_STRING,
                       .metavar = "DIR",
                       .str = &o->ca_dir,
                       .help = "the signing CA's directory"};
  t[n++] = (cli_opt_t){.name = "out-dir",
                       .kind = CLI_OPT_STRING,
                       .metavar = "DIR",
                       .str = out_dir,
                       .help = "where NAME.crt and NAME.key "
                               "go (required)"};
  t[n++] = (cli_opt_t){.name = "name",
                       .kind = CLI_OPT_STRING,
                       .metavar = "NAME",
                       .str = &o->name,
                       .help = "output base name "
                               "(required)"};
  t[n++] = (cli_opt_t){.name = "cn",
                       .kind = CLI_OPT_STRING,
                       .metavar = "CN",
                       .str = &o->cn,
                       .help = "subject CN (default: NAME)"};
  t[n++] = (cli_opt_t){.name = "usage",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "client|server|both|none",
                       .parse = parse_usage,
                       .ctx = o,
                       .help = "the EKU (default both)"};
  t[n++] = (cli_opt_t){.name = "san",
                       .kind = CLI_OPT_STRING,
                       .metavar = "LIST",
                       .str = &o->sans,
                       .help = "DNS names and IPs, "
                               "comma-separated"};
  return n;
}

/* issue's validity and CA choice into t; returns how many. */
static size_t issue_ca_opts(pki_issue_opts_t *o, cli_opt_t *t)
{
  size_t n = 0;
  t[n++] = (cli_opt_t){.name = "not-before-days",
                       .kind = CLI_OPT_INTEGER,
                       .metavar = "N",
                       .integer = &o->not_before_days,
                       .min = -DAYS_MAX,
                       .max = DAYS_MAX,
                       .help = "start, days from now (default -1 hour)"};
  t[n++] = (cli_opt_t){.name = "days",
                       .kind = CLI_OPT_CUSTOM,
                       .metavar = "N",
                       .parse = parse_end_days,
                       .ctx = &o->not_after_days,
                       .help = "end, days from now, not 0 (default 825)"};
  t[n++] = (cli_opt_t){.name = "ca-name",
                       .kind = CLI_OPT_STRING,
                       .metavar = "NAME",
                       .str = &o->ca_name,
                       .help = "the CA in --ca-dir "
                               "(default fleet-ca)"};
  t[n++] = (cli_opt_t){.name = "self-signed-ca",
                       .kind = CLI_OPT_FLAG,
                       .flag = &o->self_signed_ca,
                       .help = "make NAME a new self-signed CA"};
  return n;
}

static int issue_main(const pki_sub_t *sub, int argc, char **argv)
{
  pki_issue_opts_t o = {.server_auth = 1, .client_auth = 1};
  const char *out_dir = NULL;
  cli_opt_t t[12];
  int first;
  size_t n = issue_opts(&o, &out_dir, t);
  n += issue_ca_opts(&o, t + n);
  int rc = parse_sub(sub, t, n, argc, argv, &first);
  if(rc != CLI_GO_ON)
    return rc;
  if(first != argc)
    return cli_usage_error("pki issue", "unexpected argument '%s'",
                           argv[first]);
  if(!out_dir || !o.name || (!o.ca_dir && !o.self_signed_ca))
    return cli_usage_error("pki issue", "%s",
                           !out_dir  ? "--out-dir is required"
                           : !o.name ? "--name is required"
                                     : "--ca-dir is required (or "
                                       "--self-signed-ca)");
  char err[512];
  return done(sub, pki_issue(out_dir, &o, err, sizeof(err)), err);
}

int cli_pki_main(int argc, char **argv)
{
  if(argc < 2) {
    fprintf(stderr, "beacon pki: a command is needed (init, sign, renew, "
                    "crl, issue, fingerprint)\n");
    return overview(CLI_EXIT_USAGE);
  }
  const char *name = argv[1];
  if(!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help"))
    return overview(CLI_EXIT_OK);
  /* argv[1] becomes the subcommand's argv[0] */
  for(size_t i = 0; i < NSUBS; i++)
    if(!strcmp(name, subs[i].name))
      return subs[i].main(&subs[i], argc - 1, argv + 1);
  fprintf(stderr, "beacon pki: unknown command '%s'\n", name);
  return overview(CLI_EXIT_USAGE);
}
