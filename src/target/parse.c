/*
 * parse.c - the incremental target-line parser and formatter
 * (docs/PROTOCOL.md "The target line", contract in target.h).
 *
 * Bytes are buffered into the parser until the newline; the line is then
 * validated by target_from_string(). A byte that can never appear in a
 * valid line ('\r', NUL, spaces, '%', ...) fails the line as soon as it
 * arrives, so a CRLF line ending is rejected: the protocol is LF only.
 */
#include <stdio.h>
#include <string.h>

#include "beacon/beacon.h"
#include "target/target.h"

/* Letters, digits and "-_.:[]" are the only bytes of a valid line. */
static int line_byte(uint8_t c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
         c == ':' || c == '[' || c == ']';
}

void target_parser_init(target_parser_t *p)
{
  p->len = 0;
  p->done = 0;
  p->line[0] = 0;
}

int target_parse(target_parser_t *p, const uint8_t *in, size_t *inlen,
                 target_t *out)
{
  size_t n = *inlen;

  if(p->done) {
    *inlen = 0;
    return BEACON_EINVAL;
  }
  for(size_t i = 0; i < n; i++) {
    uint8_t c = in[i];
    if(c == '\n') {
      *inlen = i + 1;
      p->done = 1;
      p->line[p->len] = 0;
      return target_from_string(p->line, p->len, out);
    }
    if(p->len == TARGET_MAX_LINE) {
      *inlen = i + 1; /* byte 256 without a newline */
      p->done = 1;
      return BEACON_ETOOLONG;
    }
    if(!line_byte(c)) {
      *inlen = i + 1;
      p->done = 1;
      return BEACON_EINVAL;
    }
    p->line[p->len++] = (char)c;
  }
  *inlen = n;
  return BEACON_EAGAIN;
}

int target_format(const target_t *t, char *buf, size_t cap)
{
  size_t hlen;
  int n;

  if(!t || !buf || t->port == 0)
    return BEACON_EINVAL;
  hlen = strnlen(t->host, sizeof(t->host));
  if(hlen == 0 || hlen == sizeof(t->host))
    return BEACON_EINVAL;
  if(t->kind == TARGET_IPV6)
    n = snprintf(buf, cap, "[%s]:%u\n", t->host, (unsigned)t->port);
  else if(t->kind == TARGET_DNS || t->kind == TARGET_IPV4)
    n = snprintf(buf, cap, "%s:%u\n", t->host, (unsigned)t->port);
  else
    return BEACON_EINVAL;
  if(n < 0)
    return BEACON_EINVAL;
  if((size_t)n >= cap || (size_t)n - 1 > TARGET_MAX_LINE) {
    if(cap)
      buf[0] = 0;
    return BEACON_ETOOLONG;
  }
  return n;
}
