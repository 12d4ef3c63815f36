/*
 * test_pki.c - the development PKI, test certificates, CSRs and CSR
 * signing (src/cli_support/pki_*.c), checked with OpenSSL's own verifier in a
 * temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "beacon/beacon.h"
#include "cli_support/pki.h"
#include "fixture_pki.h"

static char err[512];

static int setup(void **state)
{
  (void)state;
  return fixture_dir_make("pki");
}

static int teardown(void **state)
{
  (void)state;
  return fixture_dir_remove();
}

static STACK_OF(X509) * read_certs(const char *p)
{
  BIO *b = BIO_new_file(p, "r");
  assert_non_null(b);
  STACK_OF(X509) *sk = sk_X509_new_null();
  X509 *x;
  while((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
    sk_X509_push(sk, x);
  ERR_clear_error();
  BIO_free(b);
  return sk;
}

/* Verifies the first certificate of chain_file with anchor_file as the
 * only trust anchor (partial chain); returns the X509_V_* result. */
static int verify_with(const char *anchor_file, const char *chain_file,
                       int purpose)
{
  X509_STORE *st = X509_STORE_new();
  assert_int_equal(X509_STORE_load_file(st, anchor_file), 1);
  X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
  STACK_OF(X509) *sk = read_certs(chain_file);
  assert_true(sk_X509_num(sk) >= 1);
  X509_STORE_CTX *xs = X509_STORE_CTX_new();
  assert_int_equal(X509_STORE_CTX_init(xs, st, sk_X509_value(sk, 0), sk), 1);
  if(purpose)
    X509_STORE_CTX_set_purpose(xs, purpose);
  int ok = X509_verify_cert(xs);
  int res = X509_STORE_CTX_get_error(xs);
  X509_STORE_CTX_free(xs);
  X509_STORE_free(st);
  sk_X509_pop_free(sk, X509_free);
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (res ? res : -1);
}

static char *slurp(const char *p)
{
  FILE *f = fopen(p, "r");
  assert_non_null(f);
  static char bufs[2][8192];
  static int i;
  i ^= 1;
  size_t n = fread(bufs[i], 1, sizeof(bufs[i]) - 1, f);
  bufs[i][n] = '\0';
  fclose(f);
  return bufs[i];
}

static mode_t mode_of(const char *p)
{
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  return st.st_mode & 07777;
}

static void test_init_layout(void **state)
{
  (void)state;
  static const char *names[] = {"root-ca", "fleet-ca", "relay", "controller"};
  assert_int_equal(pki_init(fixture_path("pki"), 0, err, sizeof(err)), 0);
  assert_int_equal(mode_of(fixture_path("pki")), 0700);
  for(int i = 0; i < 4; i++) {
    char p[128];
    snprintf(p, sizeof(p), "pki/%s.key", names[i]);
    assert_int_equal(mode_of(fixture_path(p)), 0600);
    snprintf(p, sizeof(p), "pki/%s.crt", names[i]);
    assert_int_equal(mode_of(fixture_path(p)) & 0077, 0044);
  }
  /* leaves carry their chain: leaf + Fleet CA */
  STACK_OF(X509) *sk = read_certs(fixture_path("pki/relay.crt"));
  assert_int_equal(sk_X509_num(sk), 2);
  X509 *leaf = sk_X509_value(sk, 0);
  assert_int_equal(X509_check_host(leaf, "localhost", 0, 0, NULL), 1);
  assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
  assert_int_equal(X509_check_ip_asc(leaf, "::1", 0), 1);
  assert_int_not_equal(X509_check_host(leaf, "other.example", 0, 0, NULL), 1);
  assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
  assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0), 1);
  EVP_PKEY *k = fixture_read_key(fixture_path("pki/relay.key"));
  assert_int_equal(X509_check_private_key(leaf, k), 1);
  assert_int_equal(EVP_PKEY_get_bits(k), 256);
  EVP_PKEY_free(k);
  sk_X509_pop_free(sk, X509_free);

  sk = read_certs(fixture_path("pki/controller.crt"));
  assert_int_equal(sk_X509_num(sk), 2);
  leaf = sk_X509_value(sk, 0);
  assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0), 1);
  assert_int_not_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0),
                       1);
  sk_X509_pop_free(sk, X509_free);

  /* the Fleet CA alone is enough; the root works through it */
  assert_int_equal(verify_with(fixture_path("pki/fleet-ca.crt"),
                               fixture_path("pki/relay.crt"), 0),
                   X509_V_OK);
  assert_int_equal(verify_with(fixture_path("pki/fleet-ca.crt"),
                               fixture_path("pki/controller.crt"),
                               X509_PURPOSE_SSL_CLIENT),
                   X509_V_OK);
  assert_int_equal(verify_with(fixture_path("pki/root-ca.crt"),
                               fixture_path("pki/relay.crt"), 0),
                   X509_V_OK);
  /* the Fleet CA may not sign CAs (pathlen:0) and is not self-signed */
  sk = read_certs(fixture_path("pki/fleet-ca.crt"));
  X509 *fleet = sk_X509_value(sk, 0);
  assert_int_equal(X509_check_ca(fleet), 1);
  assert_int_equal(X509_get_pathlen(fleet), 0);
  assert_int_equal(X509_get_extension_flags(fleet) & EXFLAG_SS, 0);
  sk_X509_pop_free(sk, X509_free);
}

