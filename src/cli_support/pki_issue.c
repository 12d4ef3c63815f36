/* pki_issue.c - `beacon pki issue`: test certificates, valid or not
 * (cli_support/pki.h pki_issue). */
#include <string.h>

#include "beacon/beacon.h"
#include "cli_support/pki_cert.h"
#include "cli_support/pki_files.h"
#include "cli_support/pki_int.h"

/* notBefore and notAfter offsets from the day counts. */
static int validity(const pki_issue_opts_t *o, long *nb, long *na, char *err,
                    size_t errlen)
{
  *nb = o->not_before_days ? o->not_before_days * DAY_SECS : -BACKDATE_SECS;
  *na = (o->not_after_days ? o->not_after_days : LEAF_DAYS) * DAY_SECS;
  if(*na <= *nb)
    return pki_fail(BEACON_EINVAL, err, errlen,
                    "validity ends before it starts (not-before %ld days, "
                    "not-after %ld days)",
                    o->not_before_days, o->not_after_days);
  return 0;
}

/* A new key and a certificate for it signed by ca, written as
 * DIR/NAME.key and DIR/NAME.crt followed by chain (the CA's own file, CA
 * first). issue is for tests: it replaces earlier output of the same
 * name. */
static int issue_signed(const char *dir, const char *name, cert_spec_t *s,
                        STACK_OF(X509) * chain, char *err, size_t errlen)
{
  char c[PKI_PATH_MAX], k[PKI_PATH_MAX];
  if(pki_path_join(c, sizeof(c), dir, name, ".crt") ||
     pki_path_join(k, sizeof(k), dir, name, ".key"))
    return pki_fail(BEACON_EINVAL, err, errlen, "%s: path too long", dir);
  EVP_PKEY *key = pki_gen_key();
  if(!key)
    return pki_fail(BEACON_ENOMEM, err, errlen, "cannot generate a P-256 key");
  s->pub = key;
  X509 *x = pki_make_cert(s, err, errlen);
  int rc = x ? pki_write_key(k, key, 1, err, errlen) : BEACON_EINVAL;
  if(!rc)
    rc = pki_write_chain(c, x, chain, 1, err, errlen);
  X509_free(x);
  EVP_PKEY_free(key);
  return rc;
}

int pki_issue(const char *dir, const pki_issue_opts_t *o, char *err,
              size_t errlen)
{
  long nb, na;
  if(!o->name || !*o->name || strchr(o->name, '/'))
    return pki_fail(BEACON_EINVAL, err, errlen,
                    "--name: a plain file name is required");
  if(!o->self_signed_ca && !o->ca_dir)
    return pki_fail(BEACON_EINVAL, err, errlen,
                    "--ca-dir is required (or --self-signed-ca)");
  int rc = validity(o, &nb, &na, err, errlen);
  if(!rc)
    rc = pki_ensure_dir(dir, err, errlen);
  if(rc)
    return rc;
  int eku =
      (o->server_auth ? EKU_SERVER : 0) | (o->client_auth ? EKU_CLIENT : 0);
  cert_spec_t s = {.cn = o->cn ? o->cn : o->name,
                   .org = "beacon",
                   .pathlen = -1,
                   .eku = eku,
                   .sans = o->sans,
                   .nb_secs = nb,
                   .na_secs = na};
  if(o->self_signed_ca) {
    /* A CA of its own, trusted by nobody: the "other CA" of tests. It can
     * sign further certificates (--ca-dir DIR --ca-name NAME) or be shown
     * as a peer certificate directly. */
    s.ca = 1;
    return pki_new_pair(dir, o->name, &s, NULL, 1, NULL, NULL, err, errlen);
  }
  X509 *ca = NULL;
  STACK_OF(X509) *chain = NULL;
  EVP_PKEY *ca_key = NULL;
  rc = pki_load_pair(o->ca_dir, o->ca_name ? o->ca_name : "fleet-ca", &ca,
                     &chain, &ca_key, err, errlen);
  if(rc)
    return rc;
  s.issuer = ca;
  s.issuer_key = ca_key;
  rc = issue_signed(dir, o->name, &s, chain, err, errlen);
  X509_free(ca);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(ca_key);
  return rc;
}
