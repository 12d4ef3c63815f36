/*
 * context.c - a TLS context (tls.h): the certificate, key, CA and CRL
 * files loaded and checked into an SSL_CTX, the verification callbacks
 * every connection of the context runs, and the ALPN it offers. The
 * choices are listed atop tls_conn.c.
 */
#include "tls/context.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "beacon/beacon.h"
#include "tls/cert_names.h"
#include "tls/crl.h"
#include "tls/pin.h"
#include "tls/tls_native.h"

#define TLS_CIPHERSUITES                                                      \
  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                            \
  "TLS_CHACHA20_POLY1305_SHA256"
#define TLS_VERIFY_DEPTH 8 /* leaf + intermediates; bounds the work */

/* Reason text of the first queued OpenSSL error ("" when none); clears
 * the queue. */
const char *tls_ossl_reason(char *buf, size_t cap)
{
  unsigned long e = ERR_peek_error();
  buf[0] = '\0';
  if(e) {
    const char *r = ERR_reason_error_string(e);
    if(r)
      snprintf(buf, cap, "%s", r);
    else
      ERR_error_string_n(e, buf, cap);
  }
  ERR_clear_error();
  return buf;
}

static int ctx_fail(int code, char *err, size_t errlen, const char *what,
                    const char *path, const char *problem)
{
  char r[200];
  tls_ossl_reason(r, sizeof(r));
  if(err && errlen) {
    if(r[0])
      snprintf(err, errlen, "%s %s: %s (%s)", what, path, problem, r);
    else
      snprintf(err, errlen, "%s %s: %s", what, path, problem);
  }
  return code;
}

/* Missing and empty files get their own words before OpenSSL parses. */
static int check_file(const char *what, const char *path, char *err,
                      size_t errlen)
{
  struct stat st;
  if(!path || !*path) {
    if(err && errlen)
      snprintf(err, errlen, "%s file: no path given", what);
    return BEACON_ECONFIG;
  }
  /* EACCES on stat is a directory we may not search, on open a file we
   * may not read: "unreadable", not "missing", so the fix is obvious. */
  if(stat(path, &st)) {
    int e = errno;
    ERR_clear_error();
    return ctx_fail(BEACON_ECONFIG, err, errlen, what, path,
                    e == ENOENT || e == ENOTDIR ? "missing"
                    : e == EACCES ? "unreadable (permission denied on "
                                    "its directory)"
                                  : strerror(e));
  }
  if(!S_ISREG(st.st_mode))
    return ctx_fail(BEACON_ECONFIG, err, errlen, what, path,
                    "not a regular file");
  if(st.st_size == 0)
    return ctx_fail(BEACON_ECONFIG, err, errlen, what, path, "empty");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    int e = errno;
    ERR_clear_error();
    return ctx_fail(BEACON_ECONFIG, err, errlen, what, path,
                    e == EACCES ? "unreadable (permission denied)"
                                : strerror(e));
  }
  close(fd);
  return 0;
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
  ok = tls_crl_verify_override(ok, xs); /* a CA without a CRL (crl.h) */
  SSL *s =
      X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
  tls_conn_t *c = s ? SSL_get_app_data(s) : NULL;
  /* A leaf the CA accepted must also carry a pinned key (tls/pin.h). */
  if(ok && c && c->ctx->pins && X509_STORE_CTX_get_error_depth(xs) == 0 &&
     tls_pins_verify(c->ctx->pins,
                     X509_get_X509_PUBKEY(X509_STORE_CTX_get_current_cert(xs)),
                     c->pin_miss) != 1) {
    X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
    ok = 0;
  }
  if(!ok) {
    if(c && !c->verr) {
      c->verr = X509_STORE_CTX_get_error(xs);
      c->vdepth = X509_STORE_CTX_get_error_depth(xs);
      X509 *cert = X509_STORE_CTX_get_current_cert(xs);
      if(cert && (c->verr == X509_V_ERR_HOSTNAME_MISMATCH ||
                  c->verr == X509_V_ERR_IP_ADDRESS_MISMATCH))
        tls_cert_names(cert, c->names, sizeof(c->names));
    }
  }
  return ok;
}

