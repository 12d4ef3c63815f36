/*
 * config_check.c - the TLS files checked together, as a peer will see them
 * (config_check.h). The verdicts are OpenSSL's own functions, run here on
 * the files instead of at every peer's handshake.
 */
#include "tls/config_check.h"

#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "beacon/beacon.h"
#include "tls/crl.h"

typedef struct check {
  time_t now;
  tls_check_warn_fn warn;
  void *arg;
  char *err;
  size_t errlen;
} check_t;

/* Every certificate of the PEM file at path; NULL when there is none. */
static STACK_OF(X509) * read_certs(const char *path)
{
  BIO *b = BIO_new_file(path, "r");
  STACK_OF(X509) *sk = b ? sk_X509_new_null() : NULL;
  X509 *x;
  while(sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
    if(!sk_X509_push(sk, x)) {
      X509_free(x);
      break;
    }
  BIO_free(b);
  ERR_clear_error();
  if(sk && sk_X509_num(sk) > 0)
    return sk;
  sk_X509_free(sk);
  return NULL;
}

static void utc(char *buf, size_t cap, const ASN1_TIME *t)
{
  struct tm tm;
  if(!t || ASN1_TIME_to_tm(t, &tm) != 1 ||
     !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
    snprintf(buf, cap, "?");
}

static void subject(X509_NAME *n, char *buf, size_t cap)
{
  if(!X509_NAME_oneline(n, buf, (int)cap))
    snprintf(buf, cap, "?");
}

static int fail(check_t *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(check_t *k, const char *fmt, ...)
{
  if(k->err && k->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->err, k->errlen, fmt, ap);
    va_end(ap);
  }
  return BEACON_ECONFIG;
}

/* Warns when end (a notAfter or nextUpdate) is near: within 7 days, or,
 * for something that lives less than three weeks, within the last third
 * of its life, so a 24-hour certificate renewed every 8 hours is quiet
 * until a renewal is missed. */
static void warn_if_soon(check_t *k, const char *file, const ASN1_TIME *start,
                         const ASN1_TIME *end, const char *what,
                         const char *fix)
{
  int days = 0, secs = 0;
  long window = TLS_CHECK_WARN_SECS;
  if(start && ASN1_TIME_diff(&days, &secs, start, end) == 1 &&
     (days * 86400L + secs) / 3 < window)
    window = (days * 86400L + secs) / 3;
  time_t horizon = k->now + window;
  if(!k->warn || !end || X509_cmp_time(end, &horizon) > 0 ||
     X509_cmp_time(end, &k->now) < 0)
    return;
  char when[64], msg[1024];
  utc(when, sizeof(when), end);
  snprintf(msg, sizeof(msg), "%s %s, %s: %s", what, when,
           window < TLS_CHECK_WARN_SECS ? "in the last third of its lifetime"
                                        : "within 7 days",
           fix);
  struct tm tm;
  k->warn(file, ASN1_TIME_to_tm(end, &tm) == 1 ? (int64_t)timegm(&tm) : 0, msg,
          k->arg);
}

static int check_cas(check_t *k, const char *ca, STACK_OF(X509) * cas)
{
  char name[256], what[1200];
  for(int i = 0; i < sk_X509_num(cas); i++) {
    X509 *x = sk_X509_value(cas, i);
    subject(X509_get_subject_name(x), name, sizeof(name));
    if(X509_check_ca(x) == 0)
      return fail(k,
                  "CA file %s: certificate %d (%s) is not a CA certificate "
                  "(a leaf in place of the Fleet CA?)",
                  ca, i + 1, name);
    snprintf(what, sizeof(what), "CA %s in %s expires on", name, ca);
    warn_if_soon(k, ca, X509_get0_notBefore(x), X509_get0_notAfter(x), what,
                 "roll over to a new Fleet CA");
  }
  return 0;
}

/* The leaf's EKU, as the peer's OpenSSL or crypto/tls will check it. */
static int check_purpose(check_t *k, enum tls_role role, const char *cert,
                         X509 *leaf)
{
  int server = role == TLS_SERVER;
  if(X509_check_purpose(
         leaf, server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT,
         0) == 1)
    return 0;
  ERR_clear_error();
  if(server)
    return fail(k,
                "certificate %s is not for server authentication (no "
                "serverAuth in its extended key usage): a relay needs a "
                "relay's certificate, not a controller's",
                cert);
  return fail(k,
              "certificate %s is not for client authentication (no "
              "clientAuth in its extended key usage): a controller needs a "
              "controller's certificate",
              cert);
}

/* The leaf chains to a CA of the CA file, as a peer will verify it. */
static int check_chain(check_t *k, const char *cert, const char *ca,
                       STACK_OF(X509) * certs, STACK_OF(X509) * cas)
{
  X509_STORE *st = X509_STORE_new();
  X509_STORE_CTX *xs = X509_STORE_CTX_new();
  STACK_OF(X509) *rest = sk_X509_dup(certs);
  int rc = st && xs && rest ? 0 : BEACON_ENOMEM;
  for(int i = 0; !rc && i < sk_X509_num(cas); i++)
    if(X509_STORE_add_cert(st, sk_X509_value(cas, i)) != 1)
      rc = BEACON_ENOMEM;
  if(!rc) {
    X509 *leaf = sk_X509_shift(rest);
    /* times are checked on their own, with their own words */
    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN |
                                 X509_V_FLAG_NO_CHECK_TIME);
    if(X509_STORE_CTX_init(xs, st, leaf, rest) != 1)
      rc = BEACON_ENOMEM;
    else if(X509_verify_cert(xs) != 1) {
      char issuer[256];
      subject(X509_get_issuer_name(leaf), issuer, sizeof(issuer));
      rc = fail(k,
                "certificate %s does not chain to the fleet CA in %s (%s; "
                "its issuer %s is not a CA of that file, or is another CA "
                "of that name)",
                cert, ca,
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)),
                issuer);
    }
  }
  ERR_clear_error();
  X509_STORE_CTX_free(xs);
  sk_X509_free(rest);
  X509_STORE_free(st);
  return rc;
}

