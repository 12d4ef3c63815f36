/* hostport.c - listen addresses on the command line (hostport.h). */
#include "common/hostport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *p, uint16_t *port)
{
  char *end;
  unsigned long v;
  if(*p < '0' || *p > '9')
    return BEACON_EINVAL;
  errno = 0;
  v = strtoul(p, &end, 10);
  if(errno || *end || v > 65535)
    return BEACON_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

int hostport_split(const char *s, int flags, char *host, size_t cap,
                   uint16_t *port)
{
  const char *hs = s, *colon;
  size_t hl;
  if(!s || !*s || !cap)
    return BEACON_EINVAL;
  if(s[0] == '[') {
    const char *rb = strchr(s, ']');
    if(!rb || rb[1] != ':')
      return BEACON_EINVAL;
    hs = s + 1;
    hl = (size_t)(rb - hs);
    if(!hl)
      return BEACON_EINVAL;
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if(!colon) {
      if(!(flags & HOSTPORT_BARE_PORT))
        return BEACON_EINVAL;
      host[0] = '\0';
      return parse_port(s, port);
    }
    hl = (size_t)(colon - s);
    if(memchr(s, ':', hl))
      return BEACON_EINVAL; /* an IPv6 literal needs brackets */
  }
  if(hl >= cap)
    return BEACON_EINVAL;
  memcpy(host, hs, hl);
  host[hl] = '\0';
  return parse_port(colon + 1, port);
}