static void test_init_keeps_files(void **state)
{
  (void)state;
  assert_int_equal(pki_init(fixture_path("keep"), 0, err, sizeof(err)), 0);
  char key[8192], crt[8192];
  snprintf(key, sizeof(key), "%s", slurp(fixture_path("keep/fleet-ca.key")));
  snprintf(crt, sizeof(crt), "%s", slurp(fixture_path("keep/relay.crt")));
  assert_int_equal(pki_init(fixture_path("keep"), 0, err, sizeof(err)), 0);
  assert_string_equal(key, slurp(fixture_path("keep/fleet-ca.key")));
  assert_string_equal(crt, slurp(fixture_path("keep/relay.crt")));

  /* a missing leaf is re-issued by the existing Fleet CA */
  assert_int_equal(unlink(fixture_path("keep/controller.crt")), 0);
  assert_int_equal(unlink(fixture_path("keep/controller.key")), 0);
  assert_int_equal(pki_init(fixture_path("keep"), 0, err, sizeof(err)), 0);
  assert_string_equal(key, slurp(fixture_path("keep/fleet-ca.key")));
  assert_int_equal(verify_with(fixture_path("keep/fleet-ca.crt"),
                               fixture_path("keep/controller.crt"), 0),
                   X509_V_OK);

  /* half a pair is refused, naming it */
  assert_int_equal(unlink(fixture_path("keep/relay.crt")), 0);
  assert_int_equal(pki_init(fixture_path("keep"), 0, err, sizeof(err)),
                   BEACON_ECONFIG);
  assert_non_null(strstr(err, "relay"));

  /* --force alone will not replace the CA: that breaks what it signed */
  assert_int_equal(
      pki_init(fixture_path("keep"), PKI_INIT_FORCE, err, sizeof(err)),
      BEACON_EINVAL);
  assert_non_null(strstr(err, "--replace-ca"));
  assert_string_equal(key, slurp(fixture_path("keep/fleet-ca.key")));
  assert_int_equal(
      pki_init(fixture_path("keep"), PKI_INIT_REPLACE_CA, err, sizeof(err)),
      BEACON_EINVAL);
  /* --force --replace-ca replaces everything */
  assert_int_equal(pki_init(fixture_path("keep"),
                            PKI_INIT_FORCE | PKI_INIT_REPLACE_CA, err,
                            sizeof(err)),
                   0);
  assert_string_not_equal(key, slurp(fixture_path("keep/fleet-ca.key")));
  assert_int_equal(mode_of(fixture_path("keep/fleet-ca.key")), 0600);
  assert_int_equal(verify_with(fixture_path("keep/fleet-ca.crt"),
                               fixture_path("keep/relay.crt"), 0),
                   X509_V_OK);
}

