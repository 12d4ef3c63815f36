/*
 * test_peer_cert.c - re-checking an established peer's certificate
 * against a newer context (src/tls/peer_cert.c) and the CRLs' dates of a
 * context (src/tls/crl_dates.c): revoked by a new CRL, untrusted once
 * its CA left the CA file, undecided when the CRL cannot speak for its
 * issuer, unaffected by a CRL that lists someone else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "beacon/beacon.h"
#include "tls/crl_dates.h"
#include "tls/peer_cert.h"
#include "tls/tls.h"
#include "fixture_pki.h"

#define NEXT_UPDATE_SECONDS 86400

/* A CRL signed by ca_name (in dir) revoking the first certificate of
 * revoked (NULL: revoking nobody). Returns its nextUpdate. */
static time_t make_crl(const char *ca_crt, const char *ca_key,
                       const char *revoked, const char *out)
{
  X509 *ca = fixture_read_cert(ca_crt);
  EVP_PKEY *key = fixture_read_key(ca_key);
  X509_CRL *crl = X509_CRL_new();
  assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
  assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)),
                   1);
  time_t now = time(NULL);
  ASN1_TIME *t = ASN1_TIME_set(NULL, now - 3600);
  X509_CRL_set1_lastUpdate(crl, t);
  ASN1_TIME_set(t, now + NEXT_UPDATE_SECONDS);
  X509_CRL_set1_nextUpdate(crl, t);
  if(revoked) {
    X509 *leaf = fixture_read_cert(revoked);
    X509_REVOKED *r = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(leaf));
    ASN1_TIME_set(t, now - 60);
    X509_REVOKED_set_revocationDate(r, t);
    assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
    X509_free(leaf);
  }
  ASN1_TIME_free(t);
  X509_CRL_sort(crl);
  assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
  BIO *b = BIO_new_file(out, "w");
  assert_int_equal(PEM_write_bio_X509_CRL(b, crl), 1);
  BIO_free(b);
  X509_CRL_free(crl);
  X509_free(ca);
  EVP_PKEY_free(key);
  return now + NEXT_UPDATE_SECONDS;
}

static time_t next_update;

/* out = a then b (two PEM files into one). 0, or -1. */
static int concat(const char *out, const char *a, const char *b)
{
  FILE *w = fopen(out, "wb");
  if(!w)
    return -1;
  const char *in[2] = {a, b};
  for(int i = 0; i < 2; i++) {
    FILE *r = fopen(in[i], "rb");
    char buf[4096];
    size_t n;
    while(r && (n = fread(buf, 1, sizeof(buf), r)) > 0)
      fwrite(buf, 1, n, w);
    if(r)
      fclose(r);
  }
  return fclose(w) ? -1 : 0;
}

static int group_setup(void **state)
{
  (void)state;
  if(fixture_dir_make("peer-cert") || fixture_pki_init("pki"))
    return -1;
  fixture_issue("t", (pki_issue_opts_t){.name = "thief",
                                        .client_auth = 1,
                                        .ca_dir = fixture_path("pki")});
  fixture_issue("t", (pki_issue_opts_t){.name = "kept",
                                        .client_auth = 1,
                                        .ca_dir = fixture_path("pki")});
  fixture_issue("t",
                (pki_issue_opts_t){.name = "other-ca", .self_signed_ca = 1});
  const char *ca = fixture_path("pki/fleet-ca.crt");
  const char *key = fixture_path("pki/fleet-ca.key");
  next_update =
      make_crl(ca, key, fixture_path("t/thief.crt"), fixture_path("t/a.crl"));
  make_crl(fixture_path("t/other-ca.crt"), fixture_path("t/other-ca.key"),
           NULL, fixture_path("t/other.crl"));
  return concat(fixture_path("t/both-ca.crt"),
                fixture_path("pki/fleet-ca.crt"),
                fixture_path("t/other-ca.crt"));
}

static int group_teardown(void **state)
{
  (void)state;
  return fixture_dir_remove();
}

/* A relay-side connection from sctx with controller `name` (t/NAME),
 * handshake done. The client side is freed. */
static tls_conn_t *established(tls_ctx_t *sctx, const char *name)
{
  char rel[64];
  snprintf(rel, sizeof(rel), "t/%s", name);
  tls_ctx_t *cctx = fixture_client_ctx(rel, NULL);
  tls_conn_t *sv = tls_conn_new(sctx, NULL);
  tls_conn_t *cl = tls_conn_new(cctx, "localhost");
  tls_ctx_unref(cctx);
  assert_non_null(sv);
  assert_non_null(cl);
  int crc = BEACON_EAGAIN, src = BEACON_EAGAIN;
  for(int i = 0; i < 20 && (crc || src); i++) {
    if(crc == BEACON_EAGAIN)
      crc = tls_conn_handshake(cl);
    fixture_tls_move(cl, sv);
    if(src == BEACON_EAGAIN)
      src = tls_conn_handshake(sv);
    fixture_tls_move(sv, cl);
  }
  assert_int_equal(crc, 0);
  assert_int_equal(src, 0);
  tls_conn_free(cl);
  return sv;
}

static tls_ctx_t *server_ctx(const char *ca, const char *crl)
{
  tls_ctx_t *ctx;
  char err[512];
  if(tls_ctx_new(&ctx, TLS_SERVER, fixture_path("pki/relay.crt"),
                 fixture_path("pki/relay.key"), ca, crl, err, sizeof(err)))
    fail_msg("server ctx: %s", err);
  return ctx;
}

