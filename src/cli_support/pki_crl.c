/* pki_crl.c - `beacon pki crl`: the Fleet CA's CRL (cli_support/pki.h
 * pki_make_crl). Each run reissues the CA's whole list: the revocations
 * of its CRL already at the output path stay, new ones are added, and the
 * dates move on, so the same command run by a timer keeps a CRL from
 * expiring. Other CAs' CRLs in the file (a rollover) are kept as they are. */
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>

#include "beacon/beacon.h"
#include "cli_support/pki_files.h"
#include "cli_support/pki_int.h"
#include "tls/crl.h"

#define CRL_DAYS 30L

/* The CRLs already at the output path: the new one replaces the one
 * of its CA (ours), the others (other CAs of a rollover) stay as they
 * are. */
typedef struct crl_file {
  STACK_OF(X509_CRL) * all; /* NULL: no file yet */
  int ours;                 /* index of the CA's own CRL, -1: none */
  X509_CRL *crl;            /* the new one */
} crl_file_t;

static void read_previous(crl_file_t *cf, const char *path, X509 *ca)
{
  cf->ours = -1;
  if(!pki_file_exists(path))
    return;
  cf->all = tls_crl_read_file(path, NULL, 0);
  STACK_OF(X509) *cas = sk_X509_new_null();
  if(cas && sk_X509_push(cas, ca))
    for(int i = 0; cf->ours < 0 && i < sk_X509_CRL_num(cf->all); i++)
      if(tls_crl_signer(sk_X509_CRL_value(cf->all, i), cas))
        cf->ours = i;
  sk_X509_free(cas); /* ca is not ours to free */
}

/* Adds the revocations of prev to crl, and returns prev's crlNumber + 1
 * (1 without prev). NULL on OOM. */
static ASN1_INTEGER *carry_over(X509_CRL *crl, X509_CRL *prev)
{
  STACK_OF(X509_REVOKED) *old = prev ? X509_CRL_get_REVOKED(prev) : NULL;
  for(int i = 0; i < sk_X509_REVOKED_num(old); i++) {
    X509_REVOKED *r = X509_REVOKED_dup(sk_X509_REVOKED_value(old, i));
    if(!r || !X509_CRL_add0_revoked(crl, r)) {
      X509_REVOKED_free(r);
      return NULL;
    }
  }
  ASN1_INTEGER *n =
      prev ? X509_CRL_get_ext_d2i(prev, NID_crl_number, NULL, NULL) : NULL;
  BIGNUM *bn = n ? ASN1_INTEGER_to_BN(n, NULL) : BN_new();
  ASN1_INTEGER_free(n);
  ASN1_INTEGER *next =
      bn && BN_add_word(bn, 1) ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
  BN_free(bn);
  return next;
}

/* 1 when serial is already on crl. */
static int listed(X509_CRL *crl, const ASN1_INTEGER *serial)
{
  STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(crl);
  for(int i = 0; i < sk_X509_REVOKED_num(rs); i++)
    if(!ASN1_INTEGER_cmp(
           X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rs, i)),
           serial))
      return 1;
  return 0;
}

/* Revokes the first certificate of the file at path, which ca issued. */
static int revoke(X509_CRL *crl, X509 *ca, const char *path, char *err,
                  size_t errlen)
{
  FILE *f = fopen(path, "r");
  X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
  if(f)
    fclose(f);
  if(!x)
    return pki_fail(BEACON_ECONFIG, err, errlen, "%s: %s", path,
                    f ? "no PEM certificate in it" : "cannot be opened");
  int rc = 0;
  X509_REVOKED *r = NULL;
  if(X509_check_issued(ca, x) != X509_V_OK)
    rc = pki_fail(BEACON_ECONFIG, err, errlen,
                  "%s: not issued by this Fleet CA", path);
  else if(!listed(crl, X509_get0_serialNumber(x))) {
    ASN1_TIME *now = X509_gmtime_adj(NULL, 0);
    r = X509_REVOKED_new();
    if(!now || !r ||
       !X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(x)) ||
       !X509_REVOKED_set_revocationDate(r, now) ||
       !X509_CRL_add0_revoked(crl, r)) {
      X509_REVOKED_free(r);
      rc = pki_fail(BEACON_ENOMEM, err, errlen, "out of memory");
    }
    ASN1_TIME_free(now);
  }
  X509_free(x);
  return rc;
}

/* Issuer, dates, crlNumber, AKID, signature. */
static int finish(X509_CRL *crl, X509 *ca, EVP_PKEY *ca_key,
                  ASN1_INTEGER *number, long secs)
{
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, ca, NULL, NULL, crl, 0);
  X509_EXTENSION *akid =
      X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid");
  ASN1_TIME *last = X509_gmtime_adj(NULL, -BACKDATE_SECS);
  ASN1_TIME *next = X509_gmtime_adj(NULL, secs);
  int ok =
      akid && last && next && X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
      X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
      X509_CRL_set1_lastUpdate(crl, last) &&
      X509_CRL_set1_nextUpdate(crl, next) && X509_CRL_add_ext(crl, akid, -1) &&
      X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0) &&
      X509_CRL_sort(crl) && X509_CRL_sign(crl, ca_key, EVP_sha256());
  X509_EXTENSION_free(akid);
  ASN1_TIME_free(last);
  ASN1_TIME_free(next);
  return ok ? 0 : -1;
}

static int write_crls(FILE *f, void *arg)
{
  crl_file_t *cf = arg;
  int ok = 1;
  for(int i = 0; ok && i < sk_X509_CRL_num(cf->all); i++)
    ok = PEM_write_X509_CRL(
             f, i == cf->ours ? cf->crl : sk_X509_CRL_value(cf->all, i)) == 1;
  if(ok && cf->ours < 0)
    ok = PEM_write_X509_CRL(f, cf->crl) == 1;
  return ok;
}

int pki_make_crl(const char *ca_dir, const char *out_path,
                 const char *const *revoke_paths, int nrevoke, long secs,
                 char *err, size_t errlen)
{
  X509 *ca = NULL;
  EVP_PKEY *ca_key = NULL;
  crl_file_t cf = {NULL, -1, NULL};
  X509_CRL *crl = NULL;
  ASN1_INTEGER *number = NULL;
  if(secs < 0 || secs > CA_DAYS * DAY_SECS)
    return pki_fail(BEACON_EINVAL, err, errlen,
                    "validity of %ld s is out of range (up to %ld days)", secs,
                    CA_DAYS);
  int rc = pki_load_pair(ca_dir, "fleet-ca", &ca, NULL, &ca_key, err, errlen);
  if(!rc) {
    read_previous(&cf, out_path, ca);
    crl = cf.crl = X509_CRL_new();
    number =
        crl ? carry_over(crl, cf.ours < 0 ? NULL
                                          : sk_X509_CRL_value(cf.all, cf.ours))
            : NULL;
    if(!number)
      rc = pki_fail(BEACON_ENOMEM, err, errlen, "out of memory");
  }
  for(int i = 0; !rc && i < nrevoke; i++)
    rc = revoke(crl, ca, revoke_paths[i], err, errlen);
  if(!rc && finish(crl, ca, ca_key, number, secs ? secs : CRL_DAYS * DAY_SECS))
    rc = pki_fail(BEACON_ECONFIG, err, errlen, "cannot build the CRL");
  if(!rc)
    rc = pki_replace_file(out_path, 0644, write_crls, &cf, err, errlen);
  ASN1_INTEGER_free(number);
  sk_X509_CRL_pop_free(cf.all, X509_CRL_free);
  X509_CRL_free(crl);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  return rc;
}
