/* http_body.c - the body-end scanner (http_body.h). */
#include "proxy/http_body.h"

#include "beacon/beacon.h"

/* Where a chunked body's scanner is (RFC 9112 §7.1). */
enum {
  CH_SIZE,     /* hex digits of a chunk-size */
  CH_EXT,      /* extensions, up to the line's LF */
  CH_DATA,     /* chunk data */
  CH_DATA_END, /* the CR LF after the data */
  CH_TRAILER,  /* a trailer line (or the empty line that ends) */
};

void http_body_init(http_body_t *b, http_body_kind_t kind, uint64_t length)
{
  *b = (http_body_t){.kind = kind, .state = CH_SIZE};
  if(kind == HTTP_BODY_LENGTH)
    b->left = length;
  b->done = kind == HTTP_BODY_NONE || (kind == HTTP_BODY_LENGTH && !length);
}

static int hex(uint8_t c)
{
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* One byte of a chunk-size line, a trailer line or a data terminator
 * (the data itself is skipped in bulk by the caller). */
static int chunk_byte(http_body_t *b, uint8_t c)
{
  switch(b->state) {
  case CH_SIZE: {
    int v = hex(c);
    if(v >= 0) {
      if(++b->digits > 15) /* 16^15: far past any real chunk, and no wrap */
        return BEACON_EINVAL;
      b->left = b->left * 16 + (uint64_t)v;
      b->line++;
      return 0;
    }
    if(!b->digits)
      return BEACON_EINVAL;
    b->state = CH_EXT; /* this byte starts the extensions or ends the line */
    return chunk_byte(b, c);
  }
  case CH_EXT:
    if(++b->line > HTTP_BODY_MAX_LINE)
      return BEACON_EINVAL;
    if(c != '\n')
      return 0;
    b->line = 0;
    b->digits = 0;
    b->state = b->left ? CH_DATA : CH_TRAILER;
    return 0;
  case CH_DATA_END:
    /* CR LF, or a bare LF (RFC 9112 §2.2 lets a recipient accept it). */
    if(c == '\r' && !b->line) {
      b->line = 1;
      return 0;
    }
    if(c != '\n')
      return BEACON_EINVAL;
    b->line = 0;
    b->state = CH_SIZE;
    return 0;
  case CH_TRAILER:
    if(++b->trailers > HTTP_BODY_MAX_TRAILERS)
      return BEACON_EINVAL;
    if(c != '\n') {
      /* line counts the bytes so far; cr_first whether the line is so
       * far just a CR (a CR LF line is the empty one). */
      b->cr_first = !b->line && c == '\r';
      b->line++;
      return 0;
    }
    /* An empty line (LF, or CR LF) ends the message. */
    if(b->line == 0 || (b->line == 1 && b->cr_first))
      b->done = 1;
    b->line = 0;
    return 0;
  default:
    return BEACON_EINVAL;
  }
}

int http_body_scan(http_body_t *b, const uint8_t *in, size_t n, size_t *used)
{
  size_t i = 0;
  if(b->kind == HTTP_BODY_UNTIL_CLOSE) {
    *used = n;
    return 0;
  }
  if(b->kind == HTTP_BODY_LENGTH) {
    i = b->left < n ? (size_t)b->left : n;
    b->left -= i;
    b->done = !b->left;
  }
  while(b->kind == HTTP_BODY_CHUNKED && i < n && !b->done) {
    if(b->state == CH_DATA) {
      size_t take = b->left < n - i ? (size_t)b->left : n - i;
      i += take;
      b->left -= take;
      if(!b->left)
        b->state = CH_DATA_END;
      continue;
    }
    int rc = chunk_byte(b, in[i++]);
    if(rc) {
      *used = i;
      return rc;
    }
  }
  *used = i;
  return 0;
}
