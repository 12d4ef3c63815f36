/*
 * test_crl.c - CRLs per CA (src/tls/crl.c), the TLS files checked
 * together (src/tls/config_check.c), and `beacon pki renew` / `pki crl`
 * (src/cli_support/pki_renew.c, pki_crl.c): docs/OPERATIONS.md "Rolling
 * over the Fleet CA" and "Short-lived certificates".
 *
 * Two development PKIs, a/ and b/, stand for the old and the new Fleet CA
 * of a rollover; both CAs carry the same subject, as two `pki init` runs
 * make them, so only the signature tells their CRLs apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "beacon/beacon.h"
#include "cli_support/pki.h"
#include "tls/config_check.h"
#include "tls/tls.h"
#include "fixture_pki.h"

static char err[1024];

/* fixture_path() with more room: a test holds many paths at once. */
static const char *fp(const char *rel)
{
  static char ring[64][512];
  static int next;
  char *out = ring[next++ % 64];
  snprintf(out, sizeof(ring[0]), "%s", fixture_path(rel));
  return out;
}

static void assert_contains(const char *hay, const char *needle)
{
  if(!strstr(hay, needle))
    fail_msg("'%s' does not contain '%s'", hay, needle);
}

static void cat(const char *out, const char *a, const char *b)
{
  FILE *o = fopen(out, "w");
  assert_non_null(o);
  const char *in[2] = {a, b};
  for(int i = 0; i < 2; i++) {
    FILE *f = fopen(in[i], "r");
    assert_non_null(f);
    char buf[4096];
    size_t n;
    while((n = fread(buf, 1, sizeof(buf), f)) > 0)
      assert_int_equal(fwrite(buf, 1, n, o), n);
    fclose(f);
  }
  fclose(o);
}

/* A CRL by the Fleet CA of ca_dir, revoking nothing, with lastUpdate and
 * nextUpdate at these offsets from now. */
static void dated_crl(const char *ca_dir, const char *out, long last,
                      long next)
{
  char p[512];
  snprintf(p, sizeof(p), "%s/fleet-ca.crt", ca_dir);
  X509 *ca = fixture_read_cert(p);
  snprintf(p, sizeof(p), "%s/fleet-ca.key", ca_dir);
  EVP_PKEY *key = fixture_read_key(p);
  X509_CRL *crl = X509_CRL_new();
  X509_CRL_set_version(crl, X509_CRL_VERSION_2);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
  ASN1_TIME *t = X509_gmtime_adj(NULL, last);
  X509_CRL_set1_lastUpdate(crl, t);
  X509_gmtime_adj(t, next);
  X509_CRL_set1_nextUpdate(crl, t);
  ASN1_TIME_free(t);
  assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
  FILE *f = fopen(out, "w");
  assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
  fclose(f);
  X509_CRL_free(crl);
  X509_free(ca);
  EVP_PKEY_free(key);
}

static int group_setup(void **state)
{
  (void)state;
  if(fixture_dir_make("crl") || fixture_pki_init("a") ||
     fixture_pki_init("b") || mkdir(fp("t"), 0700))
    return -1;
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  return fixture_dir_remove();
}

/* ---- handshakes through memory ------------------------------------------ */

/* A relay with a/relay.* trusting both CAs (t/both.crt) and crl; a
 * controller NAME (a/controller, t/revoked-b...). Returns the relay's
 * verdict: 0, or BEACON_EVERIFY with its words in why (and the
 * controller's, after a read, in cwhy). */
static int connect_as(const char *name, const char *crl, char *why, char *cwhy,
                      size_t cap)
{
  tls_ctx_t *sctx, *cctx;
  if(tls_ctx_new(&sctx, TLS_SERVER, fp("a/relay.crt"), fp("a/relay.key"),
                 fp("t/both.crt"), crl, err, sizeof(err)))
    fail_msg("server ctx: %s", err);
  cctx = fixture_client_ctx(name, fp("t/both.crt"));
  tls_conn_t *sv = tls_conn_new(sctx, NULL);
  tls_conn_t *cl = tls_conn_new(cctx, "localhost");
  int crc = BEACON_EAGAIN, src = BEACON_EAGAIN;
  for(int i = 0; i < 20; i++) {
    if(crc == BEACON_EAGAIN)
      crc = tls_conn_handshake(cl);
    size_t m = fixture_tls_move(cl, sv);
    if(src == BEACON_EAGAIN)
      src = tls_conn_handshake(sv);
    m += fixture_tls_move(sv, cl);
    if(!m && crc != BEACON_EAGAIN && src != BEACON_EAGAIN)
      break;
  }
  assert_int_equal(crc, 0);
  snprintf(why, cap, "%s", tls_conn_error(sv));
  uint8_t b[16];
  if(src && cwhy) {
    assert_int_equal(tls_conn_read(cl, b, sizeof(b)), BEACON_ETLS);
    snprintf(cwhy, cap, "%s", tls_conn_error(cl));
  }
  tls_conn_free(cl);
  tls_conn_free(sv);
  tls_ctx_unref(sctx);
  tls_ctx_unref(cctx);
  return src;
}

