/*
 * crl_dates.c - the CRLs' dates of a context's store (crl_dates.h).
 */
#include "tls/crl_dates.h"

#include <openssl/ssl.h>

#include "tls/crl.h"
#include "tls/tls_native.h"

int64_t tls_ctx_crl_next_update(const tls_ctx_t *ctx)
{
  /* The CRLs live beside the store, each tied to its CA (crl.h). */
  return tls_crl_first_next_update(
      SSL_CTX_get_cert_store(tls_ctx_native(ctx)));
}
