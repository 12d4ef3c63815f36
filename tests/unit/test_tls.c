/*
 * test_tls.c - the sans-I/O TLS layer (src/tls/tls_conn.c, context.c): a
 * client and a server tls_conn exchanging ciphertext through memory, with
 * certificates from pki_init()/pki_issue() in a temporary directory
 * (docs/PROTOCOL.md "Transport: TLS 1.3 with mutual authentication").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "beacon/beacon.h"
#include "tls/tls.h"
#include "fixture_pki.h"

/* ---- fixtures ---------------------------------------------------------- */

/* A CRL from the Fleet CA revoking the first certificate of revoked. */
static void make_crl(const char *revoked, const char *out)
{
  X509 *ca = fixture_read_cert(fixture_path("pki/fleet-ca.crt"));
  X509 *leaf = fixture_read_cert(revoked);
  EVP_PKEY *key = fixture_read_key(fixture_path("pki/fleet-ca.key"));

  X509_CRL *crl = X509_CRL_new();
  assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
  assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)),
                   1);
  ASN1_TIME *t = X509_gmtime_adj(NULL, -3600);
  X509_CRL_set1_lastUpdate(crl, t);
  X509_gmtime_adj(t, 86400);
  X509_CRL_set1_nextUpdate(crl, t);
  X509_REVOKED *r = X509_REVOKED_new();
  X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(leaf));
  X509_gmtime_adj(t, -60);
  X509_REVOKED_set_revocationDate(r, t);
  ASN1_TIME_free(t);
  assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
  X509_CRL_sort(crl);
  assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
  BIO *b = BIO_new_file(out, "w");
  assert_int_equal(PEM_write_bio_X509_CRL(b, crl), 1);
  BIO_free(b);
  X509_CRL_free(crl);
  X509_free(ca);
  X509_free(leaf);
  EVP_PKEY_free(key);
}

static int group_setup(void **state)
{
  (void)state;
  if(fixture_dir_make("tls") || fixture_pki_init("pki"))
    return -1;
  fixture_issue("t", (pki_issue_opts_t){.name = "srvonly",
                                        .server_auth = 1,
                                        .sans = "localhost",
                                        .ca_dir = fixture_path("pki")});
  fixture_issue("t", (pki_issue_opts_t){.name = "expired",
                                        .client_auth = 1,
                                        .not_before_days = -30,
                                        .not_after_days = -1,
                                        .ca_dir = fixture_path("pki")});
  fixture_issue("t", (pki_issue_opts_t){.name = "future",
                                        .client_auth = 1,
                                        .not_before_days = 2,
                                        .not_after_days = 30,
                                        .ca_dir = fixture_path("pki")});
  fixture_issue("t", (pki_issue_opts_t){.name = "revoked",
                                        .client_auth = 1,
                                        .ca_dir = fixture_path("pki")});
  fixture_issue("t",
                (pki_issue_opts_t){.name = "other-ca", .self_signed_ca = 1});
  fixture_issue("t", (pki_issue_opts_t){.name = "rogue",
                                        .client_auth = 1,
                                        .server_auth = 1,
                                        .sans = "localhost",
                                        .ca_dir = fixture_path("t"),
                                        .ca_name = "other-ca"});
  make_crl(fixture_path("t/revoked.crt"), fixture_path("t/fleet.crl"));
  FILE *f = fopen(fixture_path("t/empty.pem"), "w");
  fclose(f);
  f = fopen(fixture_path("t/junk.pem"), "w");
  fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
        "-----END CERTIFICATE-----\n",
        f);
  fclose(f);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  return fixture_dir_remove();
}

/* Runs both handshakes until neither makes progress. */
static void handshake(tls_conn_t *cl, tls_conn_t *sv, int *crc, int *src)
{
  *crc = *src = BEACON_EAGAIN;
  for(int i = 0; i < 20; i++) {
    if(*crc == BEACON_EAGAIN)
      *crc = tls_conn_handshake(cl);
    size_t m = fixture_tls_move(cl, sv);
    if(*src == BEACON_EAGAIN)
      *src = tls_conn_handshake(sv);
    m += fixture_tls_move(sv, cl);
    if(!m && *crc != BEACON_EAGAIN && *src != BEACON_EAGAIN)
      return;
  }
}