static void issue_controller(const char *ca, const char *name)
{
  fixture_issue("t", (pki_issue_opts_t){
                         .name = name, .client_auth = 1, .ca_dir = fp(ca)});
}

/* ---- rollover ----------------------------------------------------------- */

/* One CRL, from the old CA: the new CA's controllers pass (its CA has no
 * CRL in the file), the old CA's revoked one does not. */
static void test_rollover_one_crl(void **state)
{
  (void)state;
  char why[512];
  cat(fp("t/both.crt"), fp("a/fleet-ca.crt"), fp("b/fleet-ca.crt"));
  issue_controller("a", "revoked-a");
  const char *rev[1] = {fp("t/revoked-a.crt")};
  assert_int_equal(
      pki_make_crl(fp("a"), fp("t/one.pem"), rev, 1, 0, err, sizeof(err)), 0);
  const char *crl = fp("t/one.pem");
  assert_int_equal(connect_as("a/controller", crl, why, NULL, sizeof(why)), 0);
  assert_int_equal(connect_as("b/controller", crl, why, NULL, sizeof(why)), 0);
  assert_int_equal(connect_as("t/revoked-a", crl, why, NULL, sizeof(why)),
                   BEACON_EVERIFY);
  assert_contains(why, "client certificate revoked");
}

/* One CRL per CA in one file: each CA's revocations hold for its own
 * leaves, and `pki crl` keeps the other CA's CRL when it updates its own. */
static void test_rollover_two_crls(void **state)
{
  (void)state;
  char why[512];
  cat(fp("t/both.crt"), fp("a/fleet-ca.crt"), fp("b/fleet-ca.crt"));
  issue_controller("a", "revoked-a");
  issue_controller("b", "revoked-b");
  const char *crl = fp("t/two.pem");
  const char *ra[1] = {fp("t/revoked-a.crt")};
  const char *rb[1] = {fp("t/revoked-b.crt")};
  assert_int_equal(pki_make_crl(fp("a"), crl, ra, 1, 0, err, sizeof(err)), 0);
  assert_int_equal(pki_make_crl(fp("b"), crl, rb, 1, 0, err, sizeof(err)), 0);
  /* b's CRL updated again: a's stays in the file */
  assert_int_equal(pki_make_crl(fp("b"), crl, NULL, 0, 0, err, sizeof(err)),
                   0);
  assert_int_equal(connect_as("a/controller", crl, why, NULL, sizeof(why)), 0);
  assert_int_equal(connect_as("b/controller", crl, why, NULL, sizeof(why)), 0);
  assert_int_equal(connect_as("t/revoked-a", crl, why, NULL, sizeof(why)),
                   BEACON_EVERIFY);
  assert_contains(why, "client certificate revoked");
  assert_int_equal(connect_as("t/revoked-b", crl, why, NULL, sizeof(why)),
                   BEACON_EVERIFY);
  assert_contains(why, "client certificate revoked");
  /* a certificate of another CA is not revoked by this one */
  assert_int_equal(pki_make_crl(fp("a"), crl, rb, 1, 0, err, sizeof(err)),
                   BEACON_ECONFIG);
  assert_contains(err, "not issued by this Fleet CA");
}

/* An expired CRL of the controller's CA: both sides say so. */
static void test_expired_crl_said_on_both_sides(void **state)
{
  (void)state;
  char why[512], cwhy[512];
  cat(fp("t/both.crt"), fp("a/fleet-ca.crt"), fp("b/fleet-ca.crt"));
  dated_crl(fp("a"), fp("t/old.pem"), -7200, -3600);
  assert_int_equal(
      connect_as("a/controller", fp("t/old.pem"), why, cwhy, sizeof(why)),
      BEACON_EVERIFY);
  assert_contains(why, "our CRL of its CA has expired");
  assert_contains(cwhy, "certificate expired (TLS alert 45)");
  assert_contains(cwhy, "the relay's CRL has probably expired");
  /* b's leaves are not judged by a's CRL */
  assert_int_equal(
      connect_as("b/controller", fp("t/old.pem"), why, NULL, sizeof(why)), 0);
}

/* ---- tls_config_check -----------------------------------------------------
 */

static int nwarn;
static char last_warn[1024];

static char warn_file[512];

static void on_warn(const char *file, int64_t end, const char *msg, void *arg)
{
  (void)arg;
  assert_true(end > time(NULL));
  snprintf(warn_file, sizeof(warn_file), "%s", file);
  nwarn++;
  snprintf(last_warn, sizeof(last_warn), "%s", msg);
}