static void test_revoked_by_a_newer_crl(void **state)
{
  (void)state;
  tls_ctx_t *before = fixture_server_ctx(NULL);
  tls_ctx_t *after = fixture_server_ctx(fixture_path("t/a.crl"));
  tls_conn_t *thief = established(before, "thief");
  tls_conn_t *kept = established(before, "kept");
  char why[160];
  assert_int_equal(tls_conn_peer_recheck(thief, before, why, sizeof(why)),
                   TLS_PEER_OK);
  assert_string_equal(why, "");
  assert_int_equal(tls_conn_peer_recheck(thief, after, why, sizeof(why)),
                   TLS_PEER_REVOKED);
  assert_non_null(strstr(why, "revoked"));
  /* the CRL lists someone else */
  assert_int_equal(tls_conn_peer_recheck(kept, after, why, sizeof(why)),
                   TLS_PEER_OK);
  assert_true(tls_conn_made_from(thief, before));
  assert_false(tls_conn_made_from(thief, after));
  tls_conn_free(thief);
  tls_conn_free(kept);
  tls_ctx_unref(before);
  tls_ctx_unref(after);
}

static void test_untrusted_once_its_ca_left(void **state)
{
  (void)state;
  tls_ctx_t *before = fixture_server_ctx(NULL);
  tls_ctx_t *other = server_ctx(fixture_path("t/other-ca.crt"), NULL);
  tls_conn_t *c = established(before, "kept");
  char why[160];
  assert_int_equal(tls_conn_peer_recheck(c, other, why, sizeof(why)),
                   TLS_PEER_UNTRUSTED);
  assert_true(why[0] != 0);
  tls_conn_free(c);
  tls_ctx_unref(before);
  tls_ctx_unref(other);
}

/* A rollover: two CAs trusted, a CRL from one. The other's controllers
 * pass the re-check as they pass the handshake (tls/crl.h). */
static void test_ok_when_its_issuer_has_no_crl(void **state)
{
  (void)state;
  tls_ctx_t *before = fixture_server_ctx(NULL);
  tls_ctx_t *both =
      server_ctx(fixture_path("t/both-ca.crt"), fixture_path("t/other.crl"));
  tls_conn_t *c = established(before, "thief");
  char why[160];
  enum tls_peer_verdict v = tls_conn_peer_recheck(c, both, why, sizeof(why));
  if(v != TLS_PEER_OK)
    fail_msg("verdict %d: %s", (int)v, why);
  tls_conn_free(c);
  tls_ctx_unref(before);
  tls_ctx_unref(both);
}

static void test_serial(void **state)
{
  (void)state;
  tls_ctx_t *ctx = fixture_server_ctx(NULL);
  tls_conn_t *c = established(ctx, "thief");
  char hex[80];
  assert_int_equal(tls_conn_peer_serial(c, hex, sizeof(hex)), 0);
  X509 *leaf = fixture_read_cert(fixture_path("t/thief.crt"));
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
  char *want = BN_bn2hex(bn);
  assert_string_equal(hex, want);
  assert_int_equal(tls_conn_peer_serial(c, hex, 3), BEACON_ETOOLONG);
  OPENSSL_free(want);
  BN_free(bn);
  X509_free(leaf);
  tls_conn_free(c);
  tls_ctx_unref(ctx);
}

static void test_verdicts(void **state)
{
  (void)state;
  assert_int_equal(tls_peer_verdict_of(X509_V_OK), TLS_PEER_OK);
  assert_int_equal(tls_peer_verdict_of(X509_V_ERR_CERT_REVOKED),
                   TLS_PEER_REVOKED);
  assert_int_equal(tls_peer_verdict_of(X509_V_ERR_CRL_SIGNATURE_FAILURE),
                   TLS_PEER_UNDECIDED);
  assert_int_equal(tls_peer_verdict_of(X509_V_ERR_UNABLE_TO_GET_CRL),
                   TLS_PEER_UNDECIDED);
  assert_int_equal(
      tls_peer_verdict_of(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
      TLS_PEER_UNTRUSTED);
  assert_int_equal(tls_peer_verdict_of(X509_V_ERR_INVALID_PURPOSE),
                   TLS_PEER_UNTRUSTED);
  assert_string_equal(tls_peer_verdict_name(TLS_PEER_REVOKED), "revoked");
  assert_string_equal(tls_peer_verdict_name(TLS_PEER_UNDECIDED), "undecided");
  assert_string_equal(tls_peer_verdict_name((enum tls_peer_verdict)99), "?");
}

static void test_crl_next_update(void **state)
{
  (void)state;
  tls_ctx_t *none = fixture_server_ctx(NULL);
  tls_ctx_t *one = fixture_server_ctx(fixture_path("t/a.crl"));
  assert_int_equal(tls_ctx_crl_next_update(none), 0);
  assert_int_equal(tls_ctx_crl_next_update(one), (int64_t)next_update);
  tls_ctx_unref(none);
  tls_ctx_unref(one);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_revoked_by_a_newer_crl),
      cmocka_unit_test(test_untrusted_once_its_ca_left),
      cmocka_unit_test(test_ok_when_its_issuer_has_no_crl),
      cmocka_unit_test(test_serial),
      cmocka_unit_test(test_verdicts),
      cmocka_unit_test(test_crl_next_update),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