static void pair(tls_ctx_t *sctx, tls_ctx_t *cctx, const char *host,
                 tls_conn_t **cl, tls_conn_t **sv)
{
  *sv = tls_conn_new(sctx, NULL);
  *cl = tls_conn_new(cctx, host);
  assert_non_null(*sv);
  assert_non_null(*cl);
}

/* A client and a server with the development PKI, handshake done; the
 * connections hold the only references to their contexts. */
static void established(const char *host, tls_conn_t **cl, tls_conn_t **sv)
{
  tls_ctx_t *sctx = fixture_server_ctx(NULL);
  tls_ctx_t *cctx = fixture_client_ctx("pki/controller", NULL);
  int crc, src;
  pair(sctx, cctx, host, cl, sv);
  tls_ctx_unref(sctx);
  tls_ctx_unref(cctx);
  handshake(*cl, *sv, &crc, &src);
  assert_int_equal(crc, 0);
  assert_int_equal(src, 0);
}

static void assert_contains(const char *hay, const char *needle)
{
  if(!strstr(hay, needle))
    fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* After the client finished and the server refused it, the client learns
 * why from the alert on its first read (TLS 1.3 ends the client's
 * handshake before the server has checked its certificate). */
static void client_sees_alert(tls_conn_t *cl)
{
  uint8_t b[64];
  int rc = tls_conn_read(cl, b, sizeof(b));
  assert_int_equal(rc, BEACON_ETLS);
  assert_contains(tls_conn_error(cl), "relay rejected our certificate: ");
  assert_contains(tls_conn_error(cl), "(TLS alert ");
  /* A write after the alert (the mux flushing) keeps the reason. */
  assert_int_equal(tls_conn_write(cl, (const uint8_t *)"x", 1), BEACON_ETLS);
  assert_contains(tls_conn_error(cl), "relay rejected our certificate: ");
}

/* ---- success ------------------------------------------------------------ */

static void transfer(tls_conn_t *from, tls_conn_t *to, size_t total)
{
  static uint8_t chunk[65536], rbuf[16384];
  size_t sent = 0, got = 0;
  while(got < total) {
    if(sent < total) {
      size_t n = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);
      for(size_t i = 0; i < n; i++)
        chunk[i] = (uint8_t)((sent + i) * 7 + ((sent + i) >> 13));
      assert_int_equal(tls_conn_write(from, chunk, n), (int)n);
      sent += n;
      fixture_tls_move(from, to);
    }
    for(;;) {
      int r = tls_conn_read(to, rbuf, sizeof(rbuf));
      if(r == BEACON_EAGAIN)
        break;
      assert_true(r > 0);
      for(int i = 0; i < r; i++)
        if(rbuf[i] !=
           (uint8_t)((got + (size_t)i) * 7 + ((got + (size_t)i) >> 13)))
          fail_msg("byte %zu differs", got + (size_t)i);
      got += (size_t)r;
    }
    if(sent == total && got < total)
      fail_msg("only %zu of %zu bytes arrived", got, total);
  }
  assert_int_equal(got, total);
}

