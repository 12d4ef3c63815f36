/*
 * dns_srv.c - a DNS answer to an SRV query (dns_srv.h). The records
 * come from c-ares; only the TTLs are read here, walking the message's
 * fixed fields with c-ares expanding (and bounding) every name.
 */
#include "dial/dns_srv.h"

#include <ares.h>
#include <stdio.h>
#include <string.h>

#define DNS_HEADER 12

static uint16_t be16(const uint8_t *p)
{
  return (uint16_t)(p[0] << 8 | p[1]);
}

/* Skips the name at *at; 0, or -1 when it runs past the end. */
static int skip_name(const uint8_t *buf, size_t len, size_t *at)
{
  char *name = NULL;
  long enclen = 0;
  if(*at >= len || ares_expand_name(buf + *at, buf, (int)len, &name,
                                    &enclen) != ARES_SUCCESS)
    return -1;
  ares_free_string(name);
  if(enclen <= 0 || (size_t)enclen > len - *at)
    return -1;
  *at += (size_t)enclen;
  return 0;
}

/* The smallest TTL of the answer section's SRV records; -1 when the
 * message is malformed, 0 with *found 0 when it has none. */
static int min_srv_ttl(const uint8_t *buf, size_t len, uint32_t *ttl,
                       int *found)
{
  if(len < DNS_HEADER)
    return -1;
  unsigned qd = be16(buf + 4), an = be16(buf + 6);
  size_t at = DNS_HEADER;
  *found = 0;
  for(unsigned i = 0; i < qd; i++) {
    if(skip_name(buf, len, &at) || len - at < 4)
      return -1;
    at += 4; /* type, class */
  }
  for(unsigned i = 0; i < an; i++) {
    if(skip_name(buf, len, &at) || len - at < 10)
      return -1;
    uint16_t type = be16(buf + at);
    uint32_t t = (uint32_t)be16(buf + at + 4) << 16 | be16(buf + at + 6);
    size_t rdlen = be16(buf + at + 8);
    at += 10;
    if(rdlen > len - at)
      return -1;
    at += rdlen;
    if(type != DNS_TYPE_SRV)
      continue;
    if(t & 0x80000000u) /* RFC 2181: a TTL with the top bit set is 0 */
      t = 0;
    if(!*found || t < *ttl)
      *ttl = t;
    *found = 1;
  }
  return 0;
}

/* A target we will dial by name: letters, digits, '-', '_' and dots
 * between non-empty labels. c-ares writes odd bytes of a label escaped
 * ("\." for a dot inside one), which no relay's name has. */
static int plain_host(const char *h, size_t len)
{
  if(len == 0 || h[0] == '.' || h[len - 1] == '.')
    return 0;
  for(size_t i = 0; i < len; i++) {
    char c = h[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '-' || c == '_' ||
             (c == '.' && h[i + 1] != '.');
    if(!ok)
      return 0;
  }
  return 1;
}

int dns_srv_parse(const uint8_t *buf, size_t len, dns_srv_t *out, size_t cap,
                  size_t *n, uint32_t *ttl_s)
{
  *n = 0;
  *ttl_s = 0;
  if(len > 65535)
    return BEACON_EINVAL;
  int found = 0;
  if(min_srv_ttl(buf, len, ttl_s, &found))
    return BEACON_EINVAL;
  struct ares_srv_reply *srv = NULL;
  int rc = ares_parse_srv_reply(buf, (int)len, &srv);
  if(rc == ARES_ENOMEM)
    return BEACON_ENOMEM;
  if(rc == ARES_ENODATA || (rc == ARES_SUCCESS && !srv))
    return BEACON_ENOTFOUND;
  if(rc != ARES_SUCCESS)
    return BEACON_EINVAL;
  for(const struct ares_srv_reply *s = srv; s && *n < cap; s = s->next) {
    size_t hl = strlen(s->host);
    if(hl > 0 && s->host[hl - 1] == '.')
      hl--;
    if(hl == 0 || hl > RESOLVE_CACHE_MAX_NAME || s->port == 0)
      continue; /* "." says there is no such service here */
    if(!plain_host(s->host, hl))
      continue;
    dns_srv_t *o = &out[*n];
    memcpy(o->host, s->host, hl);
    o->host[hl] = '\0';
    o->port = s->port;
    o->priority = s->priority;
    o->weight = s->weight;
    (*n)++;
  }
  ares_free_data(srv);
  return *n ? 0 : BEACON_ENOTFOUND;
}