static void test_issue(void **state)
{
  (void)state;
  assert_int_equal(pki_init(fixture_path("ca"), 0, err, sizeof(err)), 0);
  pki_issue_opts_t o = {.name = "expired",
                        .client_auth = 1,
                        .not_before_days = -30,
                        .not_after_days = -1,
                        .ca_dir = fixture_path("ca")};
  assert_int_equal(pki_issue(fixture_path("out"), &o, err, sizeof(err)), 0);
  assert_int_equal(mode_of(fixture_path("out/expired.key")), 0600);
  assert_int_equal(verify_with(fixture_path("ca/fleet-ca.crt"),
                               fixture_path("out/expired.crt"), 0),
                   X509_V_ERR_CERT_HAS_EXPIRED);

  o = (pki_issue_opts_t){.name = "future",
                         .client_auth = 1,
                         .not_before_days = 2,
                         .not_after_days = 30,
                         .ca_dir = fixture_path("ca")};
  assert_int_equal(pki_issue(fixture_path("out"), &o, err, sizeof(err)), 0);
  assert_int_equal(verify_with(fixture_path("ca/fleet-ca.crt"),
                               fixture_path("out/future.crt"), 0),
                   X509_V_ERR_CERT_NOT_YET_VALID);

  o = (pki_issue_opts_t){.name = "node",
                         .cn = "node-1",
                         .server_auth = 1,
                         .sans = "node.example, 192.0.2.7",
                         .ca_dir = fixture_path("ca")};
  assert_int_equal(pki_issue(fixture_path("out"), &o, err, sizeof(err)), 0);
  assert_int_equal(verify_with(fixture_path("ca/fleet-ca.crt"),
                               fixture_path("out/node.crt"),
                               X509_PURPOSE_SSL_SERVER),
                   X509_V_OK);
  assert_int_equal(verify_with(fixture_path("ca/fleet-ca.crt"),
                               fixture_path("out/node.crt"),
                               X509_PURPOSE_SSL_CLIENT),
                   X509_V_ERR_INVALID_PURPOSE);
  STACK_OF(X509) *sk = read_certs(fixture_path("out/node.crt"));
  assert_int_equal(
      X509_check_host(sk_X509_value(sk, 0), "node.example", 0, 0, NULL), 1);
  assert_int_equal(X509_check_ip_asc(sk_X509_value(sk, 0), "192.0.2.7", 0), 1);
  sk_X509_pop_free(sk, X509_free);

  /* another CA: its certificates do not verify with the Fleet CA */
  o = (pki_issue_opts_t){.name = "other-ca", .self_signed_ca = 1};
  assert_int_equal(pki_issue(fixture_path("other"), &o, err, sizeof(err)), 0);
  o = (pki_issue_opts_t){.name = "rogue",
                         .client_auth = 1,
                         .ca_dir = fixture_path("other"),
                         .ca_name = "other-ca"};
  assert_int_equal(pki_issue(fixture_path("other"), &o, err, sizeof(err)), 0);
  assert_int_equal(verify_with(fixture_path("other/other-ca.crt"),
                               fixture_path("other/rogue.crt"), 0),
                   X509_V_OK);
  assert_int_not_equal(verify_with(fixture_path("ca/fleet-ca.crt"),
                                   fixture_path("other/rogue.crt"), 0),
                       X509_V_OK);

  /* errors */
  o = (pki_issue_opts_t){
      .name = "bad", .sans = "not a name", .ca_dir = fixture_path("ca")};
  assert_int_equal(pki_issue(fixture_path("out"), &o, err, sizeof(err)),
                   BEACON_EINVAL);
  assert_non_null(strstr(err, "not a name"));
  assert_int_not_equal(access(fixture_path("out/bad.key"), F_OK), 0);
  o = (pki_issue_opts_t){.name = "x", .ca_dir = fixture_path("nowhere")};
  assert_int_equal(pki_issue(fixture_path("out"), &o, err, sizeof(err)),
                   BEACON_ECONFIG);
  assert_non_null(strstr(err, "fleet-ca.crt"));
  o = (pki_issue_opts_t){.name = "x",
                         .not_before_days = 5,
                         .not_after_days = 1,
                         .ca_dir = fixture_path("ca")};
  assert_int_equal(pki_issue(fixture_path("out"), &o, err, sizeof(err)),
                   BEACON_EINVAL);
}