/* Keeps the fatal alert the peer sent: it is the only word a peer that
 * refused our certificate gives us. */
static void info_cb(const SSL *s, int where, int ret)
{
  if(!(where & SSL_CB_ALERT) || !(where & SSL_CB_READ) ||
     (ret >> 8) != SSL3_AL_FATAL)
    return;
  tls_conn_t *c = SSL_get_app_data(s);
  if(c && !c->alert)
    c->alert = ret;
}

static int load_key(SSL_CTX *ssl, const char *cert, const char *key, char *err,
                    size_t errlen)
{
  int rc = check_file("key", key, err, errlen);
  if(rc)
    return rc;
  BIO *b = BIO_new_file(key, "r");
  if(!b)
    return ctx_fail(BEACON_ECONFIG, err, errlen, "key", key,
                    "cannot be opened");
  EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if(!pk)
    return ctx_fail(BEACON_ECONFIG, err, errlen, "key", key,
                    "not a PEM private key");
  X509 *leaf = SSL_CTX_get0_certificate(ssl);
  if(!leaf || X509_check_private_key(leaf, pk) != 1) {
    EVP_PKEY_free(pk);
    ERR_clear_error();
    if(err && errlen)
      snprintf(err, errlen, "key %s does not match the certificate in %s", key,
               cert);
    return BEACON_ECONFIG;
  }
  int ok = SSL_CTX_use_PrivateKey(ssl, pk);
  EVP_PKEY_free(pk);
  if(ok != 1)
    return ctx_fail(BEACON_ECONFIG, err, errlen, "key", key, "cannot be used");
  return 0;
}

static int load_crl(X509_STORE *st, const char *crl, char *err, size_t errlen)
{
  int rc = check_file("CRL", crl, err, errlen);
  return rc ? rc : tls_crl_load(st, crl, err, errlen);
}

static int load_ca(SSL_CTX *ssl, const char *ca, const char *crl, char *err,
                   size_t errlen)
{
  int rc = check_file("CA", ca, err, errlen);
  if(rc)
    return rc;
  X509_STORE *st = X509_STORE_new();
  if(!st)
    return BEACON_ENOMEM;
  if(X509_STORE_load_file(st, ca) != 1) {
    X509_STORE_free(st);
    return ctx_fail(BEACON_ECONFIG, err, errlen, "CA", ca,
                    "not a PEM certificate");
  }
  X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
  if(crl && (rc = load_crl(st, crl, err, errlen))) {
    X509_STORE_free(st);
    return rc;
  }
  SSL_CTX_set_cert_store(ssl, st); /* takes ownership */
  return 0;
}

