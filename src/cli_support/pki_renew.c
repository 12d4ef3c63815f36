/* pki_renew.c - `beacon pki renew`: the same leaf again with new dates
 * (cli_support/pki.h pki_renew). A short-lived certificate is renewed by a
 * timer, not by a person: the key stays (nothing to distribute, pins by
 * SPKI keep holding), and the file is replaced atomically, since a relay
 * or controller may read it at any moment. */
#include <openssl/err.h>
#include <openssl/pem.h>

#include "beacon/beacon.h"
#include "cli_support/pki_cert.h"
#include "cli_support/pki_files.h"
#include "cli_support/pki_int.h"

/* The first certificate of the PEM file at path. */
static X509 *read_leaf(const char *path, char *err, size_t errlen)
{
  FILE *f = fopen(path, "r");
  X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
  if(f)
    fclose(f);
  if(!x)
    pki_fail(0, err, errlen, "%s: %s", path,
             f ? "no PEM certificate in it" : "cannot be opened");
  return x;
}

/* The EKU bits of x (0: it has no EKU extension). */
static int eku_of(X509 *x)
{
  uint32_t xku = X509_get_extended_key_usage(x);
  if(xku == UINT32_MAX)
    return 0;
  return (xku & XKU_SSL_SERVER ? EKU_SERVER : 0) |
         (xku & XKU_SSL_CLIENT ? EKU_CLIENT : 0);
}

/* The old certificate's lifetime, less the backdating a new one gets. */
static long lifetime_of(X509 *x)
{
  int days = 0, secs = 0;
  if(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
                    X509_get0_notAfter(x)) != 1)
    return 0;
  long total = days * DAY_SECS + secs;
  return total > 2 * BACKDATE_SECS ? total - BACKDATE_SECS : total;
}

typedef struct certs_out {
  X509 *leaf;
  STACK_OF(X509) * chain;
} certs_out_t;

static int write_certs(FILE *f, void *arg)
{
  certs_out_t *o = arg;
  int ok = PEM_write_X509(f, o->leaf) == 1;
  for(int i = 0; ok && i < sk_X509_num(o->chain); i++)
    ok = PEM_write_X509(f, sk_X509_value(o->chain, i)) == 1;
  return ok;
}

/* The new leaf for old's key and names, signed by ca. */
static X509 *reissue(X509 *old, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key,
                     long secs, char *err, size_t errlen)
{
  GENERAL_NAMES *gens =
      X509_get_ext_d2i(old, NID_subject_alt_name, NULL, NULL);
  ERR_clear_error();
  cert_spec_t s = {.subject = X509_get_subject_name(old),
                   .pub = key,
                   .issuer = ca,
                   .issuer_key = ca_key,
                   .pathlen = -1,
                   .eku = eku_of(old),
                   .gens = gens,
                   .nb_secs = -BACKDATE_SECS,
                   .na_secs = secs ? secs : lifetime_of(old)};
  X509 *x = s.na_secs > 0 ? pki_make_cert(&s, err, errlen) : NULL;
  if(s.na_secs <= 0)
    pki_fail(0, err, errlen,
             "the old certificate has no usable lifetime: "
             "give --hours");
  GENERAL_NAMES_free(gens);
  return x;
}

int pki_renew(const char *ca_dir, const char *cert_path, const char *key_path,
              long secs, char *err, size_t errlen)
{
  X509 *ca = NULL, *x = NULL;
  STACK_OF(X509) *chain = NULL;
  EVP_PKEY *ca_key = NULL, *key = NULL;
  if(secs < 0 || secs > CA_DAYS * DAY_SECS)
    return pki_fail(BEACON_EINVAL, err, errlen,
                    "validity of %ld s is out of range (up to %ld days)", secs,
                    CA_DAYS);
  X509 *old = read_leaf(cert_path, err, errlen);
  int rc = old ? 0 : BEACON_ECONFIG;
  if(!rc && !(key = pki_load_key(key_path, err, errlen)))
    rc = BEACON_ECONFIG;
  if(!rc && X509_check_private_key(old, key) != 1)
    rc = pki_fail(BEACON_ECONFIG, err, errlen,
                  "%s does not match the certificate in %s", key_path,
                  cert_path);
  if(!rc && X509_get_extended_key_usage(old) != UINT32_MAX && !eku_of(old))
    rc = pki_fail(BEACON_ECONFIG, err, errlen,
                  "%s has an extended key usage without serverAuth or "
                  "clientAuth: not a beacon certificate",
                  cert_path);
  if(!rc && X509_check_ca(old))
    rc =
        pki_fail(BEACON_ECONFIG, err, errlen,
                 "%s is a CA certificate: pki renew renews leaves", cert_path);
  if(!rc)
    rc = pki_load_pair(ca_dir, "fleet-ca", &ca, &chain, &ca_key, err, errlen);
  if(!rc && !(x = reissue(old, key, ca, ca_key, secs, err, errlen)))
    rc = BEACON_ECONFIG;
  if(!rc) {
    certs_out_t o = {x, chain};
    rc = pki_replace_file(cert_path, 0644, write_certs, &o, err, errlen);
  }
  X509_free(old);
  X509_free(x);
  X509_free(ca);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(key);
  return rc;
}
