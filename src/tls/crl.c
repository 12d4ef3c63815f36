/*
 * crl.c - the CRLs of crl.pem, each tied to the CA that signed it
 * (crl.h).
 *
 * OpenSSL finds a leaf's CRL by the issuer's name. During a rollover both
 * Fleet CAs may carry the same name, and with X509_V_FLAG_CRL_CHECK a CA
 * without a CRL fails every leaf it issued ("unable to get certificate
 * CRL"), or OpenSSL picks the other CA's CRL ("CRL signature failure").
 * So the store's CRL lookup is ours: it offers only the CRLs whose
 * signature the leaf's issuer verifies, and the verify callback lets a
 * leaf through whose issuer has no CRL in the file at all. OpenSSL still
 * does the rest (times, critical extensions, the serial lookup).
 */
#include "tls/crl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "beacon/beacon.h"

/* The CRLs of the file and, at the same index, the CA that signed each. */
typedef struct crl_set {
  STACK_OF(X509_CRL) * crls;
  STACK_OF(X509) * signers;
} crl_set_t;

static int set_index = -1;
static CRYPTO_ONCE set_index_once = CRYPTO_ONCE_STATIC_INIT;

static void set_free(crl_set_t *s)
{
  if(!s)
    return;
  sk_X509_CRL_pop_free(s->crls, X509_CRL_free);
  sk_X509_pop_free(s->signers, X509_free);
  OPENSSL_free(s);
}

/* ex_data destructor: the set goes with its store. */
static void set_free_ex(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                        long argl, void *argp)
{
  (void)parent;
  (void)ad;
  (void)idx;
  (void)argl;
  (void)argp;
  set_free(ptr);
}

static void set_index_init(void)
{
  set_index = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, set_free_ex);
}

static crl_set_t *store_set(const X509_STORE *st)
{
  if(!st || !CRYPTO_THREAD_run_once(&set_index_once, set_index_init) ||
     set_index < 0)
    return NULL;
  return X509_STORE_get_ex_data(st, set_index);
}

static int same_key(X509 *a, X509 *b)
{
  EVP_PKEY *ka = X509_get0_pubkey(a), *kb = X509_get0_pubkey(b);
  return ka && kb && EVP_PKEY_eq(ka, kb) == 1;
}

X509 *tls_crl_signer(X509_CRL *crl, STACK_OF(X509) * cas)
{
  for(int i = 0; i < sk_X509_num(cas); i++) {
    X509 *ca = sk_X509_value(cas, i);
    EVP_PKEY *k = X509_get0_pubkey(ca);
    if(!X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) &&
       k && X509_CRL_verify(crl, k) == 1)
      return ca;
  }
  ERR_clear_error();
  return NULL;
}

/* The issuer of the certificate being checked (the next one up the
 * verified chain), or NULL at the top. */
static X509 *current_issuer(const X509_STORE_CTX *xs)
{
  STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
  int up = X509_STORE_CTX_get_error_depth(xs) + 1;
  return chain && up < sk_X509_num(chain) ? sk_X509_value(chain, up) : NULL;
}

/* The store's CRL lookup: the CRLs named nm that the issuer of the
 * certificate being checked signed. */
static STACK_OF(X509_CRL) *
    lookup_crls(const X509_STORE_CTX *xs, const X509_NAME *nm)
{
  STACK_OF(X509_CRL) *out = sk_X509_CRL_new_null();
  crl_set_t *s = store_set(X509_STORE_CTX_get0_store(xs));
  X509 *issuer = current_issuer(xs);
  for(int i = 0; out && s && issuer && i < sk_X509_CRL_num(s->crls); i++) {
    X509_CRL *crl = sk_X509_CRL_value(s->crls, i);
    if(X509_NAME_cmp(X509_CRL_get_issuer(crl), nm) ||
       !same_key(sk_X509_value(s->signers, i), issuer))
      continue;
    if(!X509_CRL_up_ref(crl))
      continue;
    if(!sk_X509_CRL_push(out, crl))
      X509_CRL_free(crl);
  }
  return out;
}

/* 1 when some CRL of the set was signed by issuer's key. */
static int has_crl(const crl_set_t *s, X509 *issuer)
{
  for(int i = 0; s && issuer && i < sk_X509_num(s->signers); i++)
    if(same_key(sk_X509_value(s->signers, i), issuer))
      return 1;
  return 0;
}

int tls_crl_verify_override(int ok, X509_STORE_CTX *xs)
{
  if(ok || X509_STORE_CTX_get_error(xs) != X509_V_ERR_UNABLE_TO_GET_CRL)
    return ok;
  crl_set_t *s = store_set(X509_STORE_CTX_get0_store(xs));
  X509 *issuer = current_issuer(xs);
  if(!s || !issuer || has_crl(s, issuer))
    return ok;
  X509_STORE_CTX_set_error(xs, X509_V_OK);
  return 1;
}