static int check(enum tls_role role, const char *cert, const char *ca,
                 const char *crl)
{
  nwarn = 0;
  last_warn[0] = err[0] = '\0';
  return tls_config_check(role, cert, ca, crl, time(NULL), on_warn, NULL, err,
                          sizeof(err));
}

static void test_check_good_files(void **state)
{
  (void)state;
  const char *crl = fp("t/good.pem");
  assert_int_equal(pki_make_crl(fp("a"), crl, NULL, 0, 0, err, sizeof(err)),
                   0);
  assert_int_equal(
      check(TLS_SERVER, fp("a/relay.crt"), fp("a/fleet-ca.crt"), crl), 0);
  assert_int_equal(nwarn, 0);
  assert_int_equal(
      check(TLS_CLIENT, fp("a/controller.crt"), fp("a/fleet-ca.crt"), NULL),
      0);
  assert_int_equal(nwarn, 0);
}

static void test_check_wrong_usage(void **state)
{
  (void)state;
  const char *ctl = fp("a/controller.crt");
  assert_int_equal(check(TLS_SERVER, ctl, fp("a/fleet-ca.crt"), NULL),
                   BEACON_ECONFIG);
  assert_contains(err, ctl);
  assert_contains(err, "not for server authentication");
  fixture_issue("t", (pki_issue_opts_t){.name = "srvonly",
                                        .server_auth = 1,
                                        .sans = "localhost",
                                        .ca_dir = fp("a")});
  const char *srv = fp("t/srvonly.crt");
  assert_int_equal(check(TLS_CLIENT, srv, fp("a/fleet-ca.crt"), NULL),
                   BEACON_ECONFIG);
  assert_contains(err, srv);
  assert_contains(err, "not for client authentication");
}

static void test_check_other_ca_and_leaf_as_ca(void **state)
{
  (void)state;
  const char *relay = fp("b/relay.crt");
  const char *ca = fp("a/fleet-ca.crt");
  assert_int_equal(check(TLS_SERVER, relay, ca, NULL), BEACON_ECONFIG);
  assert_contains(err, relay);
  assert_contains(err, "does not chain to the fleet CA in");
  assert_contains(err, ca);
  const char *leaf = fp("a/controller.crt");
  assert_int_equal(check(TLS_SERVER, fp("a/relay.crt"), leaf, NULL),
                   BEACON_ECONFIG);
  assert_contains(err, leaf);
  assert_contains(err, "is not a CA certificate");
}

static void test_check_crls(void **state)
{
  (void)state;
  const char *relay = fp("a/relay.crt");
  const char *ca = fp("a/fleet-ca.crt");
  const char *crl = fp("t/dated.pem");
  dated_crl(fp("a"), crl, -7200, -3600);
  assert_int_equal(check(TLS_SERVER, relay, ca, crl), BEACON_ECONFIG);
  assert_contains(err, crl);
  assert_contains(err, "expired on");
  dated_crl(fp("a"), crl, 3600, 86400);
  assert_int_equal(check(TLS_SERVER, relay, ca, crl), BEACON_ECONFIG);
  assert_contains(err, crl);
  assert_contains(err, "is not valid before");
  dated_crl(fp("b"), crl, -60, 30 * 86400);
  assert_int_equal(check(TLS_SERVER, relay, ca, crl), BEACON_ECONFIG);
  assert_contains(err, crl);
  assert_contains(err, "signed by no CA in");
  /* and tls_ctx_new() refuses that one too */
  tls_ctx_t *ctx;
  assert_int_equal(tls_ctx_new(&ctx, TLS_SERVER, relay, fp("a/relay.key"), ca,
                               crl, err, sizeof(err)),
                   BEACON_ECONFIG);
  assert_contains(err, crl);
  /* valid, but for less than 7 days: a warning, no error */
  dated_crl(fp("a"), crl, -60 * 86400, 2 * 86400);
  assert_int_equal(check(TLS_SERVER, relay, ca, crl), 0);
  assert_int_equal(nwarn, 1);
  assert_contains(last_warn, crl);
  assert_string_equal(warn_file, crl);
  assert_contains(last_warn, "within 7 days");
  /* a 24-hour CRL is quiet for its first two thirds, then warns */
  dated_crl(fp("a"), crl, -8 * 3600 + 60, 16 * 3600 + 60);
  assert_int_equal(check(TLS_SERVER, relay, ca, crl), 0);
  assert_int_equal(nwarn, 0);
  dated_crl(fp("a"), crl, -17 * 3600, 7 * 3600);
  assert_int_equal(check(TLS_SERVER, relay, ca, crl), 0);
  assert_int_equal(nwarn, 1);
  assert_contains(last_warn, "in the last third of its lifetime");
}

