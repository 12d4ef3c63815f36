/*
 * socks.h - a sans-I/O SOCKS5 server handshake (RFC 1928) for `beacon
 * forward`: no-auth only, CONNECT only, ATYP IPv4 / IPv6 / domain name
 * (names are passed on unresolved, docs/OPERATIONS.md "The controller side").
 * Fed bytes as they arrive, in any split; it consumes exactly the handshake
 * and not one byte of payload after it. No I/O, no allocation.
 */
#ifndef BEACON_PROXY_SOCKS_H
#define BEACON_PROXY_SOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"
#include "common/error.h"

/* Reply codes (RFC 1928 §6). */
enum {
  SOCKS_OK = 0x00,
  SOCKS_GENERAL_FAILURE = 0x01,
  SOCKS_NOT_ALLOWED = 0x02,
  SOCKS_NET_UNREACHABLE = 0x03,
  SOCKS_HOST_UNREACHABLE = 0x04,
  SOCKS_REFUSED = 0x05,
  SOCKS_TTL_EXPIRED = 0x06,
  SOCKS_CMD_UNSUPPORTED = 0x07,
  SOCKS_ATYP_UNSUPPORTED = 0x08
};

#define SOCKS_REPLY_SIZE 10 /* VER REP RSV ATYP=1 0.0.0.0 port 0 */

typedef struct proxy_socks {
  int state;
  size_t len;       /* bytes of the current message buffered */
  uint8_t buf[262]; /* the longest message: a domain request */
  /* Bytes to send to the client: the method selection, a request
   * reply, or both when greeting and request came in one read. */
  uint8_t reply[2 + SOCKS_REPLY_SIZE];
  size_t reply_len;
  char target[TARGET_MAX_LINE + 1]; /* "host:port", IPv6 in brackets */
} proxy_socks_t;

void proxy_socks_init(proxy_socks_t *s);

/*
 * Feeds *inlen bytes; on return *inlen holds how many were consumed.
 * After every call, send s->reply (reply_len bytes) when reply_len > 0,
 * then set reply_len to 0. Returns:
 *   BEACON_EAGAIN  more bytes needed (all consumed);
 *   0              a CONNECT request is complete: s->target is set, the
 *                  bytes after *inlen are payload; answer with
 *                  proxy_socks_reply() once the outcome is known;
 *   BEACON_EINVAL  not SOCKS5, or no acceptable method, unsupported
 *                  command or address type (reply holds the answer, when
 *                  the protocol has one), or a malformed target: close
 *                  after sending the reply.
 * Once it returned 0 or an error, further calls return BEACON_EINVAL.
 */
BEACON_MUST_USE int proxy_socks_feed(proxy_socks_t *s, const uint8_t *in,
                                     size_t *inlen);

/* Writes a request reply with `code` (and an unspecified bound
 * address) into out; returns SOCKS_REPLY_SIZE. */
size_t proxy_socks_reply(uint8_t out[SOCKS_REPLY_SIZE], int code);

#endif
