/*
 * fixture_pki.c - the shared certificate fixture of the unit tests
 * (fixture_pki.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/pem.h>

#include "fixture_pki.h"

static char dir[256];

int fixture_dir_make(const char *tag)
{
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(dir, sizeof(dir), "%s/beacon-%s-XXXXXX", base, tag);
  if(mkdtemp(dir))
    return 0;
  perror("mkdtemp");
  return -1;
}

static int remove_one(const char *p, const struct stat *st, int flag,
                      struct FTW *f)
{
  (void)st;
  (void)flag;
  (void)f;
  return remove(p);
}

int fixture_dir_remove(void)
{
  return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fixture_path(const char *rel)
{
  static char buf[8][1024];
  static int i;
  i = (i + 1) % 8;
  snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
  return buf[i];
}

int fixture_pki_init(const char *rel)
{
  char err[512];
  if(!pki_init(fixture_path(rel), 0, err, sizeof(err)))
    return 0;
  fprintf(stderr, "pki_init: %s\n", err);
  return -1;
}

void fixture_issue(const char *rel, pki_issue_opts_t o)
{
  char err[512];
  if(pki_issue(fixture_path(rel), &o, err, sizeof(err)))
    fail_msg("pki_issue %s: %s", o.name, err);
}

X509 *fixture_read_cert(const char *file)
{
  BIO *b = BIO_new_file(file, "r");
  assert_non_null(b);
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_non_null(x);
  return x;
}

EVP_PKEY *fixture_read_key(const char *file)
{
  BIO *b = BIO_new_file(file, "r");
  assert_non_null(b);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_non_null(k);
  return k;
}

tls_ctx_t *fixture_server_ctx(const char *crl)
{
  tls_ctx_t *ctx;
  char err[512];
  if(tls_ctx_new(&ctx, TLS_SERVER, fixture_path("pki/relay.crt"),
                 fixture_path("pki/relay.key"),
                 fixture_path("pki/fleet-ca.crt"), crl, err, sizeof(err)))
    fail_msg("server ctx: %s", err);
  return ctx;
}

tls_ctx_t *fixture_client_ctx(const char *name, const char *ca)
{
  tls_ctx_t *ctx;
  char err[512], crt[64], key[64];
  snprintf(crt, sizeof(crt), "%s.crt", name);
  snprintf(key, sizeof(key), "%s.key", name);
  if(tls_ctx_new(&ctx, TLS_CLIENT, fixture_path(crt), fixture_path(key),
                 ca ? ca : fixture_path("pki/fleet-ca.crt"), NULL, err,
                 sizeof(err)))
    fail_msg("client ctx %s: %s", name, err);
  return ctx;
}

size_t fixture_tls_move(tls_conn_t *a, tls_conn_t *b)
{
  static uint8_t buf[65536];
  size_t total = 0, n;
  while((n = tls_conn_take_output(a, buf, sizeof(buf))) > 0) {
    assert_int_equal(tls_conn_feed(b, buf, n), 0);
    total += n;
  }
  assert_int_equal(tls_conn_out_pending(a), 0);
  return total;
}