static void test_handshake_and_data(void **state)
{
  (void)state;
  tls_ctx_t *sctx = fixture_server_ctx(NULL);
  tls_ctx_t *cctx = fixture_client_ctx("pki/controller", NULL);
  tls_conn_t *cl, *sv;
  int crc, src;
  pair(sctx, cctx, "localhost", &cl, &sv);
  /* the contexts live on through their connections */
  tls_ctx_unref(sctx);
  tls_ctx_unref(cctx);

  uint8_t b[256];
  assert_int_equal(tls_conn_read(sv, b, sizeof(b)), BEACON_EAGAIN);
  assert_int_equal(tls_conn_write(cl, (const uint8_t *)"x", 1), BEACON_ETLS);
  /* SNI carries a DNS name in clear in the ClientHello */
  assert_int_equal(tls_conn_handshake(cl), BEACON_EAGAIN);
  uint8_t hello[4096];
  size_t hl = tls_conn_take_output(cl, hello, sizeof(hello));
  assert_true(hl > 0);
  assert_non_null(memmem(hello, hl, "localhost", 9));
  assert_int_equal(tls_conn_feed(sv, hello, hl), 0);

  handshake(cl, sv, &crc, &src);
  assert_int_equal(crc, 0);
  assert_int_equal(src, 0);
  assert_true(tls_conn_handshake_done(cl));
  assert_true(tls_conn_handshake_done(sv));
  assert_string_equal(tls_conn_version(cl), "TLSv1.3");
  assert_string_equal(tls_conn_cipher(cl), "TLS_AES_128_GCM_SHA256");
  assert_string_equal(tls_conn_cipher(sv), "TLS_AES_128_GCM_SHA256");

  char subj[256];
  assert_int_equal(tls_conn_peer_subject(sv, subj, sizeof(subj)), 0);
  assert_string_equal(subj, "CN=controller,O=beacon");
  assert_int_equal(tls_conn_peer_subject(cl, subj, sizeof(subj)), 0);
  assert_string_equal(subj, "CN=relay,O=beacon");
  assert_int_equal(tls_conn_peer_subject(sv, subj, 5), BEACON_ETOOLONG);

  /* SPKI pin: SHA-256 of the DER SubjectPublicKeyInfo */
  char hex[65], want[65];
  assert_int_equal(tls_conn_peer_spki_sha256(sv, hex), 0);
  /* The controller sent its Fleet CA after its leaf: the relay's side
   * dropped that copy, the client kept the relay's (it holds few
   * sessions), and the leaf's names and key are still there. */
  assert_int_equal(tls_conn_peer_chain_held(sv), 0);
  assert_int_equal(tls_conn_peer_chain_held(cl), 1);
  X509 *x = fixture_read_cert(fixture_path("pki/controller.crt"));
  unsigned char *der = NULL, md[32];
  int dl = i2d_PUBKEY(X509_get0_pubkey(x), &der);
  assert_true(dl > 0);
  SHA256(der, (size_t)dl, md);
  OPENSSL_free(der);
  X509_free(x);
  for(int i = 0; i < 32; i++)
    snprintf(want + 2 * i, 3, "%02x", md[i]);
  assert_string_equal(hex, want);

  /* both ways, then 1 MiB each way */
  assert_int_equal(tls_conn_write(cl, (const uint8_t *)"ping", 4), 4);
  fixture_tls_move(cl, sv);
  assert_int_equal(tls_conn_read(sv, b, sizeof(b)), 4);
  assert_memory_equal(b, "ping", 4);
  assert_int_equal(tls_conn_read(sv, b, sizeof(b)), BEACON_EAGAIN);
  assert_int_equal(tls_conn_write(sv, (const uint8_t *)"pong!", 5), 5);
  fixture_tls_move(sv, cl);
  assert_int_equal(tls_conn_read(cl, b, sizeof(b)), 5);
  assert_memory_equal(b, "pong!", 5);
  transfer(cl, sv, 1 << 20);
  transfer(sv, cl, (1 << 20) + 123);

  /* Bulk data left the ciphertext queues large: trimming gives that
   * back once, and the connection carries on through the new queues. */
  assert_true(tls_conn_trim(sv) > 0);
  assert_true(tls_conn_trim(cl) > 0);
  assert_int_equal(tls_conn_trim(sv), 0);
  transfer(cl, sv, (1 << 18) + 7);
  /* Small records after a trim: the idle queues held no buffer, the
   * next write allocates one, and a later trim gives it back again. */
  assert_int_equal(tls_conn_write(cl, (const uint8_t *)"hi", 2), 2);
  fixture_tls_move(cl, sv);
  assert_int_equal(tls_conn_read(sv, b, sizeof(b)), 2);
  assert_memory_equal(b, "hi", 2);
  assert_true(tls_conn_trim(cl) > 0);
  assert_true(tls_conn_trim(sv) > 0);
  assert_int_equal(tls_conn_trim(cl), 0);
  /* Nothing pending is ever dropped: a record fed but not yet read and
   * output not yet taken stay through a trim. */
  assert_int_equal(tls_conn_write(cl, (const uint8_t *)"kept", 4), 4);
  assert_true(tls_conn_out_pending(cl) > 0);
  tls_conn_trim(cl);
  uint8_t rec[256];
  size_t rl = tls_conn_take_output(cl, rec, sizeof(rec));
  assert_true(rl > 4);
  assert_int_equal(tls_conn_feed(sv, rec, rl), 0);
  tls_conn_trim(sv);
  assert_int_equal(tls_conn_read(sv, b, sizeof(b)), 4);
  assert_memory_equal(b, "kept", 4);

  /* close_notify reads as 0 */
  assert_int_equal(tls_conn_shutdown(cl), 0);
  fixture_tls_move(cl, sv);
  assert_int_equal(tls_conn_read(sv, b, sizeof(b)), 0);
  tls_conn_free(cl);
  tls_conn_free(sv);
}

