/*
 * tls.c - TLS 1.3 mutual authentication over byte-queue BIOs (docs/PROTOCOL.md
 * "Transport: TLS 1.3 with mutual authentication"). Sans-I/O: the caller feeds
 * ciphertext in with tls_conn_feed() and takes ciphertext out with
 * tls_conn_out_peek()/_consume() (straight from the queue) or
 * tls_conn_take_output() (a copy); no socket and no clock here (OpenSSL reads
 * the clock itself for certificate validity, which is the one exception we
 * accept).
 *
 * Choices:
 * - TLS 1.3 only (min = max), AES-128-GCM first as Go orders it on AES-NI
 *   hardware; the server picks by its own order.
 * - The CA file is the only trust anchor (no default paths), and it is an
 *   intermediate: X509_V_FLAG_PARTIAL_CHAIN, as Go's crypto/tls does.
 * - Purposes: a server checks its peer for sslclient (an EKU without
 *   clientAuth is refused), a client checks for sslserver plus the host
 *   name or IP address it dialled, never the subject CN (Go ignores it).
 * - CRLs (crl.c) count for the CA whose key signed them; a CA with no
 *   CRL in the file revokes nothing.
 * - No session tickets and no session cache: a relay keeps no per-client
 *   resumption state and no ticket key that would need rotating; a tunnel
 *   is long-lived, so a full handshake per tunnel costs nothing that
 *   matters.
 */
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
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
#include "tls/banner.h"
#include "tls/cert_names.h"
#include "tls/crl.h"
#include "tls/bio_queue.h"
#include "tls/identity.h"
#include "tls/pin.h"
#include "tls/tls_native.h"

#define TLS_CIPHERSUITES                                                      \
  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                            \
  "TLS_CHACHA20_POLY1305_SHA256"
#define TLS_VERIFY_DEPTH 8 /* leaf + intermediates; bounds the work */

struct tls_ctx {
  SSL_CTX *ssl;
  enum tls_role role;
  atomic_int refs;
  time_t not_after;
  time_t not_before;
  tls_pins_t *pins; /* relay key pins (client), NULL: none */
};

struct tls_conn {
  tls_ctx_t *ctx;
  SSL *ssl;
  BIO *rbio; /* ciphertext from the peer, owned by ssl */
  BIO *wbio; /* ciphertext for the peer, owned by ssl */
  int done;
  int verr;   /* first X509 verify error seen, 0 = none */
  int vdepth; /* its depth in the chain */
  int alert;  /* the fatal alert the peer sent (level << 8 | desc), or 0 */
  /* The peer's first bytes, to name what answered when they are not TLS
   * (tls/banner.h). */
  uint8_t first[TLS_BANNER_BYTES];
  uint8_t nfirst;
  /* The peer certificate's names when it did not name the host dialled
   * (tls/cert_names.h), for the error. */
  char names[96];
  char pin_miss[65]; /* the unpinned key the relay presented */
  char err[256];
};

/* ---- error text ----------------------------------------------------- */

/* Reason text of the first queued OpenSSL error ("" when none); clears
 * the queue. */
static const char *ossl_reason(char *buf, size_t cap)
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
  ossl_reason(r, sizeof(r));
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

/* ---- contexts ------------------------------------------------------- */

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