static void test_gen_csr_and_sign(void **state)
{
  (void)state;
  assert_int_equal(pki_init(fixture_path("ca"), 0, err, sizeof(err)), 0);
  /* the directory is the operator's to create */
  assert_int_equal(pki_gen_csr(fixture_path("relay"), "relay.example", NULL, 0,
                               fixture_path("relay.csr"), err, sizeof(err)),
                   BEACON_ECONFIG);
  assert_non_null(strstr(err, "no such directory"));
  assert_int_equal(mkdir(fixture_path("relay"), 0700), 0);
  assert_int_equal(pki_gen_csr(fixture_path("relay"), "relay.example",
                               "relay.example,203.0.113.9,::1", 0,
                               fixture_path("relay.csr"), err, sizeof(err)),
                   0);
  assert_int_equal(mode_of(fixture_path("relay/relay.key")), 0600);
  char key[8192];
  snprintf(key, sizeof(key), "%s", slurp(fixture_path("relay/relay.key")));
  /* idempotent: the key is reused, the request names the same key */
  assert_int_equal(pki_gen_csr(fixture_path("relay"), "relay.example",
                               "relay.example,203.0.113.9,::1", 0,
                               fixture_path("relay2.csr"), err, sizeof(err)),
                   0);
  assert_string_equal(key, slurp(fixture_path("relay/relay.key")));

  assert_int_equal(pki_sign_csr(fixture_path("ca"), fixture_path("relay2.csr"),
                                fixture_path("relay/relay.crt"), 30 * 86400, 0,
                                err, sizeof(err)),
                   0);
  STACK_OF(X509) *sk = read_certs(fixture_path("relay/relay.crt"));
  assert_int_equal(sk_X509_num(sk), 2);
  X509 *leaf = sk_X509_value(sk, 0);
  EVP_PKEY *k = fixture_read_key(fixture_path("relay/relay.key"));
  assert_int_equal(X509_check_private_key(leaf, k), 1);
  EVP_PKEY_free(k);
  assert_int_equal(X509_check_host(leaf, "relay.example", 0, 0, NULL), 1);
  assert_int_equal(X509_check_ip_asc(leaf, "203.0.113.9", 0), 1);
  assert_int_equal(X509_check_ip_asc(leaf, "::1", 0), 1);
  assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
  assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0), 1);
  char cn[64];
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf),
                                        NID_commonName, cn, sizeof(cn)) > 0);
  assert_string_equal(cn, "relay.example");
  /* --days bounds notAfter */
  assert_true(X509_cmp_time(X509_get0_notAfter(leaf), NULL) > 0);
  time_t limit = time(NULL) + 31 * 86400;
  assert_true(X509_cmp_time(X509_get0_notAfter(leaf), &limit) < 0);
  sk_X509_pop_free(sk, X509_free);
  assert_int_equal(verify_with(fixture_path("ca/fleet-ca.crt"),
                               fixture_path("relay/relay.crt"), 0),
                   X509_V_OK);

  /* a bad SAN is refused before any key is written */
  assert_int_equal(pki_gen_csr(fixture_path("nokey"), "x", "bad name", 0,
                               fixture_path("x.csr"), err, sizeof(err)),
                   BEACON_EINVAL);
  assert_int_not_equal(access(fixture_path("nokey/relay.key"), F_OK), 0);
}