/* Output taken straight from the queue in uneven pieces, while more is
 * encrypted behind them (the queue compacts and grows under a peeked
 * span's successors), arrives whole and in order. */
static void test_out_peek_consume(void **state)
{
  (void)state;
  tls_conn_t *cl, *sv;
  established("localhost", &cl, &sv);

  static uint8_t data[300000], got[300001];
  for(size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i * 13 + (i >> 11));
  const uint8_t *p;
  assert_int_equal(tls_conn_out_peek(cl, &p), 0);
  size_t wrote = 0, nread = 0, step = 1;
  while(nread < sizeof(data)) {
    if(wrote < sizeof(data)) {
      size_t n = sizeof(data) - wrote < 40000 ? sizeof(data) - wrote : 40000;
      assert_int_equal(tls_conn_write(cl, data + wrote, n), (int)n);
      wrote += n;
    }
    size_t avail = tls_conn_out_peek(cl, &p);
    assert_int_equal(avail, tls_conn_out_pending(cl));
    /* hand over an uneven part: 1, 8, 27, ... bytes, then the rest */
    size_t n = wrote == sizeof(data) ? avail : step * step * step % avail;
    step++;
    assert_int_equal(tls_conn_feed(sv, p, n), 0);
    tls_conn_out_consume(cl, n);
    assert_int_equal(tls_conn_out_pending(cl), avail - n);
    int r;
    while((r = tls_conn_read(sv, got + nread, sizeof(got) - nread)) > 0)
      nread += (size_t)r;
    assert_int_equal(r, BEACON_EAGAIN);
    if(wrote == sizeof(data) && !tls_conn_out_pending(cl))
      break;
  }
  assert_int_equal(nread, sizeof(data));
  assert_memory_equal(got, data, sizeof(data));
  assert_int_equal(tls_conn_out_peek(cl, &p), 0);
  tls_conn_free(cl);
  tls_conn_free(sv);
}

static void test_not_after(void **state)
{
  (void)state;
  tls_ctx_t *sctx = fixture_server_ctx(NULL);
  time_t na = tls_ctx_cert_not_after(sctx);
  time_t now = time(NULL);
  assert_true(na > now + 824L * 86400 && na < now + 826L * 86400);
  tls_ctx_ref(sctx);
  tls_ctx_unref(sctx);
  tls_ctx_unref(sctx);
  tls_ctx_unref(NULL);
  tls_conn_free(NULL);
}

