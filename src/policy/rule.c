/*
 * rule.c - parsing of --allow/--deny rules (docs/ARCHITECTURE.md "Deny by
 * default", syntax in policy.h): CIDR[:PORT[-PORT]], IPv6 in brackets when a
 * port follows.
 *
 * Decisions:
 *  - A bare address is a host route (/32 or /128).
 *  - Host bits set below the prefix ("10.1.0.0/8") are an error, not
 *    silently masked: in a security policy such a rule is almost always
 *    a typo for a narrower network, and masking would widen it.
 *  - An IPv4-mapped IPv6 rule (::ffff:0:0/96 and longer) is stored as the
 *    equivalent IPv4 rule, because mapped destinations are judged as IPv4
 *    (policy_check), so the two spellings cannot disagree.
 *  - Ports are 1..5 decimal digits, 1..65535, and a range must not be
 *    inverted. A rule without a port matches every port.
 */
#include <stdio.h>
#include <string.h>

#include "beacon/beacon.h"
#include "common/addr.h"
#include "policy/rule.h"

static int fail(char *err, size_t errlen, const char *msg, const char *s,
                size_t len)
{
  if(err && errlen) {
    if(s)
      snprintf(err, errlen, msg, (int)len, s);
    else
      snprintf(err, errlen, "%s", msg);
  }
  return BEACON_EINVAL;
}

/* Decimal without sign or spaces, at most `maxdigits` digits. -1 if not
 * a number. */
static long number(const char *s, size_t len, size_t maxdigits)
{
  long v = 0;
  if(len == 0 || len > maxdigits)
    return -1;
  for(size_t i = 0; i < len; i++) {
    if(s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int port_one(const char *s, size_t len, uint16_t *out, char *err,
                    size_t errlen)
{
  long v = number(s, len, 6);
  if(v < 0)
    return fail(err, errlen, "bad port '%.*s': expected 1-65535", s, len);
  if(v == 0)
    return fail(err, errlen, "port 0 is not a valid port", NULL, 0);
  if(v > 65535)
    return fail(err, errlen, "port %.*s is above 65535", s, len);
  *out = (uint16_t)v;
  return 0;
}

static int ports(policy_rule_t *r, const char *s, size_t len, char *err,
                 size_t errlen)
{
  const char *dash = memchr(s, '-', len);
  size_t l1 = dash ? (size_t)(dash - s) : len;

  if(port_one(s, l1, &r->port_lo, err, errlen))
    return BEACON_EINVAL;
  if(!dash) {
    r->port_hi = r->port_lo;
    return 0;
  }
  if(port_one(dash + 1, len - l1 - 1, &r->port_hi, err, errlen))
    return BEACON_EINVAL;
  if(r->port_hi < r->port_lo)
    return fail(err, errlen, "inverted port range '%.*s'", s, len);
  return 0;
}

static int host_bits_clear(const uint8_t *a, unsigned prefix, size_t n)
{
  for(size_t bit = prefix; bit < n * 8; bit++)
    if(a[bit / 8] & (0x80 >> (bit % 8)))
      return 0;
  return 1;
}

static int cidr(policy_rule_t *r, const char *s, size_t len, int want6,
                char *err, size_t errlen)
{
  const char *slash = memchr(s, '/', len);
  size_t alen = slash ? (size_t)(slash - s) : len;
  unsigned max;
  long prefix;

  if(!want6 && !addr_parse4(s, alen, r->net)) {
    r->family = 4;
    max = 32;
  } else if(want6 && !addr_parse6(s, alen, r->net)) {
    r->family = 6;
    max = 128;
  } else
    return fail(err, errlen, "bad address '%.*s'", s, alen);
  if(!slash)
    prefix = max;
  else {
    size_t plen = len - alen - 1;
    prefix = number(slash + 1, plen, 3);
    if(prefix < 0 || (plen > 1 && slash[1] == '0'))
      return fail(err, errlen, "bad prefix length '/%.*s'", slash + 1, plen);
    if(prefix > (long)max)
      return fail(err, errlen,
                  max == 32 ? "prefix /%.*s is longer than 32 bits"
                            : "prefix /%.*s is longer than 128 bits",
                  slash + 1, plen);
  }
  r->prefix = (unsigned)prefix;
  if(!host_bits_clear(r->net, r->prefix, max / 8))
    return fail(err, errlen,
                "host bits set in '%.*s' (give the network address)", s, len);
  if(r->family == 6 && r->prefix >= 96 && addr_is_mapped(r->net)) {
    memmove(r->net, r->net + 12, 4);
    memset(r->net + 4, 0, 12);
    r->family = 4;
    r->prefix -= 96;
  }
  return 0;
}

int policy_rule_parse(policy_rule_t *r, int allow, const char *text, char *err,
                      size_t errlen)
{
  size_t len;
  const char *colon, *net;
  size_t netlen;
  int six;

  if(err && errlen)
    err[0] = 0;
  if(!text || !text[0])
    return fail(err, errlen, "empty rule", NULL, 0);
  len = strlen(text);
  if(len > POLICY_RULE_MAX)
    return fail(err, errlen, "rule is longer than 80 bytes", NULL, 0);
#if POLICY_RULE_MAX != 80
#error "keep the message above in step with POLICY_RULE_MAX"
#endif
  /* "[::1]/128:22" is written as often as "[::1/128]:22": move a prefix
   * that follows the bracket inside it. */
  char norm[POLICY_RULE_MAX + 2];
  if(text[0] == '[') {
    const char *rb = memchr(text, ']', len);
    if(rb && rb[1] == '/') {
      size_t head = (size_t)(rb - text);
      size_t plen = 1 + strspn(rb + 2, "0123456789");
      snprintf(norm, sizeof(norm), "%.*s%.*s]%s", (int)head, text, (int)plen,
               rb + 1, rb + 1 + plen);
      text = norm;
    }
  }
  memset(r, 0, sizeof(*r));
  r->allow = allow ? 1 : 0;
  r->port_lo = 0; /* no port given: every port */
  r->port_hi = 65535;

  if(text[0] == '[') {
    const char *rb = memchr(text, ']', len);
    if(!rb)
      return fail(err, errlen, "missing ']'", NULL, 0);
    net = text + 1;
    netlen = (size_t)(rb - net);
    colon = rb + 1;
    if(*colon && *colon != ':')
      return fail(err, errlen, "expected ':PORT' after ']'", NULL, 0);
    if(!*colon)
      colon = NULL;
    if(!memchr(net, ':', netlen) &&
       !addr_parse4(net, strcspn(net, "/]"), r->net))
      return fail(err, errlen, "brackets are only for IPv6 ('%.*s')", net,
                  netlen);
    six = 1;
  } else {
    const char *c1 = memchr(text, ':', len);
    net = text;
    six = c1 && memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - text));
    /* Two colons or more: an IPv6 CIDR, which cannot carry a port
     * without brackets. */
    colon = six ? NULL : c1;
    netlen = colon ? (size_t)(colon - text) : len;
  }
  if(cidr(r, net, netlen, six, err, errlen))
    return BEACON_EINVAL;
  if(colon &&
     ports(r, colon + 1, len - (size_t)(colon + 1 - text), err, errlen))
    return BEACON_EINVAL;
  snprintf(r->why, sizeof(r->why), "%s %s", allow ? "allow" : "deny", text);
  return 0;
}

int policy_prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
  unsigned whole = prefix / 8, rest = prefix % 8;
  if(memcmp(a, net, whole))
    return 0;
  if(rest) {
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    if((a[whole] & mask) != (net[whole] & mask))
      return 0;
  }
  return 1;
}