static void test_controller_csr(void **state)
{
  (void)state;
  assert_int_equal(pki_init(fixture_path("ca"), 0, err, sizeof(err)), 0);
  assert_int_equal(mkdir(fixture_path("ctl"), 0700), 0);
  assert_int_equal(pki_gen_csr(fixture_path("ctl"), "alice@ops-1", NULL, 1,
                               fixture_path("ctl.csr"), err, sizeof(err)),
                   0);
  assert_int_equal(mode_of(fixture_path("ctl/controller.key")), 0600);
  assert_int_not_equal(access(fixture_path("ctl/relay.key"), F_OK), 0);
  /* no SAN, and the request's clientAuth makes a controller's leaf */
  assert_int_equal(pki_sign_csr(fixture_path("ca"), fixture_path("ctl.csr"),
                                fixture_path("ctl/controller.crt"), 0, 0, err,
                                sizeof(err)),
                   0);
  STACK_OF(X509) *sk = read_certs(fixture_path("ctl/controller.crt"));
  X509 *leaf = sk_X509_value(sk, 0);
  EVP_PKEY *k = fixture_read_key(fixture_path("ctl/controller.key"));
  assert_int_equal(X509_check_private_key(leaf, k), 1);
  EVP_PKEY_free(k);
  assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0), 1);
  assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 0);
  sk_X509_pop_free(sk, X509_free);
  assert_int_equal(verify_with(fixture_path("ca/fleet-ca.crt"),
                               fixture_path("ctl/controller.crt"), 0),
                   X509_V_OK);
  /* a relay request without SANs still needs them */
  assert_int_equal(mkdir(fixture_path("r2"), 0700), 0);
  assert_int_equal(pki_gen_csr(fixture_path("r2"), "r2", "", 0,
                               fixture_path("r2.csr"), err, sizeof(err)),
                   0);
  assert_int_equal(pki_sign_csr(fixture_path("ca"), fixture_path("r2.csr"),
                                fixture_path("r2.crt"), 0, 0, err,
                                sizeof(err)),
                   BEACON_ECONFIG);
  assert_non_null(strstr(err, "subjectAltName"));
  /* ... unless signed as a controller's */
  assert_int_equal(pki_sign_csr(fixture_path("ca"), fixture_path("r2.csr"),
                                fixture_path("r2.crt"), 0, 1, err,
                                sizeof(err)),
                   0);
}

static void test_sign_rejects_bad_csr(void **state)
{
  (void)state;
  assert_int_equal(pki_init(fixture_path("ca"), 0, err, sizeof(err)), 0);
  /* not a CSR */
  FILE *f = fopen(fixture_path("junk.csr"), "w");
  fputs("hello\n", f);
  fclose(f);
  assert_int_equal(pki_sign_csr(fixture_path("ca"), fixture_path("junk.csr"),
                                fixture_path("junk.crt"), 0, 0, err,
                                sizeof(err)),
                   BEACON_ECONFIG);
  assert_non_null(strstr(err, "junk.csr"));

  /* a request whose public key was swapped after signing */
  EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  X509_REQ *req = X509_REQ_new();
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
                             MBSTRING_ASC, (const unsigned char *)"evil", -1,
                             -1, 0);
  assert_int_equal(X509_REQ_set_pubkey(req, a), 1);
  assert_true(X509_REQ_sign(req, a, EVP_sha256()) > 0);
  assert_int_equal(X509_REQ_set_pubkey(req, b), 1);
  f = fopen(fixture_path("evil.csr"), "w");
  PEM_write_X509_REQ(f, req);
  fclose(f);
  X509_REQ_free(req);
  EVP_PKEY_free(a);
  EVP_PKEY_free(b);
  assert_int_equal(pki_sign_csr(fixture_path("ca"), fixture_path("evil.csr"),
                                fixture_path("evil.crt"), 0, 0, err,
                                sizeof(err)),
                   BEACON_ECONFIG);
  assert_non_null(strstr(err, "signature"));
  assert_int_not_equal(access(fixture_path("evil.crt"), F_OK), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_init_layout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_init_keeps_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_controller_csr, setup, teardown),
      cmocka_unit_test_setup_teardown(test_issue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gen_csr_and_sign, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sign_rejects_bad_csr, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
