/*
 * peer_cert.c - re-checking an established peer's certificate against a
 * newer context (peer_cert.h), with OpenSSL's own verification: the
 * store of the context decides, CRLs included, as at a handshake.
 */
#include "tls/peer_cert.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tls/crl.h"
#include "tls/tls_native.h"

enum tls_peer_verdict tls_peer_verdict_of(int x509_error)
{
  switch(x509_error) {
  case X509_V_OK:
    return TLS_PEER_OK;
  case X509_V_ERR_CERT_REVOKED:
    return TLS_PEER_REVOKED;
  /* The CRL is at fault, not the certificate. */
  case X509_V_ERR_UNABLE_TO_GET_CRL:
  case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
  case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
  case X509_V_ERR_CRL_SIGNATURE_FAILURE:
  case X509_V_ERR_CRL_NOT_YET_VALID:
  case X509_V_ERR_CRL_HAS_EXPIRED:
  case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
  case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
  case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
  case X509_V_ERR_DIFFERENT_CRL_SCOPE:
  case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
  case X509_V_ERR_OUT_OF_MEM:
    return TLS_PEER_UNDECIDED;
  default:
    return TLS_PEER_UNTRUSTED;
  }
}

const char *tls_peer_verdict_name(enum tls_peer_verdict v)
{
  static const char *const names[] = {"ok", "revoked", "untrusted",
                                      "undecided"};
  return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/* The certificates above the leaf in the chain c was verified through:
 * candidates for the path again (the anchor must still be in the store
 * to be trusted). NULL when there are none; the caller frees it. */
static STACK_OF(X509) * chain_above_leaf(SSL *ssl)
{
  STACK_OF(X509) *verified = SSL_get0_verified_chain(ssl);
  if(!verified || sk_X509_num(verified) < 2)
    return NULL;
  STACK_OF(X509) *up = sk_X509_new_null();
  for(int i = 1; up && i < sk_X509_num(verified); i++)
    if(!sk_X509_push(up, sk_X509_value(verified, i))) {
      sk_X509_free(up);
      return NULL;
    }
  return up;
}

/* X509 verify error of leaf against ctx's store (X509_V_OK when it
 * verifies), -1 when out of memory. */
static int verify_again(SSL_CTX *sctx, SSL *ssl, X509 *leaf)
{
  X509_STORE_CTX *xs = X509_STORE_CTX_new();
  STACK_OF(X509) *up = chain_above_leaf(ssl);
  int err = -1;
  if(xs && X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(sctx), leaf, up)) {
    /* The handshake's settings: purpose, depth, flags; then no clock. */
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(xs);
    X509_VERIFY_PARAM_set1(p, SSL_CTX_get0_param(sctx));
    X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_NO_CHECK_TIME);
    /* As at the handshake: a CA with no CRL in the file revokes nothing. */
    X509_STORE_CTX_set_verify_cb(xs, tls_crl_verify_override);
    int ok = X509_verify_cert(xs);
    err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(xs);
    if(ok != 1 && err == X509_V_OK)
      err = -1; /* an internal failure, not a verdict */
  }
  X509_STORE_CTX_free(xs);
  sk_X509_free(up);
  ERR_clear_error();
  return err;
}

enum tls_peer_verdict tls_conn_peer_recheck(const tls_conn_t *c,
                                            const tls_ctx_t *ctx, char *why,
                                            size_t cap)
{
  SSL *ssl = tls_conn_native(c);
  X509 *leaf = SSL_get0_peer_certificate(ssl);
  if(cap)
    why[0] = 0;
  if(!leaf) {
    snprintf(why, cap, "no peer certificate");
    return TLS_PEER_UNTRUSTED;
  }
  int err = verify_again(tls_ctx_native(ctx), ssl, leaf);
  if(err < 0) {
    snprintf(why, cap, "out of memory");
    return TLS_PEER_UNDECIDED;
  }
  if(err != X509_V_OK)
    snprintf(why, cap, "%s", X509_verify_cert_error_string(err));
  return tls_peer_verdict_of(err);
}

int tls_conn_peer_serial(const tls_conn_t *c, char *hex, size_t cap)
{
  X509 *leaf = SSL_get0_peer_certificate(tls_conn_native(c));
  if(!leaf || !cap)
    return BEACON_EINVAL;
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
  char *s = bn ? BN_bn2hex(bn) : NULL;
  int rc = 0;
  if(!s)
    rc = BEACON_ENOMEM;
  else if(strlen(s) >= cap)
    rc = BEACON_ETOOLONG;
  else
    memcpy(hex, s, strlen(s) + 1);
  OPENSSL_free(s);
  BN_free(bn);
  return rc;
}

int tls_conn_made_from(const tls_conn_t *c, const tls_ctx_t *ctx)
{
  return SSL_get_SSL_CTX(tls_conn_native(c)) == tls_ctx_native(ctx);
}