static void test_ip_sans(void **state)
{
  (void)state;
  static const struct {
    const char *host;
    int ok;
  } cases[] = {{"127.0.0.1", 1}, {"::1", 1},       {"[::1]", 1},
               {"localhost", 1}, {"127.0.0.2", 0}, {"::2", 0},
               {"LOCALHOST", 1}, {"relay", 0}};
  tls_ctx_t *sctx = fixture_server_ctx(NULL);
  tls_ctx_t *cctx = fixture_client_ctx("pki/controller", NULL);
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    tls_conn_t *cl, *sv;
    int crc, src;
    pair(sctx, cctx, cases[i].host, &cl, &sv);
    handshake(cl, sv, &crc, &src);
    if(cases[i].ok) {
      if(crc || src)
        fail_msg("%s: %s / %s", cases[i].host, tls_conn_error(cl),
                 tls_conn_error(sv));
    } else {
      /* "relay" is the subject CN: never used for host checks */
      assert_int_equal(crc, BEACON_EVERIFY);
      assert_contains(tls_conn_error(cl), "mismatch (depth 0)");
      assert_int_equal(src, BEACON_ETLS);
    }
    tls_conn_free(cl);
    tls_conn_free(sv);
  }
  tls_ctx_unref(sctx);
  tls_ctx_unref(cctx);
}

/* ---- refusals ----------------------------------------------------------- */

/* The server refuses the client certificate NAME with verify_text. */
static void refuse_client(const char *name, const char *crl,
                          const char *verdict, const char *verify_text)
{
  tls_ctx_t *sctx = fixture_server_ctx(crl);
  tls_ctx_t *cctx = fixture_client_ctx(name, NULL);
  tls_conn_t *cl, *sv;
  int crc, src;
  pair(sctx, cctx, "localhost", &cl, &sv);
  handshake(cl, sv, &crc, &src);
  assert_int_equal(src, BEACON_EVERIFY);
  assert_contains(tls_conn_error(sv), verdict);
  assert_contains(tls_conn_error(sv), "; certificate verify failed: ");
  assert_contains(tls_conn_error(sv), verify_text);
  assert_int_equal(crc, 0);
  client_sees_alert(cl);
  tls_conn_free(cl);
  tls_conn_free(sv);
  tls_ctx_unref(sctx);
  tls_ctx_unref(cctx);
}

static void test_wrong_ca(void **state)
{
  (void)state;
  refuse_client("t/rogue", NULL,
                "client certificate not signed by the fleet CA",
                "self-signed certificate in certificate chain (depth 1)");

  /* and a client anchored on another CA refuses the relay */
  tls_ctx_t *sctx = fixture_server_ctx(NULL);
  tls_ctx_t *cctx =
      fixture_client_ctx("t/rogue", fixture_path("t/other-ca.crt"));
  tls_conn_t *cl, *sv;
  int crc, src;
  pair(sctx, cctx, "localhost", &cl, &sv);
  handshake(cl, sv, &crc, &src);
  assert_int_equal(crc, BEACON_EVERIFY);
  assert_contains(tls_conn_error(cl),
                  "relay certificate not signed by the fleet CA; "
                  "certificate verify failed: ");
  assert_int_equal(src, BEACON_ETLS);
  /* the relay learns why from the controller's alert */
  assert_contains(tls_conn_error(sv),
                  "client rejected our certificate: unknown CA");
  tls_conn_free(cl);
  tls_conn_free(sv);
  tls_ctx_unref(sctx);
  tls_ctx_unref(cctx);
}

static void test_server_auth_only_client_refused(void **state)
{
  (void)state;
  refuse_client("t/srvonly", NULL,
                "client certificate not for client authentication",
                "unsuitable certificate purpose (depth 0)");
}

static void test_expired_client_refused(void **state)
{
  (void)state;
  refuse_client("t/expired", NULL, "client certificate expired",
                "certificate has expired (depth 0)");
}

static void test_not_yet_valid_client_refused(void **state)
{
  (void)state;
  refuse_client("t/future", NULL, "client certificate not valid yet",
                "certificate is not yet valid (depth 0)");
}

