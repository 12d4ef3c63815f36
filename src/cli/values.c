/*
 * values.c - value parsers the subcommands share: seconds and sizes
 * (cli/cli.h), and the option-table parsers for the log level, the log
 * format and a metrics address, and the forms of listen addresses and
 * forward specs (cli/values.h).
 */
#include "cli/values.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "common/congestion.h"
#include "common/hostport.h"
#include "log/log.h"
#include "metrics/http.h"
#include "target/target.h"

long cli_parse_seconds(const char *s)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if(errno || end == s || *end || v < 0 || v > 86400.0 * 365)
    return BEACON_EINVAL;
  return (long)(v * 1000.0 + 0.5);
}

long long cli_parse_size(const char *s)
{
  char *end;
  unsigned long long v;
  int shift = 0;
  if(*s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if(errno)
    return -1;
  if(*end == 'K' || *end == 'k')
    shift = 10;
  else if(*end == 'M' || *end == 'm')
    shift = 20;
  else if(*end == 'G' || *end == 'g')
    shift = 30;
  if(shift)
    end++;
  if(*end || v > (1ull << 40) >> shift)
    return -1;
  return (long long)(v << shift);
}

int cli_value_log_level(void *level, const char *v, char *why, size_t cap)
{
  int l = log_level_parse(v);
  if(l < 0) {
    snprintf(why, cap, "expected debug, info, warn or error");
    return -1;
  }
  *(int *)level = l;
  return 0;
}

int cli_value_log_format(void *json, const char *v, char *why, size_t cap)
{
  int j = log_format_parse(v);
  if(j < 0) {
    snprintf(why, cap, "expected text or json");
    return -1;
  }
  *(int *)json = j;
  return 0;
}

int cli_value_metrics_addr(void *addr, const char *v, char *why, size_t cap)
{
  struct sockaddr_storage ss;
  if(metrics_parse_addr(v, &ss, why, cap))
    return -1;
  *(const char **)addr = v;
  return 0;
}

int cli_split_forward(const char *spec, char *bind, size_t bcap, char *target,
                      size_t tcap)
{
  const char *p = strrchr(spec, ':'); /* before the target port */
  if(!p || p == spec)
    return BEACON_EINVAL;
  const char *q = p - 1;
  if(*q == ']') {
    while(q > spec && *q != '[')
      q--;
    if(*q != '[' || q == spec)
      return BEACON_EINVAL;
    q--;
  } else {
    while(q > spec && *q != ':')
      q--;
  }
  if(*q != ':' || q == spec)
    return BEACON_EINVAL;
  size_t bl = (size_t)(q - spec), tl = strlen(q + 1);
  if(bl >= bcap || tl >= tcap)
    return BEACON_EINVAL;
  memcpy(bind, spec, bl);
  bind[bl] = 0;
  memcpy(target, q + 1, tl + 1);
  return target_from_string(target, tl, NULL) ? BEACON_EINVAL : 0;
}

int cli_check_listen_addr(const char *v, char *why, size_t cap)
{
  char host[256];
  uint16_t port;
  if(!hostport_split(v, 0, host, sizeof(host), &port))
    return 0;
  snprintf(why, cap,
           "expected :PORT, HOST:PORT or [IPV6]:PORT with a port "
           "0-65535");
  return -1;
}

int cli_check_front_addr(const char *v, char *why, size_t cap)
{
  char host[256];
  uint16_t port;
  if(!hostport_split(v, HOSTPORT_BARE_PORT, host, sizeof(host), &port))
    return 0;
  snprintf(why, cap, "expected PORT, HOST:PORT or [IPV6]:PORT");
  return -1;
}

int cli_check_forward_spec(const char *v, char *why, size_t cap)
{
  char bind[300], target[300], host[256];
  uint16_t port;
  if(!cli_split_forward(v, bind, sizeof(bind), target, sizeof(target)) &&
     !hostport_split(bind, HOSTPORT_BARE_PORT, host, sizeof(host), &port))
    return 0;
  snprintf(why, cap, "expected [BIND:]PORT:HOST:PORT");
  return -1;
}

const char *cli_config_dir_hint(const char *dir)
{
  if(geteuid() == 0 || !dir || strcmp(dir, CLI_DEFAULT_CONFIG_DIR))
    return "";
  return " (" CLI_DEFAULT_CONFIG_DIR " is the system's directory: without "
         "root, keep the files in a directory of your own and give "
         "--config-dir DIR, for example ~/.config/beacon)";
}

int cli_check_congestion(const char *v, char *why, size_t cap)
{
  return congestion_check(v, why, cap) ? -1 : 0;
}
