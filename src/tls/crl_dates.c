/*
 * crl_dates.c - the CRLs' dates of a context's store (crl_dates.h).
 */
#include "tls/crl_dates.h"

#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tls/tls_native.h"

static int64_t unix_time(const ASN1_TIME *t)
{
  struct tm tm;
  if(!t || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return (int64_t)timegm(&tm);
}

int64_t tls_ctx_crl_next_update(const tls_ctx_t *ctx)
{
  X509_STORE *st = SSL_CTX_get_cert_store(tls_ctx_native(ctx));
  if(!st || !X509_STORE_lock(st))
    return 0;
  STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
  int64_t first = 0;
  for(int i = 0; objs && i < sk_X509_OBJECT_num(objs); i++) {
    X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
    int64_t next = crl ? unix_time(X509_CRL_get0_nextUpdate(crl)) : 0;
    if(next && (!first || next < first))
      first = next;
  }
  X509_STORE_unlock(st);
  return first;
}
