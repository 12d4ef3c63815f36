/*
 * host.c - validation of a "host:port" target (docs/PROTOCOL.md "The target
 * line").
 *
 * Accepted hosts:
 *  - an IPv4 literal: four decimal octets, no leading zeros;
 *  - an IPv6 literal in brackets (embedded dotted quads allowed, zone ids
 *    not: a zone names an interface of the relay, not a destination);
 *  - a DNS name as Go's net package accepts it: letters, digits, '-',
 *    '_', '.', labels of 1..63 bytes, no label starting or ending with
 *    '-', at least one non-digit, at most 253 bytes (254 with the one
 *    trailing dot Go also accepts, "example.com."). Unlike Go, a name
 *    that inet_aton() would read as an address ("0x7f.1") is refused, so
 *    no host reaches the resolver as a disguised numeric address.
 * A host made only of digits and dots must be a valid IPv4 literal; this
 * also refuses the root name "." (Go accepts it, but there is nothing to
 * dial there).
 * The port is 1..5 decimal digits with a value of 1..65535 (no sign, no
 * spaces). Nothing may follow the port.
 */
#include <string.h>

#include "beacon/beacon.h"
#include "common/addr.h"
#include "target/target.h"

#define DNS_MAX 253 /* RFC 1035 presentation limit without the dot */
#define LABEL_MAX 63

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(char c)
{
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Would inet_aton() accept this label as a number (decimal, octal or
 * 0x-hex)? */
static int numeric_label(const char *s, size_t len)
{
  size_t i = 0;
  if(len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    for(i = 2; i < len; i++)
      if(!is_hex(s[i]))
        return 0;
    return 1;
  }
  for(i = 0; i < len; i++)
    if(!is_digit(s[i]))
      return 0;
  return len > 0;
}

/* 1 if every label of at most four is numeric: getaddrinfo() would take
 * the name for an IPv4 address in inet_aton()'s loose syntax. */
static int looks_numeric(const char *s, size_t len)
{
  size_t start = 0;
  int labels = 0;
  for(size_t i = 0; i <= len; i++) {
    if(i == len || s[i] == '.') {
      if(++labels > 4 || !numeric_label(s + start, i - start))
        return 0;
      start = i + 1;
    }
  }
  return 1;
}

static int dns_ok(const char *s, size_t len)
{
  char last = '.';
  int non_numeric = 0;
  size_t label = 0;

  /* Go's limit; a 255-byte line cannot carry more than 253 anyway. */
  if(len > DNS_MAX + (s[len - 1] == '.'))
    return 0;
  for(size_t i = 0; i < len; i++) {
    char c = s[i];
    if(is_alpha(c) || c == '_') {
      non_numeric = 1;
      label++;
    } else if(is_digit(c))
      label++;
    else if(c == '-') {
      if(last == '.')
        return 0; /* a label may not start with '-' */
      non_numeric = 1;
      label++;
    } else if(c == '.') {
      if(last == '.' || last == '-' || label > LABEL_MAX)
        return 0; /* empty label, or one ending in '-' */
      label = 0;
    } else
      return 0;
    last = c;
  }
  if(last == '-' || label > LABEL_MAX || !non_numeric)
    return 0;
  if(s[len - 1] == '.')
    len--;
  return !looks_numeric(s, len);
}

static int port_parse(const char *s, size_t len, uint16_t *port)
{
  unsigned v = 0;
  if(len == 0 || len > 5)
    return BEACON_EINVAL;
  for(size_t i = 0; i < len; i++) {
    if(!is_digit(s[i]))
      return BEACON_EINVAL;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if(v == 0 || v > 65535)
    return BEACON_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

static int all_digits_dots(const char *s, size_t len)
{
  for(size_t i = 0; i < len; i++)
    if(!is_digit(s[i]) && s[i] != '.')
      return 0;
  return 1;
}

int target_from_string(const char *s, size_t len, target_t *out)
{
  target_t t;
  const char *host, *colon;
  size_t hlen;
  uint8_t bin[16];

  if(!s)
    return BEACON_EINVAL;
  if(len > TARGET_MAX_LINE)
    return BEACON_ETOOLONG;
  if(len == 0 || memchr(s, 0, len))
    return BEACON_EINVAL;

  if(s[0] == '[') {
    const char *rb = memchr(s, ']', len);
    if(!rb)
      return BEACON_EINVAL;
    host = s + 1;
    hlen = (size_t)(rb - host);
    colon = rb + 1;
    if(colon >= s + len || *colon != ':')
      return BEACON_EINVAL;
    if(addr_parse6(host, hlen, bin))
      return BEACON_EINVAL;
    t.kind = TARGET_IPV6;
  } else {
    colon = NULL;
    for(size_t i = len; i > 0; i--) {
      if(s[i - 1] == ':') {
        colon = s + i - 1;
        break;
      }
    }
    if(!colon)
      return BEACON_EINVAL;
    host = s;
    hlen = (size_t)(colon - s);
    /* Another ':' in the host is an unbracketed IPv6 literal, which is
     * ambiguous with the port: refused. */
    if(hlen == 0 || memchr(host, ':', hlen))
      return BEACON_EINVAL;
    if(all_digits_dots(host, hlen)) {
      if(addr_parse4(host, hlen, bin))
        return BEACON_EINVAL;
      t.kind = TARGET_IPV4;
    } else if(dns_ok(host, hlen))
      t.kind = TARGET_DNS;
    else
      return BEACON_EINVAL;
  }
  if(port_parse(colon + 1, len - (size_t)(colon + 1 - s), &t.port))
    return BEACON_EINVAL;
  if(out) {
    memcpy(t.host, host, hlen);
    t.host[hlen] = 0;
    *out = t;
  }
  return 0;
}
