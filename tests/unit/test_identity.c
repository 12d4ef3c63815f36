/*
 * test_identity.c - --allow-client identities (tls/identity.h): every
 * common spelling of one subject has the same canonical form, which is
 * also the form of a certificate's X509_NAME; different subjects differ;
 * malformed values are errors with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/x509.h>

#include "beacon/beacon.h"
#include "tls/identity.h"

static void canon(const char *text, char *out)
{
  char err[256];
  int rc = tls_identity_parse(text, out, TLS_IDENTITY_MAX, err, sizeof(err));
  if(rc)
    fail_msg("'%s': %s", text, err);
}

/* O=fleet then CN=ctl-1 in certificate order, with an optional second
 * attribute in the CN's RDN. */
static X509_NAME *name_of(const char *o, const char *cn, const char *uid)
{
  X509_NAME *n = X509_NAME_new();
  assert_non_null(n);
  assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                              (const unsigned char *)o, -1, -1,
                                              0),
                   1);
  assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                              (const unsigned char *)cn, -1,
                                              -1, 0),
                   1);
  if(uid)
    assert_int_equal(X509_NAME_add_entry_by_txt(n, "UID", MBSTRING_UTF8,
                                                (const unsigned char *)uid, -1,
                                                -1, -1),
                     1);
  return n;
}

static void test_spellings_match(void **state)
{
  (void)state;
  static const char *const same[] = {
      "CN=ctl-1,O=fleet",      /* RFC 4514, most specific first */
      "O=fleet,CN=ctl-1",      /* certificate order */
      "/O=fleet/CN=ctl-1",     /* OpenSSL's slash form */
      "O = fleet, CN = ctl-1", /* openssl x509 -subject */
      "cn=ctl-1, o=fleet",     /* types are case-insensitive */
      "commonName=ctl-1;organizationName=fleet",
      "2.5.4.3=ctl-1,2.5.4.10=fleet", /* dotted OIDs */
      "CN=ctl\\2d1,O=\"fleet\"",      /* hex escape, quoted value */
      "/O=fleet/CN=ctl-1/",
  };
  char want[TLS_IDENTITY_MAX], got[TLS_IDENTITY_MAX];
  X509_NAME *n = name_of("fleet", "ctl-1", NULL);
  assert_int_equal(tls_identity_of_name(n, want, sizeof(want)), 0);
  X509_NAME_free(n);
  assert_true(!strncmp(want, "dn:", 3));
  for(size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
    print_message("%s\n", same[i]);
    canon(same[i], got);
    assert_string_equal(got, want);
  }
}

static void test_different_subjects(void **state)
{
  (void)state;
  char a[TLS_IDENTITY_MAX], b[TLS_IDENTITY_MAX];
  canon("CN=ctl-1,O=fleet", a);
  static const char *const other[] = {
      "CN=ctl-1",                /* a subset is not the subject */
      "CN=ctl-1,O=fleet,OU=ops", /* nor a superset */
      "CN=CTL-1,O=fleet",        /* values are exact */
      "CN=ctl-1 ,O=fleet x",     /* inner text counts */
      "CN=ctl-1+O=fleet",        /* one RDN of two values differs */
      "CN=ctl-2,O=fleet",
      "CN=ctl-1\\,O=fleet", /* an escaped comma is a value */
  };
  for(size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
    print_message("%s\n", other[i]);
    canon(other[i], b);
    assert_string_not_equal(a, b);
  }
  /* Multi-valued RDNs: the order inside the RDN does not matter. */
  X509_NAME *n = name_of("fleet", "ctl-1", "u7");
  assert_int_equal(tls_identity_of_name(n, a, sizeof(a)), 0);
  X509_NAME_free(n);
  canon("CN=ctl-1+UID=u7,O=fleet", b);
  assert_string_equal(a, b);
  canon("/O=fleet/UID=u7+CN=ctl-1", b);
  assert_string_equal(a, b);
  /* Escaped separators and spaces survive into the value. */
  n = name_of("fleet, inc", " ctl-1", NULL);
  assert_int_equal(tls_identity_of_name(n, a, sizeof(a)), 0);
  X509_NAME_free(n);
  canon("CN=\\ ctl-1,O=fleet\\, inc", b);
  assert_string_equal(a, b);
  canon("O = \"fleet, inc\", CN = \\20ctl-1", b);
  assert_string_equal(a, b);
}

static void test_spki(void **state)
{
  (void)state;
  char a[TLS_IDENTITY_MAX], b[TLS_IDENTITY_MAX];
  const char *hex =
      "F7B6424484E1CCAD657F67EA749FADF1473D027ED0632E7AF067FAC1BD6B7E10";
  canon(hex, a);
  assert_string_equal(
      a,
      "spki:f7b6424484e1ccad657f67ea749fadf1473d027ed0632e7af067fac1bd6b7e10");
  assert_int_equal(tls_identity_of_spki(hex + 0, b, sizeof(b)), 0);
  assert_string_equal(a, b);
  assert_int_equal(tls_identity_of_spki("abc", b, sizeof(b)), BEACON_EINVAL);
}

static void test_errors(void **state)
{
  (void)state;
  static const struct {
    const char *in, *why;
  } bad[] = {
      {"bogus", "is not TYPE=VALUE"},
      {"", "empty"},
      {"CN=", "empty value"},
      {"=x", "missing attribute type"},
      {"FOO=bar", "unknown attribute type 'FOO'"},
      {"CN=a,", "is not TYPE=VALUE"},
      {"CN=\"a", "unterminated quote"},
      {"CN=#0403", "hex-encoded"},
      {"CN=a\\", "ends"},
      /* 63 hex digits: neither an SPKI hash nor a DN */
      {"f7b6424484e1ccad657f67ea749fadf1473d027ed0632e7af067fac1bd6b7e1",
       "is not TYPE=VALUE"},
  };
  char out[TLS_IDENTITY_MAX], err[256];
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    print_message("%s\n", bad[i].in);
    err[0] = 0;
    assert_int_equal(
        tls_identity_parse(bad[i].in, out, sizeof(out), err, sizeof(err)),
        BEACON_EINVAL);
    if(!strstr(err, bad[i].why))
      fail_msg("'%s': '%s' lacks '%s'", bad[i].in, err, bad[i].why);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spellings_match),
      cmocka_unit_test(test_different_subjects),
      cmocka_unit_test(test_spki),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
