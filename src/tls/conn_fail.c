/*
 * conn_fail.c - why a TLS call of a connection failed, as a BEACON_E*
 * code and a sentence an operator can act on: our verdict on the peer's
 * certificate, the alert by which the peer refused ours, or OpenSSL's
 * reason.
 */
#include "tls/conn_fail.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "beacon/beacon.h"
#include "tls/banner.h"
#include "tls/cert_names.h"
#include "tls/context.h"
#include "tls/crl.h"

/* Whose certificate a message is about: a server's peer is a client
 * (a controller), a client's peer is a relay. */
static const char *peer_role(const tls_conn_t *c)
{
  return c->ctx->role == TLS_SERVER ? "client" : "relay";
}

/* Our own verdict on the peer's certificate, in words an operator can
 * act on; OpenSSL's text follows for the details. */
static const char *verify_verdict(const tls_conn_t *c, int code, int depth)
{
  switch(code) {
  case X509_V_ERR_CERT_HAS_EXPIRED:
    return depth ? "certificate's issuer expired" : "certificate expired";
  case X509_V_ERR_CERT_NOT_YET_VALID:
    return depth ? "certificate's issuer not valid yet"
                 : "certificate not valid yet";
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    return "certificate not signed by the fleet CA";
  case X509_V_ERR_CERT_REVOKED:
    return "certificate revoked";
  case X509_V_ERR_INVALID_PURPOSE:
    return c->ctx->role == TLS_SERVER
               ? "certificate not for client authentication"
               : "certificate not for server authentication";
  case X509_V_ERR_HOSTNAME_MISMATCH:
  case X509_V_ERR_IP_ADDRESS_MISMATCH:
    return "certificate does not name the host dialled";
  default:
    return tls_crl_verdict(code) ? tls_crl_verdict(code)
                                 : "certificate refused";
  }
}

/* Alerts by which a peer says it refused our certificate (RFC 8446
 * section 6.2). */
static int alert_is_about_cert(int desc)
{
  switch(desc) {
  case SSL_AD_BAD_CERTIFICATE:
  case SSL_AD_UNSUPPORTED_CERTIFICATE:
  case SSL_AD_CERTIFICATE_REVOKED:
  case SSL_AD_CERTIFICATE_EXPIRED:
  case SSL_AD_CERTIFICATE_UNKNOWN:
  case SSL_AD_UNKNOWN_CA:
  case SSL_AD_ACCESS_DENIED:
  case SSL_AD_DECRYPT_ERROR:
  case TLS13_AD_CERTIFICATE_REQUIRED:
    return 1;
  default:
    return 0;
  }
}

/* The peer's fatal alert as the session's error. */
void tls_conn_alert_error(tls_conn_t *c)
{
  int desc = c->alert & 0xff;
  snprintf(c->err, sizeof(c->err), "%s %s: %s (TLS alert %d)", peer_role(c),
           alert_is_about_cert(desc) ? "rejected our certificate"
                                     : "sent an alert",
           SSL_alert_desc_string_long(c->alert), desc);
  if(c->ctx->role == TLS_CLIENT && desc == SSL_AD_CERTIFICATE_EXPIRED)
    tls_crl_expired_hint(c->err, sizeof(c->err), SSL_get_certificate(c->ssl));
}

int tls_conn_fail(tls_conn_t *c, int ret, const char *op)
{
  int e = SSL_get_error(c->ssl, ret);
  char r[200];
  switch(e) {
  case SSL_ERROR_WANT_READ:
    ERR_clear_error();
    return BEACON_EAGAIN;
  case SSL_ERROR_ZERO_RETURN:
    ERR_clear_error();
    snprintf(c->err, sizeof(c->err), "peer closed the TLS session");
    return 0;
  default:
    break;
  }
  unsigned long oe = ERR_peek_error();
  long vr = SSL_get_verify_result(c->ssl);
  if(c->verr || vr != X509_V_OK) {
    int code = c->verr ? c->verr : (int)vr;
    int depth = c->verr ? c->vdepth : 0;
    if(code == X509_V_ERR_APPLICATION_VERIFICATION && c->pin_miss[0])
      snprintf(c->err, sizeof(c->err),
               "%s key not pinned: it presented SPKI sha256 %s", peer_role(c),
               c->pin_miss);
    else
      snprintf(c->err, sizeof(c->err),
               "%s %s%s%s%s; certificate verify failed: %s (depth %d)",
               peer_role(c), verify_verdict(c, code, depth),
               c->names[0] ? " (it names " : "", c->names,
               c->names[0] ? ")" : "", X509_verify_cert_error_string(code),
               depth);
    ERR_clear_error();
    return BEACON_EVERIFY;
  }
  if(ERR_GET_LIB(oe) == ERR_LIB_SSL &&
     ERR_GET_REASON(oe) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    snprintf(c->err, sizeof(c->err),
             "%s sent no certificate; certificate verify failed",
             peer_role(c));
    ERR_clear_error();
    return BEACON_EVERIFY;
  }
  if(c->alert) {
    tls_conn_alert_error(c);
    ERR_clear_error();
    return BEACON_ETLS;
  }
  int nomem = ERR_GET_REASON(oe) == ERR_R_MALLOC_FAILURE;
  tls_ossl_reason(r, sizeof(r));
  if(e == SSL_ERROR_SYSCALL && !r[0])
    snprintf(r, sizeof(r), "unexpected end of input");
  snprintf(c->err, sizeof(c->err), "TLS %s failed: %s", op,
           r[0] ? r : "unknown error");
  return nomem ? BEACON_ENOMEM : BEACON_ETLS;
}