static void test_revoked_client_refused(void **state)
{
  (void)state;
  refuse_client("t/revoked", fixture_path("t/fleet.crl"),
                "client certificate revoked", "certificate revoked (depth 0)");
  /* the same CRL lets an unrevoked certificate through */
  tls_ctx_t *sctx = fixture_server_ctx(fixture_path("t/fleet.crl"));
  tls_ctx_t *cctx = fixture_client_ctx("pki/controller", NULL);
  tls_conn_t *cl, *sv;
  int crc, src;
  pair(sctx, cctx, "localhost", &cl, &sv);
  handshake(cl, sv, &crc, &src);
  assert_int_equal(crc, 0);
  assert_int_equal(src, 0);
  tls_conn_free(cl);
  tls_conn_free(sv);
  tls_ctx_unref(sctx);
  tls_ctx_unref(cctx);
}

static void test_wrong_host(void **state)
{
  (void)state;
  tls_ctx_t *sctx = fixture_server_ctx(NULL);
  tls_ctx_t *cctx = fixture_client_ctx("pki/controller", NULL);
  tls_conn_t *cl, *sv;
  int crc, src;
  pair(sctx, cctx, "other.example", &cl, &sv);
  handshake(cl, sv, &crc, &src);
  assert_int_equal(crc, BEACON_EVERIFY);
  assert_string_equal(tls_conn_error(cl),
                      "relay certificate does not name the host dialled "
                      "(it names localhost, 127.0.0.1, ::1); "
                      "certificate verify failed: hostname mismatch "
                      "(depth 0)");
  assert_int_equal(src, BEACON_ETLS);
  tls_conn_free(cl);
  tls_conn_free(sv);
  tls_ctx_unref(sctx);
  tls_ctx_unref(cctx);
  /* a client connection without a host to check is refused */
  cctx = fixture_client_ctx("pki/controller", NULL);
  assert_null(tls_conn_new(cctx, NULL));
  assert_null(tls_conn_new(cctx, ""));
  tls_ctx_unref(cctx);
}

/* A plain OpenSSL client (no certificate, or TLS 1.2 only) against a
 * beacon server; returns the server's handshake result. */
static int raw_client(int max_version, tls_conn_t **svp)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(ctx);
  if(max_version)
    SSL_CTX_set_max_proto_version(ctx, max_version);
  assert_int_equal(
      SSL_CTX_load_verify_file(ctx, fixture_path("pki/fleet-ca.crt")), 1);
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
                              X509_V_FLAG_PARTIAL_CHAIN);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL *ssl = SSL_new(ctx);
  BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(r, -1);
  SSL_set_bio(ssl, r, w);
  SSL_set_connect_state(ssl);

  tls_ctx_t *sctx = fixture_server_ctx(NULL);
  tls_conn_t *sv = tls_conn_new(sctx, NULL);
  tls_ctx_unref(sctx);
  int src = BEACON_EAGAIN;
  uint8_t buf[16384];
  for(int i = 0; i < 20; i++) {
    int cr = SSL_do_handshake(ssl);
    (void)cr;
    int n;
    while((n = BIO_read(w, buf, sizeof(buf))) > 0)
      assert_int_equal(tls_conn_feed(sv, buf, (size_t)n), 0);
    if(src == BEACON_EAGAIN)
      src = tls_conn_handshake(sv);
    size_t m;
    while((m = tls_conn_take_output(sv, buf, sizeof(buf))) > 0)
      BIO_write(r, buf, (int)m);
    /* TLS 1.3 clients finish first; let them read the server's reply */
    char c;
    SSL_read(ssl, &c, 1);
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  *svp = sv;
  return src;
}

static void test_client_without_certificate(void **state)
{
  (void)state;
  tls_conn_t *sv;
  assert_int_equal(raw_client(0, &sv), BEACON_EVERIFY);
  assert_contains(tls_conn_error(sv), "client sent no certificate");
  tls_conn_free(sv);
}

static void test_tls12_client_refused(void **state)
{
  (void)state;
  tls_conn_t *sv;
  assert_int_equal(raw_client(TLS1_2_VERSION, &sv), BEACON_ETLS);
  assert_contains(tls_conn_error(sv), "unsupported protocol");
  tls_conn_free(sv);
}