static time_t asn1_time(const ASN1_TIME *t)
{
  struct tm tm;
  if(!t || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return timegm(&tm);
}

time_t tls_cert_not_after(X509 *x)
{
  return x ? asn1_time(X509_get0_notAfter(x)) : 0;
}

time_t tls_cert_not_before(X509 *x)
{
  return x ? asn1_time(X509_get0_notBefore(x)) : 0;
}

int tls_ctx_new(tls_ctx_t **out, enum tls_role role, const char *cert,
                const char *key, const char *ca, const char *crl, char *err,
                size_t errlen)
{
  int rc;
  *out = NULL;
  if(err && errlen)
    err[0] = '\0';
  tls_ctx_t *c = calloc(1, sizeof(*c));
  if(!c)
    return BEACON_ENOMEM;
  c->role = role;
  atomic_init(&c->refs, 1);
  c->ssl = SSL_CTX_new(role == TLS_SERVER ? TLS_server_method()
                                          : TLS_client_method());
  if(!c->ssl) {
    rc = ctx_fail(BEACON_ENOMEM, err, errlen, "TLS", "context",
                  "cannot be created");
    goto fail;
  }
  SSL_CTX *s = c->ssl;
  if(!SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) ||
     !SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) ||
     !SSL_CTX_set_ciphersuites(s, TLS_CIPHERSUITES)) {
    rc = ctx_fail(BEACON_ECONFIG, err, errlen, "TLS", "context",
                  "TLS 1.3 is not available");
    goto fail;
  }
  SSL_CTX_set_options(s, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_num_tickets(s, 0);
  SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
  /* pull several records out of the input queue per call */
  SSL_CTX_set_read_ahead(s, 1);

  rc = check_file("certificate", cert, err, errlen);
  if(rc)
    goto fail;
  if(SSL_CTX_use_certificate_chain_file(s, cert) != 1) {
    rc = ctx_fail(BEACON_ECONFIG, err, errlen, "certificate", cert,
                  "not a PEM certificate chain");
    goto fail;
  }
  rc = load_key(s, cert, key, err, errlen);
  if(!rc)
    rc = load_ca(s, ca, crl, err, errlen);
  if(rc)
    goto fail;
  if(SSL_CTX_check_private_key(s) != 1) {
    rc = ctx_fail(BEACON_ECONFIG, err, errlen, "key", key,
                  "does not match the certificate");
    goto fail;
  }
  if(role == TLS_SERVER) {
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       verify_cb);
    SSL_CTX_set_purpose(s, X509_PURPOSE_SSL_CLIENT);
  } else {
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_purpose(s, X509_PURPOSE_SSL_SERVER);
  }
  SSL_CTX_set_verify_depth(s, TLS_VERIFY_DEPTH);
  SSL_CTX_set_info_callback(s, info_cb);
  c->not_after = tls_cert_not_after(SSL_CTX_get0_certificate(s));
  {
    X509 *x = SSL_CTX_get0_certificate(s);
    c->not_before = x ? asn1_time(X509_get0_notBefore(x)) : 0;
  }
  *out = c;
  return 0;
fail:
  SSL_CTX_free(c->ssl);
  free(c);
  ERR_clear_error();
  return rc;
}

void tls_ctx_ref(tls_ctx_t *ctx)
{
  atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

void tls_ctx_unref(tls_ctx_t *ctx)
{
  if(!ctx)
    return;
  if(atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) == 1) {
    SSL_CTX_free(ctx->ssl);
    free(ctx->pins);
    free(ctx);
  }
}

int tls_ctx_set_pins(tls_ctx_t *ctx, const tls_pins_t *pins)
{
  if(!pins || !pins->n)
    return 0;
  ctx->pins = malloc(sizeof(*ctx->pins));
  if(!ctx->pins)
    return BEACON_ENOMEM;
  *ctx->pins = *pins;
  return 0;
}

time_t tls_ctx_cert_not_after(const tls_ctx_t *ctx)
{
  return ctx->not_after;
}

time_t tls_ctx_cert_not_before(const tls_ctx_t *ctx)
{
  return ctx->not_before;
}

/* Server side: select TLS_ALPN_BEACON when the client offers it, else
 * no protocol at all (a Go controller offers none and sees none). */
static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
  static const unsigned char ours[] = "\x08" TLS_ALPN_BEACON;
  unsigned char *sel;
  (void)ssl;
  (void)arg;
  if(SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
     OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

int tls_ctx_offer_beacon_alpn(tls_ctx_t *ctx)
{
  static const unsigned char ours[] = "\x08" TLS_ALPN_BEACON;
  if(ctx->role == TLS_SERVER) {
    SSL_CTX_set_alpn_select_cb(ctx->ssl, alpn_select, NULL);
    return 0;
  }
  /* OpenSSL returns 0 on success here. */
  return SSL_CTX_set_alpn_protos(ctx->ssl, ours, sizeof(ours) - 1)
             ? BEACON_ENOMEM
             : 0;
}

SSL_CTX *tls_ctx_native(const tls_ctx_t *ctx)
{
  return ctx->ssl;
}
