/*
 * pki_cert.h - building and signing the development PKI's certificates
 * (pki_cert.c).
 */
#ifndef BEACON_PKI_CERT_H
#define BEACON_PKI_CERT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli_support/pki_int.h"

/* key usage / EKU bits for pki_make_cert() */
enum { EKU_SERVER = 1, EKU_CLIENT = 2 };

typedef struct cert_spec {
  const char *cn;
  const char *org;
  EVP_PKEY *pub;        /* subject key */
  X509 *issuer;         /* NULL: self-signed */
  EVP_PKEY *issuer_key; /* signs; the subject key when self-signed */
  int ca;               /* CA:TRUE */
  int pathlen;          /* -1: none */
  int eku;              /* EKU_* bits; 0 = no EKU extension */
  const char *sans;     /* comma-separated, may be NULL */
  X509_NAME *subject;   /* overrides cn/org when set */
  GENERAL_NAMES *gens;  /* overrides sans when set */
  long nb_secs;         /* notBefore offset from now */
  long na_secs;         /* notAfter offset from now */
} cert_spec_t;

/* "a.example,127.0.0.1,::1" (entries may carry DNS: / IP: prefixes) into
 * GENERAL_NAMES; NULL on a malformed list (message in err). */
GENERAL_NAMES *pki_parse_sans(const char *list, char *err, size_t errlen);
X509_NAME *pki_make_name(const char *org, const char *cn);
/* Builds and signs a certificate per spec. NULL with err set on failure. */
X509 *pki_make_cert(const cert_spec_t *s, char *err, size_t errlen);
/* Generates a key, writes DIR/NAME.key then DIR/NAME.crt (cert followed by
 * extra, when given). The certificate and key go to *cert_out and
 * *key_out when those are not NULL. */
int pki_new_pair(const char *dir, const char *name, cert_spec_t *spec,
                 X509 *extra, int replace, X509 **cert_out, EVP_PKEY **key_out,
                 char *err, size_t errlen);

#endif
