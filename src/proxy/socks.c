/* socks.c - the SOCKS5 handshake as a state machine (socks.h). */
#include "proxy/socks.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "beacon/beacon.h"

enum { ST_GREETING = 0, ST_REQUEST, ST_DONE };

void proxy_socks_init(proxy_socks_t *s)
{
  memset(s, 0, sizeof(*s));
  s->state = ST_GREETING;
}

size_t proxy_socks_reply(uint8_t out[SOCKS_REPLY_SIZE], int code)
{
  static const uint8_t tail[7] = {0, 1, 0, 0, 0, 0, 0};
  out[0] = 5;
  out[1] = (uint8_t)code;
  memcpy(out + 2, tail, sizeof(tail));
  out[9] = 0;
  return SOCKS_REPLY_SIZE;
}

/* Bytes the current message needs in total, judging by what is
 * buffered; 0 while that is not known yet. */
static size_t need(const proxy_socks_t *s)
{
  /* A wrong version byte is judged at once: it is not SOCKS5, and
   * waiting for a length it does not have would stall the client. */
  if(s->len >= 1 && s->buf[0] != 5)
    return s->len;
  if(s->state == ST_GREETING)
    return s->len < 2 ? 2 : 2 + (size_t)s->buf[1];
  if(s->len < 4)
    return 4;
  switch(s->buf[3]) {
  case 1:
    return 4 + 4 + 2;
  case 4:
    return 4 + 16 + 2;
  case 3:
    return s->len < 5 ? 5 : 4 + 1 + (size_t)s->buf[4] + 2;
  default:
    return 4; /* unknown ATYP: judged at once */
  }
}

static int reject(proxy_socks_t *s, int code)
{
  s->state = ST_DONE;
  /* Appended: the method selection may still be unsent. */
  if(code >= 0)
    s->reply_len += proxy_socks_reply(s->reply + s->reply_len, code);
  return BEACON_EINVAL;
}

static int greeting(proxy_socks_t *s)
{
  if(s->buf[0] != 5) {
    s->state = ST_DONE;
    return BEACON_EINVAL; /* not SOCKS5: nothing sensible to answer */
  }
  int ok = 0;
  for(size_t i = 0; i < s->buf[1]; i++)
    if(s->buf[2 + i] == 0)
      ok = 1;
  s->reply[0] = 5;
  s->reply[1] = ok ? 0x00 : 0xff;
  s->reply_len = 2;
  if(!ok) {
    s->state = ST_DONE;
    return BEACON_EINVAL;
  }
  s->state = ST_REQUEST;
  s->len = 0;
  return BEACON_EAGAIN;
}

static int request(proxy_socks_t *s)
{
  const uint8_t *b = s->buf;
  char host[256];
  size_t hl;
  if(b[0] != 5 || b[2] != 0)
    return reject(s, SOCKS_GENERAL_FAILURE);
  if(b[1] != 1)
    return reject(s, SOCKS_CMD_UNSUPPORTED);
  const uint8_t *port;
  switch(b[3]) {
  case 1:
    snprintf(host, sizeof(host), "%u.%u.%u.%u", b[4], b[5], b[6], b[7]);
    port = b + 8;
    break;
  case 4:
    /* RFC 5952 text, as a user would write it: [2001:db8::1] */
    host[0] = '[';
    if(!inet_ntop(AF_INET6, b + 4, host + 1, INET6_ADDRSTRLEN))
      return reject(s, SOCKS_GENERAL_FAILURE);
    hl = strlen(host);
    memcpy(host + hl, "]", 2);
    port = b + 20;
    break;
  case 3:
    hl = b[4];
    if(!hl || memchr(b + 5, 0, hl))
      return reject(s, SOCKS_HOST_UNREACHABLE);
    memcpy(host, b + 5, hl);
    host[hl] = 0;
    port = b + 5 + hl;
    break;
  default:
    return reject(s, SOCKS_ATYP_UNSUPPORTED);
  }
  unsigned p = (unsigned)port[0] << 8 | port[1];
  int n = snprintf(s->target, sizeof(s->target), "%s:%u", host, p);
  if(n < 0 || (size_t)n >= sizeof(s->target) ||
     target_from_string(s->target, (size_t)n, NULL))
    return reject(s, SOCKS_HOST_UNREACHABLE);
  s->state = ST_DONE;
  return 0;
}

int proxy_socks_feed(proxy_socks_t *s, const uint8_t *in, size_t *inlen)
{
  size_t avail = *inlen, used = 0;
  if(s->state == ST_DONE) {
    *inlen = 0;
    return BEACON_EINVAL;
  }
  for(;;) {
    size_t want = need(s);
    while(s->len < want && used < avail) {
      s->buf[s->len++] = in[used++];
      want = need(s);
    }
    if(s->len < want) {
      *inlen = used;
      return BEACON_EAGAIN;
    }
    int rc = s->state == ST_GREETING ? greeting(s) : request(s);
    if(rc != BEACON_EAGAIN) {
      *inlen = used;
      return rc;
    }
  }
}
