/*
 * text_out.h - text built into a caller's fixed buffer (text_out.c), as
 * snprintf would: writing stops at the end of the buffer, but the
 * length keeps counting, so the caller learns both that it did not fit
 * and how much room it would have taken. Used by the metrics page and
 * the HTTP proxy's rewritten request heads.
 */
#ifndef BEACON_TEXT_OUT_H
#define BEACON_TEXT_OUT_H

#include <stddef.h>

typedef struct text_out {
  char *buf;
  size_t cap; /* bytes buf may take */
  size_t len; /* bytes put so far, written or not */
} text_out_t;

/* An empty text in buf[0, cap). */
void text_out_init(text_out_t *o, char *buf, size_t cap);
/* Appends n bytes of s (what fits of them). */
void text_out_put(text_out_t *o, const char *s, size_t n);
/* Appends the NUL-terminated s. */
void text_out_str(text_out_t *o, const char *s);
/* 1 when something did not fit. */
int text_out_overflowed(const text_out_t *o);

#endif