static void test_check_warns_short_leaf(void **state)
{
  (void)state;
  assert_int_equal(mkdir(fp("s"), 0700), 0);
  fixture_issue("s", (pki_issue_opts_t){.name = "relay",
                                        .server_auth = 1,
                                        .sans = "localhost",
                                        .not_before_days = -30,
                                        .not_after_days = 3,
                                        .ca_dir = fp("a")});
  assert_int_equal(
      check(TLS_SERVER, fp("s/relay.crt"), fp("a/fleet-ca.crt"), NULL), 0);
  assert_int_equal(nwarn, 1);
  assert_contains(last_warn, fp("s/relay.crt"));
  assert_contains(last_warn, "renew it");
}

/* ---- pki renew ------------------------------------------------------------
 */

static char *slurp(const char *path)
{
  static char buf[16384];
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_renew_same_key_and_names(void **state)
{
  (void)state;
  assert_int_equal(mkdir(fp("r"), 0700), 0);
  fixture_issue("r", (pki_issue_opts_t){.name = "relay",
                                        .server_auth = 1,
                                        .client_auth = 1,
                                        .sans = "relay.example,192.0.2.7",
                                        .ca_dir = fp("a")});
  const char *crt = fp("r/relay.crt");
  assert_int_equal(chmod(crt, 0640), 0);
  X509 *old = fixture_read_cert(crt);
  char key_before[4096];
  snprintf(key_before, sizeof(key_before), "%s", slurp(fp("r/relay.key")));
  assert_int_equal(
      pki_renew(fp("a"), crt, fp("r/relay.key"), 24 * 3600, err, sizeof(err)),
      0);
  X509 *x = fixture_read_cert(crt);
  EVP_PKEY *k = fixture_read_key(fp("r/relay.key"));
  assert_int_equal(X509_check_private_key(x, k), 1);
  assert_string_equal(key_before, slurp(fp("r/relay.key")));
  assert_int_equal(
      X509_NAME_cmp(X509_get_subject_name(x), X509_get_subject_name(old)), 0);
  assert_int_not_equal(
      ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(old)),
      0);
  assert_int_equal(X509_check_host(x, "relay.example", 0, 0, NULL), 1);
  assert_int_equal(X509_check_ip_asc(x, "192.0.2.7", 0), 1);
  assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
  assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 1);
  /* 24 hours from now, not 825 days */
  time_t lo = time(NULL) + 23 * 3600, hi = time(NULL) + 25 * 3600;
  assert_true(X509_cmp_time(X509_get0_notAfter(x), &lo) > 0);
  assert_true(X509_cmp_time(X509_get0_notAfter(x), &hi) < 0);
  struct stat st;
  assert_int_equal(stat(crt, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
  /* the chain follows, and no temporary file is left beside it */
  assert_int_equal(tls_config_check(TLS_SERVER, crt, fp("a/fleet-ca.crt"),
                                    NULL, time(NULL), NULL, NULL, err,
                                    sizeof(err)),
                   0);
  DIR *d = opendir(fp("r"));
  struct dirent *e;
  int files = 0;
  while((e = readdir(d)))
    files += e->d_name[0] != '.';
  closedir(d);
  assert_int_equal(files, 2);
  /* a controller's stays a controller's, for as long as it was */
  const char *ctl = fp("a/controller.crt");
  assert_int_equal(
      pki_renew(fp("a"), ctl, fp("a/controller.key"), 0, err, sizeof(err)), 0);
  X509 *c = fixture_read_cert(ctl);
  assert_int_equal(X509_check_purpose(c, X509_PURPOSE_SSL_SERVER, 0), 0);
  assert_int_equal(X509_check_purpose(c, X509_PURPOSE_SSL_CLIENT, 0), 1);
  lo = time(NULL) + 800 * 86400;
  assert_true(X509_cmp_time(X509_get0_notAfter(c), &lo) > 0);
  /* the wrong key is refused, and the file is left alone */
  char before[8192];
  snprintf(before, sizeof(before), "%s", slurp(crt));
  assert_int_equal(
      pki_renew(fp("a"), crt, fp("a/controller.key"), 0, err, sizeof(err)),
      BEACON_ECONFIG);
  assert_contains(err, "does not match");
  assert_string_equal(before, slurp(crt));
  X509_free(c);
  X509_free(x);
  X509_free(old);
  EVP_PKEY_free(k);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rollover_one_crl),
      cmocka_unit_test(test_rollover_two_crls),
      cmocka_unit_test(test_expired_crl_said_on_both_sides),
      cmocka_unit_test(test_check_good_files),
      cmocka_unit_test(test_check_wrong_usage),
      cmocka_unit_test(test_check_other_ca_and_leaf_as_ca),
      cmocka_unit_test(test_check_crls),
      cmocka_unit_test(test_check_warns_short_leaf),
      cmocka_unit_test(test_renew_same_key_and_names),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
