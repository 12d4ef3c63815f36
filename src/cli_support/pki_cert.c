/* pki_cert.c - building and signing certificates, and SAN lists
 * (cli_support/pki_cert.h). */
#include "cli_support/pki_cert.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "beacon/beacon.h"
#include "cli_support/pki_files.h"

static int rand_serial(X509 *x)
{
  unsigned char b[16];
  if(RAND_bytes(b, sizeof(b)) != 1)
    return -1;
  b[0] &= 0x7f; /* positive */
  b[0] |= 0x40; /* full 128-bit length, never zero */
  BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
  if(!bn)
    return -1;
  ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
  BN_free(bn);
  if(!ai)
    return -1;
  int rc = X509_set_serialNumber(x, ai) == 1 ? 0 : -1;
  ASN1_INTEGER_free(ai);
  return rc;
}

/* Letters, digits and . - * _ only, at most 253. */
static int dns_name_ok(const char *s, size_t n)
{
  if(n == 0 || n > 253)
    return 0;
  for(size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if(!(c == '.' || c == '-' || c == '*' || c == '_' ||
         (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z')))
      return 0;
  }
  return 1;
}

/* One trimmed SAN entry into gn. 0, BEACON_EINVAL (message in err) or
 * BEACON_ENOMEM. */
static int parse_san(char *tok, GENERAL_NAME *gn, char *err, size_t errlen)
{
  int want_ip = 0, want_dns = 0;
  if(!strncasecmp(tok, "IP:", 3)) {
    want_ip = 1;
    tok += 3;
  } else if(!strncasecmp(tok, "DNS:", 4)) {
    want_dns = 1;
    tok += 4;
  }
  ASN1_OCTET_STRING *ip = want_dns ? NULL : a2i_IPADDRESS(tok);
  if(ip) {
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
    return 0;
  }
  ERR_clear_error();
  size_t n = strlen(tok);
  if(want_ip || !dns_name_ok(tok, n))
    return pki_fail(BEACON_EINVAL, err, errlen,
                    "bad SAN '%s': not a DNS name or IP address", tok);
  ASN1_IA5STRING *s = ASN1_IA5STRING_new();
  if(!s || !ASN1_STRING_set(s, tok, (int)n)) {
    ASN1_IA5STRING_free(s);
    return BEACON_ENOMEM;
  }
  GENERAL_NAME_set0_value(gn, GEN_DNS, s);
  return 0;
}

/* Strips the spaces around tok in place. */
static char *trim(char *tok)
{
  while(*tok == ' ')
    tok++;
  size_t tl = strlen(tok);
  while(tl && tok[tl - 1] == ' ')
    tok[--tl] = '\0';
  return tok;
}

GENERAL_NAMES *pki_parse_sans(const char *list, char *err, size_t errlen)
{
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  char *dup = strdup(list), *save = NULL;
  int rc = gens && dup ? 0 : BEACON_ENOMEM;
  for(char *tok = dup ? strtok_r(dup, ",", &save) : NULL; tok && !rc;
      tok = strtok_r(NULL, ",", &save)) {
    tok = trim(tok);
    if(!*tok)
      continue;
    GENERAL_NAME *gn = GENERAL_NAME_new();
    rc = gn ? parse_san(tok, gn, err, errlen) : BEACON_ENOMEM;
    if(!rc && !sk_GENERAL_NAME_push(gens, gn))
      rc = BEACON_ENOMEM;
    if(rc)
      GENERAL_NAME_free(gn);
  }
  free(dup);
  if(!rc)
    return gens;
  if(rc == BEACON_ENOMEM)
    pki_fail(0, err, errlen, "out of memory");
  GENERAL_NAMES_free(gens);
  return NULL;
}

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
  if(!ext)
    return -1;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : -1;
}

X509_NAME *pki_make_name(const char *org, const char *cn)
{
  X509_NAME *n = X509_NAME_new();
  if(!n)
    return NULL;
  if((org &&
      !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                  (const unsigned char *)org, -1, -1, 0)) ||
     (cn &&
      !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                  (const unsigned char *)cn, -1, -1, 0))) {
    X509_NAME_free(n);
    return NULL;
  }
  return n;
}

/* Version, serial, names, validity and key. -1 on failure. */
static int set_basics(X509 *x, const cert_spec_t *s, X509_NAME *subject)
{
  X509_NAME *issuer = s->issuer ? X509_get_subject_name(s->issuer) : subject;
  return X509_set_version(x, X509_VERSION_3) && !rand_serial(x) &&
                 X509_set_subject_name(x, subject) &&
                 X509_set_issuer_name(x, issuer) &&
                 X509_gmtime_adj(X509_getm_notBefore(x), s->nb_secs) &&
                 X509_gmtime_adj(X509_getm_notAfter(x), s->na_secs) &&
                 X509_set_pubkey(x, s->pub)
             ? 0
             : -1;
}