static time_t cert_not_after(X509 *x)
{
  return x ? asn1_time(X509_get0_notAfter(x)) : 0;
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
  c->not_after = cert_not_after(SSL_CTX_get0_certificate(s));
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

int tls_conn_beacon_alpn(const tls_conn_t *c)
{
  const unsigned char *p;
  unsigned int n;
  SSL_get0_alpn_selected(c->ssl, &p, &n);
  return n == sizeof(TLS_ALPN_BEACON) - 1 &&
         !memcmp(p, TLS_ALPN_BEACON, sizeof(TLS_ALPN_BEACON) - 1);
}

/* ---- connections ---------------------------------------------------- */

/* "[::1]" -> "::1"; returns 0, or -1 when it does not fit. */
static int strip_brackets(const char *host, char *buf, size_t cap)
{
  size_t n = strlen(host);
  if(n >= 2 && host[0] == '[' && host[n - 1] == ']') {
    host++;
    n -= 2;
  }
  if(n + 1 > cap)
    return -1;
  memcpy(buf, host, n);
  buf[n] = '\0';
  return 0;
}

static int set_peer_host(SSL *ssl, const char *host)
{
  char h[256];
  if(!host || !*host || strip_brackets(host, h, sizeof(h)))
    return -1;
  X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
  /* An IP literal is matched against IP SANs and gets no SNI (RFC 6066
   * forbids it; Go sends none either). */
  if(X509_VERIFY_PARAM_set1_ip_asc(p, h) == 1)
    return 0;
  ERR_clear_error();
  X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                         X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  if(X509_VERIFY_PARAM_set1_host(p, h, 0) != 1 ||
     SSL_set_tlsext_host_name(ssl, h) != 1)
    return -1;
  return 0;
}

tls_conn_t *tls_conn_new(tls_ctx_t *ctx, const char *expected_host)
{
  tls_conn_t *c = calloc(1, sizeof(*c));
  if(!c)
    return NULL;
  c->ssl = SSL_new(ctx->ssl);
  c->rbio = bio_queue_new();
  c->wbio = bio_queue_new();
  if(!c->ssl || !c->rbio || !c->wbio)
    goto fail;
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  SSL_set_app_data(c->ssl, c);
  if(ctx->role == TLS_CLIENT) {
    if(set_peer_host(c->ssl, expected_host))
      goto fail_owned;
    SSL_set_connect_state(c->ssl);
  } else {
    /* A relay holds many idle tunnels: free the record buffers while a
     * connection has nothing buffered (about 34 KiB each). */
    SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_set_accept_state(c->ssl);
  }
  tls_ctx_ref(ctx);
  c->ctx = ctx;
  return c;
fail:
  BIO_free(c->rbio);
  BIO_free(c->wbio);
  c->rbio = c->wbio = NULL;
fail_owned:
  SSL_free(c->ssl);
  free(c);
  ERR_clear_error();
  return NULL;
}

void tls_conn_free(tls_conn_t *c)
{
  if(!c)
    return;
  SSL_free(c->ssl); /* frees both BIOs */
  tls_ctx_unref(c->ctx);
  free(c);
}

int tls_conn_feed(tls_conn_t *c, const uint8_t *in, size_t len)
{
  if(c->nfirst < TLS_BANNER_BYTES && !c->done) {
    size_t take = TLS_BANNER_BYTES - c->nfirst;
    take = take < len ? take : len;
    memcpy(c->first + c->nfirst, in, take);
    c->nfirst += (uint8_t)take;
  }
  while(len) {
    int n = len > INT_MAX ? INT_MAX : (int)len;
    int w = BIO_write(c->rbio, in, n);
    if(w <= 0) {
      ERR_clear_error();
      snprintf(c->err, sizeof(c->err), "out of memory buffering input");
      return BEACON_ENOMEM;
    }
    in += w;
    len -= (size_t)w;
  }
  return 0;
}

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
static void alert_error(tls_conn_t *c)
{
  int desc = c->alert & 0xff;
  snprintf(c->err, sizeof(c->err), "%s %s: %s (TLS alert %d)", peer_role(c),
           alert_is_about_cert(desc) ? "rejected our certificate"
                                     : "sent an alert",
           SSL_alert_desc_string_long(c->alert), desc);
  if(c->ctx->role == TLS_CLIENT && desc == SSL_AD_CERTIFICATE_EXPIRED)
    tls_crl_expired_hint(c->err, sizeof(c->err), SSL_get_certificate(c->ssl));
}

/* Maps a failed SSL_* call to a BEACON_E* code and sets c->err. */
static int conn_fail(tls_conn_t *c, int ret, const char *op)
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
    alert_error(c);
    ERR_clear_error();
    return BEACON_ETLS;
  }
  int nomem = ERR_GET_REASON(oe) == ERR_R_MALLOC_FAILURE;
  ossl_reason(r, sizeof(r));
  if(e == SSL_ERROR_SYSCALL && !r[0])
    snprintf(r, sizeof(r), "unexpected end of input");
  snprintf(c->err, sizeof(c->err), "TLS %s failed: %s", op,
           r[0] ? r : "unknown error");
  return nomem ? BEACON_ENOMEM : BEACON_ETLS;
}

