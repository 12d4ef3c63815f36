/*
 * tpeer - a controller-side test peer for beacon's integration tests,
 * built on the project's own cores (tls_conn, mux). It opens one tunnel
 * to a relay and runs one scenario; see usage_text.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpeer.h"

static const char usage_text[] =
    "Usage: tpeer --relay HOST:PORT --cert F --key F --ca F\n"
    "             [--expect-host NAME] [--connect-timeout MS]\n"
    "             [--keepalive-ms MS] [--beacon-alpn] [--timeout S]\n"
    "             SCENARIO [ARGS]\n"
    "\n"
    "Scenarios (one JSON line on stdout; exit 0 ok, 1 check failed,\n"
    "2 usage, 3 connect/TLS/deadline):\n"
    "  handshake                      TLS + one ping answered\n"
    "  echo --target T [--streams N] [--bytes B] [--chunk C] [--seed S]\n"
    "                                 N concurrent streams to an echo\n"
    "                                 backend, every byte checked\n"
    "  upload --target T --bytes B    to a sink: FIN, then its verdict\n"
    "                                 line \"<count> <sha256>\" must match\n"
    "  download --target T [--bytes B] [--expect-sha HEX]\n"
    "  split-target --target T        target line 1 byte per Data frame\n"
    "  bundle --target T              target line + payload in the SYN\n"
    "  expect-reset --target T [--payload TEXT] [--wait-ms MS]\n"
    "  hold --target T --streams N    open N streams, print \"ready A R\"\n"
    "                                 when all are answered, hold them\n"
    "                                 until stdin closes (JSON: streams\n"
    "                                 reset with relay_limit, when\n"
    "                                 --beacon-alpn negotiated beacon/1)\n"
    "  idle [--seconds S] [--ping-ms P]  tunnel must stay up; pings\n"
    "  raw --hex FRAMES               send bytes below the mux\n"
    "  violation KIND [N]             bad-version, bad-type, even-id,\n"
    "                                 dup-syn, window-overflow,\n"
    "                                 huge-length, unknown-stream-data,\n"
    "                                 double-fin --target T, ping-flood N,\n"
    "                                 syn-flood N\n"
    "    raw and violation: [--wait-ms MS] (default 2000)\n"
    "    [--expect goaway:N|closed|up|rst] [--then-echo T]\n";

/* ---- JSON line ---------------------------------------------------------- */

static void json_add(tp_json_t *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void json_add(tp_json_t *j, const char *fmt, ...)
{
  va_list ap;
  int n;
  if(j->len >= sizeof(j->buf))
    return;
  va_start(ap, fmt);
  n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
  va_end(ap);
  if(n > 0)
    j->len += (size_t)n;
  if(j->len >= sizeof(j->buf))
    j->len = sizeof(j->buf) - 1;
}

static void json_key(tp_json_t *j, const char *k)
{
  json_add(j, "%s\"%s\":", j->len > 1 ? "," : "", k);
}

void tp_json_begin(tp_json_t *j)
{
  j->len = 0;
  json_add(j, "{");
}

void tp_json_int(tp_json_t *j, const char *k, int64_t v)
{
  json_key(j, k);
  json_add(j, "%lld", (long long)v);
}

void tp_json_num(tp_json_t *j, const char *k, double v)
{
  json_key(j, k);
  json_add(j, "%.3f", v);
}

void tp_json_bool(tp_json_t *j, const char *k, int v)
{
  json_key(j, k);
  json_add(j, "%s", v ? "true" : "false");
}

void tp_json_null(tp_json_t *j, const char *k)
{
  json_key(j, k);
  json_add(j, "null");
}

void tp_json_str(tp_json_t *j, const char *k, const char *v)
{
  json_key(j, k);
  json_add(j, "\"");
  for(; v && *v; v++) {
    unsigned char c = (unsigned char)*v;
    if(c == '"' || c == '\\')
      json_add(j, "\\%c", c);
    else if(c < 0x20 || c >= 0x7f)
      json_add(j, "\\u%04x", c);
    else
      json_add(j, "%c", c);
  }
  json_add(j, "\"");
}

void tp_json_print(tp_json_t *j)
{
  printf("%.*s}\n", (int)j->len, j->buf);
  fflush(stdout);
}

/* ---- main --------------------------------------------------------------- */

static void on_alarm(int sig)
{
  static const char msg[] = "tpeer: overall --timeout exceeded\n";
  (void)sig;
  if(write(2, msg, sizeof(msg) - 1) < 0) {
    /* nothing more to do */
  }
  _exit(TP_EXIT_CONN);
}

static int usage(int code)
{
  fputs(usage_text, code ? stderr : stdout);
  return code;
}

static int parse_num(const char *flag, const char *v, long max, long *out)
{
  char *end;
  long n = strtol(v, &end, 10);
  if(end == v || *end || n < 0 || n > max) {
    tp_err("%s '%s': expected a number 0..%ld", flag, v, max);
    return -1;
  }
  *out = n;
  return 0;
}

int main(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"relay", required_argument, 0, 'r'},
      {"cert", required_argument, 0, 'c'},
      {"key", required_argument, 0, 'k'},
      {"ca", required_argument, 0, 'a'},
      {"expect-host", required_argument, 0, 'e'},
      {"connect-timeout", required_argument, 0, 'C'},
      {"keepalive-ms", required_argument, 0, 'K'},
      {"beacon-alpn", no_argument, 0, 'B'},
      {"timeout", required_argument, 0, 't'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  tp_opts_t o;
  long timeout_s = 120, v;
  int c;
  struct sigaction sa;

  memset(&o, 0, sizeof(o));
  o.connect_timeout_ms = 10000;
  /* '+': stop at the scenario name; its arguments are its own. */
  while((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
    switch(c) {
    case 'r':
      o.relay = optarg;
      break;
    case 'c':
      o.cert = optarg;
      break;
    case 'k':
      o.key = optarg;
      break;
    case 'a':
      o.ca = optarg;
      break;
    case 'e':
      o.expect_host = optarg;
      break;
    case 'C':
      if(parse_num("--connect-timeout", optarg, 600000, &v))
        return TP_EXIT_USAGE;
      o.connect_timeout_ms = (int)v;
      break;
    case 'K':
      if(parse_num("--keepalive-ms", optarg, 3600000, &v))
        return TP_EXIT_USAGE;
      o.keepalive_ms = (uint64_t)v;
      break;
    case 't':
      if(parse_num("--timeout", optarg, 86400, &v))
        return TP_EXIT_USAGE;
      timeout_s = v;
      break;
    case 'B':
      o.beacon_alpn = 1;
      break;
    case 'h':
      return usage(TP_EXIT_OK);
    default:
      return usage(TP_EXIT_USAGE);
    }
  }
  if(optind >= argc) {
    tp_err("a scenario is required");
    return usage(TP_EXIT_USAGE);
  }
  if(!o.relay || !o.cert || !o.key || !o.ca) {
    tp_err("--relay, --cert, --key and --ca are required");
    return usage(TP_EXIT_USAGE);
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if(timeout_s)
    alarm((unsigned)timeout_s);
  return tp_run_scenario(&o, argv[optind], argc - optind - 1,
                         argv + optind + 1);
}