/* Basic constraints, key usage, EKU and key identifiers. -1 on failure. */
static int add_usage(X509 *x, const cert_spec_t *s)
{
  X509V3_CTX v3;
  char buf[128];
  /* SKID must be present before AKID: for a self-signed certificate the
   * AKID is taken from the certificate itself. */
  X509V3_set_ctx(&v3, s->issuer ? s->issuer : x, x, NULL, NULL, 0);
  if(s->ca) {
    if(s->pathlen >= 0)
      snprintf(buf, sizeof(buf), "critical,CA:TRUE,pathlen:%d", s->pathlen);
    else
      snprintf(buf, sizeof(buf), "critical,CA:TRUE");
    if(add_ext(x, &v3, NID_basic_constraints, buf) ||
       add_ext(x, &v3, NID_key_usage,
               s->eku ? "critical,keyCertSign,cRLSign,digitalSignature"
                      : "critical,keyCertSign,cRLSign"))
      return -1;
  } else if(add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") ||
            add_ext(x, &v3, NID_key_usage, "critical,digitalSignature"))
    return -1;
  if(s->eku) {
    snprintf(buf, sizeof(buf), "%s%s%s",
             s->eku & EKU_SERVER ? "serverAuth" : "",
             s->eku == (EKU_SERVER | EKU_CLIENT) ? "," : "",
             s->eku & EKU_CLIENT ? "clientAuth" : "");
    if(add_ext(x, &v3, NID_ext_key_usage, buf))
      return -1;
  }
  return add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
                 add_ext(x, &v3, NID_authority_key_identifier, "keyid:always")
             ? -1
             : 0;
}

/* The subjectAltName from s->gens or s->sans (none when empty). 0,
 * BEACON_EINVAL with err set (a bad list) or -1. */
static int add_sans(X509 *x, const cert_spec_t *s, char *err, size_t errlen)
{
  GENERAL_NAMES *gens = s->gens;
  if(!gens && s->sans) {
    gens = pki_parse_sans(s->sans, err, errlen);
    if(!gens)
      return BEACON_EINVAL;
  }
  int rc = gens && sk_GENERAL_NAME_num(gens) > 0 &&
                   !X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                                      X509V3_ADD_DEFAULT)
               ? -1
               : 0;
  if(gens != s->gens)
    GENERAL_NAMES_free(gens);
  return rc;
}

X509 *pki_make_cert(const cert_spec_t *s, char *err, size_t errlen)
{
  X509 *x = X509_new();
  X509_NAME *name = s->subject ? NULL : pki_make_name(s->org, s->cn);
  int rc = -1;
  if(x && (s->subject || name) &&
     !set_basics(x, s, s->subject ? s->subject : name) && !add_usage(x, s))
    rc = add_sans(x, s, err, errlen);
  if(!rc && !X509_sign(x, s->issuer_key, EVP_sha256()))
    rc = -1;
  X509_NAME_free(name);
  if(!rc)
    return x;
  if(rc != BEACON_EINVAL)
    pki_fail(0, err, errlen, "cannot build certificate '%s'",
             s->cn ? s->cn : "(from CSR)");
  X509_free(x);
  return NULL;
}

int pki_new_pair(const char *dir, const char *name, cert_spec_t *spec,
                 X509 *extra, int replace, X509 **cert_out, EVP_PKEY **key_out,
                 char *err, size_t errlen)
{
  char c[PKI_PATH_MAX], k[PKI_PATH_MAX];
  int rc;
  if(pki_path_join(c, sizeof(c), dir, name, ".crt") ||
     pki_path_join(k, sizeof(k), dir, name, ".key"))
    return pki_fail(BEACON_ECONFIG, err, errlen, "%s: path too long", dir);
  EVP_PKEY *key = pki_gen_key();
  if(!key)
    return pki_fail(BEACON_ENOMEM, err, errlen, "cannot generate a P-256 key");
  spec->pub = key;
  if(!spec->issuer)
    spec->issuer_key = key;
  X509 *x = pki_make_cert(spec, err, errlen);
  if(!x) {
    EVP_PKEY_free(key);
    return BEACON_ECONFIG;
  }
  X509 *certs[2] = {x, extra};
  rc = pki_write_key(k, key, replace, err, errlen);
  if(!rc)
    rc = pki_write_certs(c, certs, extra ? 2 : 1, replace, err, errlen);
  if(rc || !cert_out)
    X509_free(x);
  else
    *cert_out = x;
  if(rc || !key_out)
    EVP_PKEY_free(key);
  else
    *key_out = key;
  return rc;
}
