/* cert_names.c - a certificate's DNS and IP names in one line
 * (cert_names.h). */
#include "tls/cert_names.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/x509v3.h>

/* Appends ", name" (or "name" first) to out; 0, or -1 when it does not
 * fit, after ending out with "...". */
static int append(char *out, size_t cap, size_t *used, const char *name,
                  size_t len)
{
  size_t sep = *used ? 2 : 0;
  if(*used + sep + len + 4 > cap) { /* room for "..." and the NUL */
    if(*used + 4 <= cap)
      memcpy(out + *used, "...", 4);
    return -1;
  }
  if(sep)
    memcpy(out + *used, ", ", 2);
  memcpy(out + *used + sep, name, len);
  *used += sep + len;
  out[*used] = 0;
  return 0;
}

static int append_ip(char *out, size_t cap, size_t *used,
                     const ASN1_OCTET_STRING *ip)
{
  char text[INET6_ADDRSTRLEN];
  int len = ASN1_STRING_length(ip);
  const unsigned char *p = ASN1_STRING_get0_data(ip);
  int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
  if(!af || !inet_ntop(af, p, text, sizeof(text)))
    snprintf(text, sizeof(text), "(an IP name of %d bytes)", len);
  return append(out, cap, used, text, strlen(text));
}

char *tls_cert_names(const void *cert, char *out, size_t cap)
{
  size_t used = 0;
  if(!cap)
    return out;
  out[0] = 0;
  GENERAL_NAMES *names =
      X509_get_ext_d2i((const X509 *)cert, NID_subject_alt_name, NULL, NULL);
  int n = names ? sk_GENERAL_NAME_num(names) : 0;
  for(int i = 0; i < n; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    int rc = 0;
    if(g->type == GEN_DNS)
      rc = append(out, cap, &used,
                  (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                  (size_t)ASN1_STRING_length(g->d.dNSName));
    else if(g->type == GEN_IPADD)
      rc = append_ip(out, cap, &used, g->d.iPAddress);
    if(rc)
      break;
  }
  GENERAL_NAMES_free(names);
  if(!used && !out[0])
    snprintf(out, cap, "no DNS or IP names");
  return out;
}