const char *tls_crl_verdict(int code)
{
  switch(code) {
  case X509_V_ERR_CRL_HAS_EXPIRED:
    return "certificate not checked: our CRL of its CA has expired "
           "(install a fresh crl.pem and reload)";
  case X509_V_ERR_CRL_NOT_YET_VALID:
    return "certificate not checked: our CRL of its CA is not valid yet "
           "(is this host's clock right?)";
  case X509_V_ERR_CRL_SIGNATURE_FAILURE:
  case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
  case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    return "certificate not checked: our CRL of its CA does not verify";
  case X509_V_ERR_UNABLE_TO_GET_CRL:
    return "certificate not checked: no CRL of its CA";
  case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
  case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    return "certificate not checked: our CRL of its CA has a critical "
           "extension or scope beacon does not handle";
  default:
    return NULL;
  }
}

void tls_crl_expired_hint(char *msg, size_t cap, X509 *own)
{
  struct tm tm;
  char when[64];
  size_t n = strlen(msg);
  /* OpenSSL reads the clock here, as it does to verify a certificate. */
  if(!own || X509_cmp_current_time(X509_get0_notAfter(own)) <= 0 ||
     ASN1_TIME_to_tm(X509_get0_notAfter(own), &tm) != 1 ||
     !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) || n >= cap)
    return;
  snprintf(msg + n, cap - n,
           "; our certificate is valid until %s, so the relay's CRL has "
           "probably expired (see the relay's log)",
           when);
}

STACK_OF(X509_CRL) *
    tls_crl_read_file(const char *path, char *err, size_t errlen)
{
  BIO *b = BIO_new_file(path, "r");
  STACK_OF(X509_CRL) *sk = b ? sk_X509_CRL_new_null() : NULL;
  X509_CRL *x;
  while(sk && (x = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)))
    if(!sk_X509_CRL_push(sk, x)) {
      X509_CRL_free(x);
      break;
    }
  BIO_free(b);
  ERR_clear_error(); /* "no start line" at the end of the file */
  if(sk && sk_X509_CRL_num(sk) > 0)
    return sk;
  sk_X509_CRL_pop_free(sk, X509_CRL_free);
  if(err && errlen)
    snprintf(err, errlen, "CRL %s: %s", path,
             b ? "no PEM CRL in it" : "cannot be opened");
  return NULL;
}

/* The CA of cas that signed each CRL of s->crls, into s->signers. */
static int find_signers(crl_set_t *s, STACK_OF(X509) * cas, const char *path,
                        char *err, size_t errlen)
{
  s->signers = sk_X509_new_null();
  for(int i = 0; s->signers && i < sk_X509_CRL_num(s->crls); i++) {
    X509_CRL *crl = sk_X509_CRL_value(s->crls, i);
    X509 *ca = tls_crl_signer(crl, cas);
    if(!ca) {
      char name[256];
      X509_NAME_oneline(X509_CRL_get_issuer(crl), name, sizeof(name));
      if(err && errlen)
        snprintf(err, errlen,
                 "CRL %s: CRL %d (issuer %s) is signed by no CA of the CA "
                 "file",
                 path, i + 1, name);
      return BEACON_ECONFIG;
    }
    if(!X509_up_ref(ca))
      return BEACON_ENOMEM;
    if(!sk_X509_push(s->signers, ca)) {
      X509_free(ca);
      return BEACON_ENOMEM;
    }
  }
  return s->signers ? 0 : BEACON_ENOMEM;
}

int tls_crl_load(X509_STORE *st, const char *path, char *err, size_t errlen)
{
  crl_set_t *s = OPENSSL_zalloc(sizeof(*s));
  STACK_OF(X509) *cas = X509_STORE_get1_all_certs(st);
  if(!s || !cas || !CRYPTO_THREAD_run_once(&set_index_once, set_index_init) ||
     set_index < 0) {
    OPENSSL_free(s);
    sk_X509_pop_free(cas, X509_free);
    return BEACON_ENOMEM;
  }
  s->crls = tls_crl_read_file(path, err, errlen);
  int rc = s->crls ? find_signers(s, cas, path, err, errlen) : BEACON_ECONFIG;
  sk_X509_pop_free(cas, X509_free);
  if(!rc && !X509_STORE_set_ex_data(st, set_index, s))
    rc = BEACON_ENOMEM;
  if(rc) {
    set_free(s);
    ERR_clear_error();
    return rc;
  }
  X509_STORE_set_lookup_crls(st, lookup_crls);
  /* Revocation of the peer's leaf only: the Fleet CA is the anchor and
   * the offline root publishes no CRL the relay could fetch. */
  X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
  return 0;
}

int64_t tls_crl_first_next_update(const X509_STORE *st)
{
  crl_set_t *s = store_set(st);
  int64_t first = 0;
  for(int i = 0; s && i < sk_X509_CRL_num(s->crls); i++) {
    const ASN1_TIME *t =
        X509_CRL_get0_nextUpdate(sk_X509_CRL_value(s->crls, i));
    struct tm tm;
    if(!t || ASN1_TIME_to_tm(t, &tm) != 1)
      continue;
    int64_t next = (int64_t)timegm(&tm);
    if(!first || next < first)
      first = next;
  }
  return first;
}
