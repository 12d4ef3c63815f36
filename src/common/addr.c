/* addr.c - IPv4/IPv6 literal parsing without socket headers (addr.h). */
#include <string.h>

#include "beacon/beacon.h"
#include "common/addr.h"

static int hexval(char c)
{
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int addr_parse4(const char *s, size_t len, uint8_t out[4])
{
  uint8_t b[4];
  size_t i = 0;

  for(int part = 0; part < 4; part++) {
    unsigned v = 0;
    size_t start = i;
    if(part) {
      if(i >= len || s[i] != '.')
        return BEACON_EINVAL;
      start = ++i;
    }
    while(i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
      v = v * 10 + (unsigned)(s[i++] - '0');
    if(i == start || v > 255)
      return BEACON_EINVAL;
    if(s[start] == '0' && i - start > 1)
      return BEACON_EINVAL; /* leading zero: octal in inet_aton */
    b[part] = (uint8_t)v;
  }
  if(i != len)
    return BEACON_EINVAL;
  memcpy(out, b, 4);
  return 0;
}

int addr_parse6(const char *s, size_t len, uint8_t out[16])
{
  uint8_t b[16];
  size_t i = 0, j = 0; /* j: bytes written so far */
  int ellipsis = -1;   /* byte offset where "::" stands */

  if(len >= 2 && s[0] == ':' && s[1] == ':') {
    ellipsis = 0;
    i = 2;
  }
  while(i < len) {
    size_t start = i;
    unsigned v = 0;

    for(;;) {
      int d = i < len && i - start < 5 ? hexval(s[i]) : -1;
      if(d < 0)
        break;
      v = (v << 4) | (unsigned)d;
      i++;
    }
    if(i < len && s[i] == '.') {
      /* A trailing dotted quad fills the last 32 bits. */
      if(j > 12 || addr_parse4(s + start, len - start, b + j))
        return BEACON_EINVAL;
      j += 4;
      i = len;
      break;
    }
    if(i == start || i - start > 4 || j == 16)
      return BEACON_EINVAL;
    b[j++] = (uint8_t)(v >> 8);
    b[j++] = (uint8_t)v;
    if(i == len)
      break;
    if(s[i] != ':')
      return BEACON_EINVAL; /* includes '%' zone ids */
    i++;
    if(i < len && s[i] == ':') {
      if(ellipsis >= 0)
        return BEACON_EINVAL;
      ellipsis = (int)j;
      i++;
    } else if(i == len)
      return BEACON_EINVAL; /* trailing single ':' */
  }
  if(ellipsis < 0) {
    if(j != 16)
      return BEACON_EINVAL;
  } else {
    size_t n = j - (size_t)ellipsis;
    if(j == 16)
      return BEACON_EINVAL; /* "::" must stand for at least one group */
    memmove(b + 16 - n, b + ellipsis, n);
    memset(b + ellipsis, 0, 16 - n - (size_t)ellipsis);
  }
  memcpy(out, b, 16);
  return 0;
}

int addr_is_mapped(const uint8_t a[16])
{
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return !memcmp(a, prefix, sizeof(prefix));
}
