/* pin.c - relay key pins (pin.h). */
#include "tls/pin.h"

#include <ctype.h>
#include <string.h>

#include "common/error.h"
#include "tls/identity.h"

int tls_pin_parse(const char *text, char hex[65])
{
  size_t n = 0;
  if(!text)
    return BEACON_EINVAL;
  for(const char *p = text; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    /* a colon only between two pairs, as `openssl dgst -c` writes them */
    if(ch == ':' && n > 0 && n % 2 == 0 && p[1] && p[-1] != ':')
      continue;
    if(!isxdigit(ch) || n >= 64)
      return BEACON_EINVAL;
    hex[n++] = (char)tolower(ch);
  }
  if(n != 64)
    return BEACON_EINVAL;
  hex[64] = '\0';
  return 0;
}

int tls_pins_add(tls_pins_t *p, const char *text)
{
  char hex[65];
  if(!p || tls_pin_parse(text, hex))
    return BEACON_EINVAL;
  for(int i = 0; i < p->n; i++)
    if(!strcmp(p->hex[i], hex))
      return 0;
  if(p->n >= TLS_PINS_MAX)
    return BEACON_ELIMIT;
  memcpy(p->hex[p->n++], hex, sizeof(hex));
  return 0;
}

int tls_pins_verify(const tls_pins_t *p, const void *x509_pubkey,
                    char presented[65])
{
  if(!p || !p->n)
    return 1;
  if(!x509_pubkey || tls_identity_spki_hex(x509_pubkey, presented))
    return BEACON_EINVAL;
  for(int i = 0; i < p->n; i++)
    if(!strcmp(p->hex[i], presented))
      return 1;
  return 0;
}
