/*
 * text_out.c - text built into a fixed buffer (text_out.h).
 */
#include "common/text_out.h"

#include <string.h>

void text_out_init(text_out_t *o, char *buf, size_t cap)
{
  o->buf = buf;
  o->cap = cap;
  o->len = 0;
}

void text_out_put(text_out_t *o, const char *s, size_t n)
{
  if(o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

void text_out_str(text_out_t *o, const char *s)
{
  text_out_put(o, s, strlen(s));
}

int text_out_overflowed(const text_out_t *o)
{
  return o->len > o->cap;
}
