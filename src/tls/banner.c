/* banner.c - naming what answered a TLS handshake without TLS
 * (banner.h). */
#include "tls/banner.h"

#include <string.h>

static int starts(const uint8_t *p, size_t n, const char *word)
{
  size_t w = strlen(word);
  return n >= w && !memcmp(p, word, w);
}

const char *tls_banner_guess(const uint8_t *p, size_t n)
{
  if(!n)
    return NULL;
  /* A TLS record: content type 20-23 (change_cipher_spec, alert,
   * handshake, application data), then major version 3. */
  if(p[0] >= 20 && p[0] <= 23 && (n < 2 || p[1] == 3))
    return NULL;
  if(starts(p, n, "HTTP/"))
    return "an HTTP server";
  if(starts(p, n, "SSH-"))
    return "an SSH server";
  /* RESP replies to the ClientHello's bytes: an error ("-ERR ...",
   * "-NOAUTH ...") or, rarely, a status ("+OK"). */
  if(starts(p, n, "-ERR") || starts(p, n, "-NOAUTH") ||
     starts(p, n, "-DENIED") || starts(p, n, "+OK"))
    return "a Redis server";
  return "a peer that does not speak TLS";
}