static void test_corrupted_record(void **state)
{
  (void)state;
  tls_conn_t *cl, *sv;
  established("127.0.0.1", &cl, &sv);
  assert_int_equal(tls_conn_write(cl, (const uint8_t *)"secret", 6), 6);
  uint8_t rec[256];
  size_t n = tls_conn_take_output(cl, rec, sizeof(rec));
  assert_true(n > 10);
  rec[n - 3] ^= 0x20; /* inside the AEAD tag */
  assert_int_equal(tls_conn_feed(sv, rec, n), 0);
  uint8_t b[64];
  assert_int_equal(tls_conn_read(sv, b, sizeof(b)), BEACON_ETLS);
  assert_contains(tls_conn_error(sv), "TLS read failed: ");
  /* the pending output holds the alert */
  assert_true(tls_conn_out_pending(sv) > 0);
  tls_conn_free(cl);
  tls_conn_free(sv);
}

/* ---- configuration errors ---------------------------------------------- */

static void ctx_error(const char *cert, const char *key, const char *ca,
                      const char *crl, const char *want1, const char *want2)
{
  tls_ctx_t *ctx = (tls_ctx_t *)1;
  char err[512];
  int rc = tls_ctx_new(&ctx, TLS_SERVER, cert, key, ca, crl, err, sizeof(err));
  assert_int_equal(rc, BEACON_ECONFIG);
  assert_null(ctx);
  assert_contains(err, want1);
  assert_contains(err, want2);
  assert_int_equal(ERR_peek_error(), 0);
}

static void test_ctx_errors(void **state)
{
  (void)state;
  /* fixture_path() reuses its buffers: keep copies */
  char crt[1024], key[1024], ca[1024];
  snprintf(crt, sizeof(crt), "%s", fixture_path("pki/relay.crt"));
  snprintf(key, sizeof(key), "%s", fixture_path("pki/relay.key"));
  snprintf(ca, sizeof(ca), "%s", fixture_path("pki/fleet-ca.crt"));
  ctx_error(fixture_path("nope.crt"), key, ca, NULL, "nope.crt", "missing");
  ctx_error(fixture_path("t/empty.pem"), key, ca, NULL, "empty.pem", "empty");
  ctx_error(fixture_path("t/junk.pem"), key, ca, NULL, "junk.pem",
            "not a PEM certificate chain");
  ctx_error(crt, fixture_path("nope.key"), ca, NULL, "nope.key", "missing");
  ctx_error(crt, fixture_path("t/junk.pem"), ca, NULL, "junk.pem",
            "not a PEM private key");
  ctx_error(crt, fixture_path("pki/controller.key"), ca, NULL,
            "controller.key", "does not match");
  ctx_error(crt, key, fixture_path("nope-ca.crt"), NULL, "nope-ca.crt",
            "missing");
  ctx_error(crt, key, fixture_path("t/empty.pem"), NULL, "CA", "empty");
  ctx_error(crt, key, fixture_path("t/junk.pem"), NULL, "CA", "junk.pem");
  ctx_error(crt, key, ca, fixture_path("nope.crl"), "CRL", "missing");
  ctx_error(crt, key, ca, fixture_path("pki/relay.crt"), "CRL", "no PEM CRL");
  ctx_error(crt, key, ca, fixture_path("pki"), "pki", "not a regular file");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_and_data),
      cmocka_unit_test(test_out_peek_consume),
      cmocka_unit_test(test_not_after),
      cmocka_unit_test(test_ip_sans),
      cmocka_unit_test(test_wrong_ca),
      cmocka_unit_test(test_server_auth_only_client_refused),
      cmocka_unit_test(test_expired_client_refused),
      cmocka_unit_test(test_not_yet_valid_client_refused),
      cmocka_unit_test(test_revoked_client_refused),
      cmocka_unit_test(test_wrong_host),
      cmocka_unit_test(test_client_without_certificate),
      cmocka_unit_test(test_tls12_client_refused),
      cmocka_unit_test(test_corrupted_record),
      cmocka_unit_test(test_ctx_errors),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