static int check_one_crl(check_t *k, const char *crl, const char *ca,
                         X509_CRL *x, STACK_OF(X509) * cas)
{
  char name[256], when[64], what[1200];
  subject(X509_CRL_get_issuer(x), name, sizeof(name));
  if(!tls_crl_signer(x, cas))
    return fail(k, "CRL %s: the CRL of %s is signed by no CA in %s", crl, name,
                ca);
  const ASN1_TIME *next = X509_CRL_get0_nextUpdate(x);
  const ASN1_TIME *last = X509_CRL_get0_lastUpdate(x);
  if(next && X509_cmp_time(next, &k->now) < 0) {
    utc(when, sizeof(when), next);
    return fail(k,
                "CRL %s: the CRL of %s expired on %s (its nextUpdate): "
                "every certificate of that CA would be refused; publish a "
                "fresh CRL",
                crl, name, when);
  }
  if(last && X509_cmp_time(last, &k->now) > 0) {
    utc(when, sizeof(when), last);
    return fail(k,
                "CRL %s: the CRL of %s is not valid before %s (is this "
                "host's clock right?)",
                crl, name, when);
  }
  snprintf(what, sizeof(what), "CRL %s: the CRL of %s expires on", crl, name);
  warn_if_soon(k, crl, last, next, what, "publish a fresh CRL");
  return 0;
}

static int check_crls(check_t *k, const char *crl, const char *ca,
                      STACK_OF(X509) * cas)
{
  STACK_OF(X509_CRL) *crls = tls_crl_read_file(crl, NULL, 0);
  int rc = 0;
  for(int i = 0; !rc && i < sk_X509_CRL_num(crls); i++)
    rc = check_one_crl(k, crl, ca, sk_X509_CRL_value(crls, i), cas);
  sk_X509_CRL_pop_free(crls, X509_CRL_free);
  return rc;
}

int tls_config_check(enum tls_role role, const char *cert, const char *ca,
                     const char *crl, time_t now, tls_check_warn_fn warn,
                     void *arg, char *err, size_t errlen)
{
  check_t k = {now, warn, arg, err, errlen};
  STACK_OF(X509) *cas = read_certs(ca);
  STACK_OF(X509) *certs = read_certs(cert);
  int rc = 0;
  if(cas)
    rc = check_cas(&k, ca, cas);
  if(!rc && certs) {
    X509 *leaf = sk_X509_value(certs, 0);
    char what[4200];
    rc = check_purpose(&k, role, cert, leaf);
    if(!rc && cas)
      rc = check_chain(&k, cert, ca, certs, cas);
    snprintf(what, sizeof(what), "certificate %s expires on", cert);
    if(!rc)
      warn_if_soon(&k, cert, X509_get0_notBefore(leaf),
                   X509_get0_notAfter(leaf), what, "renew it");
  }
  if(!rc && crl && cas)
    rc = check_crls(&k, crl, ca, cas);
  sk_X509_pop_free(cas, X509_free);
  sk_X509_pop_free(certs, X509_free);
  ERR_clear_error();
  return rc;
}
