/*
 * tls_conn.c - TLS 1.3 mutual authentication over byte-queue BIOs
 * (docs/PROTOCOL.md "Transport: TLS 1.3 with mutual authentication"): a
 * connection. Its context is context.c, the words for a failed call
 * conn_fail.c. Sans-I/O: the caller feeds ciphertext in with tls_conn_feed()
 * and takes ciphertext out with tls_conn_out_peek()/_consume() (straight from
 * the queue) or tls_conn_take_output() (a copy); no socket and no clock here
 * (OpenSSL reads the clock itself for certificate validity, which is the one
 * exception we accept).
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

#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "beacon/beacon.h"
#include "tls/bio_queue.h"
#include "tls/conn_fail.h"
#include "tls/context.h"
#include "tls/identity.h"
#include "tls/tls_int.h"
#include "tls/tls_native.h"

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
  int rc = tls_conn_fail(c, r, "handshake");
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
  return tls_conn_fail(c, 0, "read");
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
      tls_conn_alert_error(c);
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
      int rc = tls_conn_fail(c, 0, "write");
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
  int rc = tls_conn_fail(c, r, "shutdown");
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
  return tls_cert_not_after(SSL_get0_peer_certificate(c->ssl));
}

time_t tls_conn_peer_not_before(const tls_conn_t *c)
{
  return tls_cert_not_before(SSL_get0_peer_certificate(c->ssl));
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

SSL *tls_conn_native(const tls_conn_t *c)
{
  return c->ssl;
}