/*
 * A server keeps the certificates its peer sent after its own leaf
 * (a controller sends its Fleet CA along, as `beacon pki` writes it) in
 * the session for the life of the connection: about 4.5 KiB of parsed
 * certificate per tunnel, the largest thing an idle tunnel holds after
 * the SSL object. Nothing reads them once the handshake is done: the
 * chain was verified against our own CA file (the verified chain holds
 * references of its own), no session is cached or resumed (no tickets,
 * no cache), and the relay reads only the leaf (subject, SPKI, expiry),
 * which stays. On a server this stack never holds the leaf
 * (SSL_get_peer_cert_chain(3)), so it is emptied in place, and a client
 * that sent its leaf alone has the same empty stack.
 */
static void drop_peer_chain(tls_conn_t *c)
{
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
  if(c->ctx->role != TLS_SERVER || !chain)
    return;
  X509 *x;
  while((x = sk_X509_pop(chain)))
    X509_free(x);
}

int tls_conn_handshake(tls_conn_t *c)
{
  if(c->done)
    return 0;
  int r = SSL_do_handshake(c->ssl);
  if(r == 1) {
    c->done = 1;
    drop_peer_chain(c);
    return 0;
  }
  int rc = conn_fail(c, r, "handshake");
  const char *banner = c->ctx->role == TLS_CLIENT
                           ? tls_banner_guess(c->first, c->nfirst)
                           : NULL;
  if(rc == BEACON_ETLS && banner && !c->alert) {
    /* "wrong version number" says nothing useful: say what answered. */
    char why[sizeof(c->err)];
    memcpy(why, c->err, sizeof(why));
    snprintf(c->err, sizeof(c->err),
             "not a beacon relay: it answered like %s (%.150s)", banner, why);
    return rc;
  }
  if(!rc) {
    snprintf(c->err, sizeof(c->err),
             "TLS handshake failed: peer closed the session");
    rc = BEACON_ETLS;
  }
  return rc;
}

int tls_conn_handshake_done(const tls_conn_t *c)
{
  return c->done;
}

int tls_conn_read(tls_conn_t *c, uint8_t *buf, size_t cap)
{
  size_t n = 0;
  if(!cap)
    return BEACON_EINVAL;
  if(cap > INT_MAX)
    cap = INT_MAX;
  if(SSL_read_ex(c->ssl, buf, cap, &n) == 1) {
    if(!c->done) { /* the handshake may finish inside a read */
      c->done = 1;
      drop_peer_chain(c);
    }
    return (int)n;
  }
  return conn_fail(c, 0, "read");
}

int tls_conn_read_batch(tls_conn_t *c, uint8_t *buf, size_t cap, size_t *got)
{
  int n;
  *got = 0;
  do {
    n = tls_conn_read(c, buf + *got, cap - *got);
    if(n > 0)
      *got += (size_t)n;
  } while(n > 0 && *got < cap);
  return n;
}

int tls_conn_write(tls_conn_t *c, const uint8_t *data, size_t len)
{
  if(len > INT_MAX)
    return BEACON_EINVAL;
  if(!SSL_is_init_finished(c->ssl)) {
    /* A TLS 1.3 client is done before the server judged its certificate:
     * the server's refusal, read before this write, is the reason. */
    if(c->alert)
      alert_error(c);
    else
      snprintf(c->err, sizeof(c->err),
               "TLS write failed: the handshake is not complete");
    return BEACON_ETLS;
  }
  size_t off = 0;
  while(off < len) {
    size_t w = 0;
    /* without SSL_MODE_ENABLE_PARTIAL_WRITE and with a queue BIO that
     * grows, this encrypts everything in one call; loop anyway */
    if(SSL_write_ex(c->ssl, data + off, len - off, &w) != 1) {
      int rc = conn_fail(c, 0, "write");
      return rc == BEACON_EAGAIN || rc == 0 ? BEACON_ETLS : rc;
    }
    off += w;
  }
  return (int)len;
}

size_t tls_conn_out_pending(const tls_conn_t *c)
{
  return bio_queue_pending(c->wbio);
}

size_t tls_conn_out_peek(const tls_conn_t *c, const uint8_t **p)
{
  return bio_queue_peek(c->wbio, p);
}

void tls_conn_out_consume(tls_conn_t *c, size_t n)
{
  bio_queue_consume(c->wbio, n);
}

size_t tls_conn_take_output(tls_conn_t *c, uint8_t *out, size_t cap)
{
  const uint8_t *p;
  size_t n = bio_queue_peek(c->wbio, &p);
  if(n > cap)
    n = cap;
  if(n) {
    memcpy(out, p, n);
    bio_queue_consume(c->wbio, n);
  }
  return n;
}

/* Empty ciphertext queues give back their buffer whatever its size: an
 * idle tunnel then holds none (2 x 256 bytes and their malloc headers
 * otherwise). tls_conn_trim() runs once after the handshake and on
 * keep-alive ticks, never per record, so the cost when traffic resumes
 * is one malloc per queue and tick, and a busy queue (bytes pending) is
 * never touched. */
#define TLS_BIO_KEEP 0

size_t tls_conn_trim(tls_conn_t *c)
{
  return bio_queue_trim(c->rbio, TLS_BIO_KEEP) +
         bio_queue_trim(c->wbio, TLS_BIO_KEEP);
}

int tls_conn_peer_chain_held(const tls_conn_t *c)
{
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
  int n = chain ? sk_X509_num(chain) : 0;
  /* a client's stack starts with the leaf */
  return c->ctx->role == TLS_CLIENT && n > 0 ? n - 1 : n;
}

int tls_conn_shutdown(tls_conn_t *c)
{
  if(!SSL_is_init_finished(c->ssl))
    return 0; /* nothing to close politely */
  int r = SSL_shutdown(c->ssl);
  if(r >= 0)
    return 0;
  int rc = conn_fail(c, r, "shutdown");
  return rc == BEACON_EAGAIN ? 0 : rc;
}

const char *tls_conn_error(const tls_conn_t *c)
{
  return c->err[0] ? c->err : "no error";
}

int tls_conn_peer_subject(const tls_conn_t *c, char *buf, size_t cap)
{
  X509 *peer = SSL_get0_peer_certificate(c->ssl);
  if(!peer || !cap)
    return BEACON_EINVAL;
  BIO *b = BIO_new(BIO_s_mem());
  if(!b)
    return BEACON_ENOMEM;
  int rc = 0;
  if(X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) <
     0)
    rc = BEACON_ENOMEM;
  else {
    char *p;
    long n = BIO_get_mem_data(b, &p);
    if(n < 0 || (size_t)n >= cap)
      rc = BEACON_ETOOLONG;
    else {
      memcpy(buf, p, (size_t)n);
      buf[n] = '\0';
    }
  }
  BIO_free(b);
  ERR_clear_error();
  return rc;
}

time_t tls_conn_peer_not_after(const tls_conn_t *c)
{
  return cert_not_after(SSL_get0_peer_certificate(c->ssl));
}

time_t tls_conn_peer_not_before(const tls_conn_t *c)
{
  X509 *x = SSL_get0_peer_certificate(c->ssl);
  return x ? asn1_time(X509_get0_notBefore(x)) : 0;
}

int tls_conn_peer_spki_sha256(const tls_conn_t *c, char hex[65])
{
  X509 *peer = SSL_get0_peer_certificate(c->ssl);
  if(!peer)
    return BEACON_EINVAL;
  return tls_identity_spki_hex(X509_get_X509_PUBKEY(peer), hex);
}

int tls_conn_peer_identity(const tls_conn_t *c, char *canon, size_t cap)
{
  X509 *peer = SSL_get0_peer_certificate(c->ssl);
  if(!peer)
    return BEACON_EINVAL;
  return tls_identity_of_name(X509_get_subject_name(peer), canon, cap);
}

const char *tls_conn_version(const tls_conn_t *c)
{
  return SSL_get_version(c->ssl);
}

const char *tls_conn_cipher(const tls_conn_t *c)
{
  const char *s = SSL_get_cipher_name(c->ssl);
  return s ? s : "(none)";
}

SSL_CTX *tls_ctx_native(const tls_ctx_t *ctx)
{
  return ctx->ssl;
}

SSL *tls_conn_native(const tls_conn_t *c)
{
  return c->ssl;
}
