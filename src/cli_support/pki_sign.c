/* pki_sign.c - `beacon pki sign`: a CSR signed by the Fleet CA
 * (cli_support/pki.h pki_sign_csr). */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "beacon/beacon.h"
#include "cli_support/pki_cert.h"
#include "cli_support/pki_files.h"
#include "cli_support/pki_int.h"

/* 1 when the request asks for clientAuth and not serverAuth: a
 * controller's (`gen-csr --controller`). */
static int requests_client_only(STACK_OF(X509_EXTENSION) * exts)
{
  EXTENDED_KEY_USAGE *eku =
      X509V3_get_d2i(exts, NID_ext_key_usage, NULL, NULL);
  int client = 0, server = 0;
  for(int i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++) {
    int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
    client |= nid == NID_client_auth;
    server |= nid == NID_server_auth;
  }
  EXTENDED_KEY_USAGE_free(eku);
  ERR_clear_error();
  return client && !server;
}

/* Reads the PEM request at path and checks its signature. */
static int read_request(const char *path, X509_REQ **req, EVP_PKEY **pub,
                        char *err, size_t errlen)
{
  BIO *b = BIO_new_file(path, "r");
  if(!b) {
    ERR_clear_error();
    return pki_fail(BEACON_ECONFIG, err, errlen, "%s: %s", path,
                    errno ? strerror(errno) : "cannot open");
  }
  *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
  BIO_free(b);
  if(!*req)
    return pki_fail(BEACON_ECONFIG, err, errlen,
                    "%s: not a PEM certificate request", path);
  *pub = X509_REQ_get_pubkey(*req);
  if(!*pub || X509_REQ_verify(*req, *pub) != 1)
    return pki_fail(BEACON_ECONFIG, err, errlen,
                    "%s: the request's signature does not verify", path);
  return 0;
}

/* The request's SANs, and whether it is a controller's (*controller is
 * set when it asks for clientAuth alone). A relay's must have SANs. */
static int request_sans(X509_REQ *req, const char *path, int *controller,
                        GENERAL_NAMES **gens, char *err, size_t errlen)
{
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
  *gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
  ERR_clear_error();
  *controller = *controller || requests_client_only(exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if(!*gens && *controller)
    *gens = sk_GENERAL_NAME_new_null(); /* a controller needs no name */
  if(!*gens)
    return pki_fail(BEACON_ECONFIG, err, errlen,
                    "%s: the request has no subjectAltName (a relay needs "
                    "its DNS name or IP address)",
                    path);
  return 0;
}

int pki_sign_csr(const char *ca_dir, const char *csr_path,
                 const char *out_path, long secs, int controller, char *err,
                 size_t errlen)
{
  X509 *ca = NULL, *x = NULL;
  STACK_OF(X509) *chain = NULL;
  EVP_PKEY *ca_key = NULL, *pub = NULL;
  X509_REQ *req = NULL;
  GENERAL_NAMES *gens = NULL;
  if(secs < 0 || secs > CA_DAYS * DAY_SECS)
    return pki_fail(BEACON_EINVAL, err, errlen,
                    "validity of %ld s is out of range (up to %ld days)", secs,
                    CA_DAYS);
  int rc = read_request(csr_path, &req, &pub, err, errlen);
  if(!rc)
    rc = pki_load_pair(ca_dir, "fleet-ca", &ca, &chain, &ca_key, err, errlen);
  if(!rc)
    rc = request_sans(req, csr_path, &controller, &gens, err, errlen);
  if(!rc) {
    cert_spec_t s = {.subject = X509_REQ_get_subject_name(req),
                     .pub = pub,
                     .issuer = ca,
                     .issuer_key = ca_key,
                     .pathlen = -1,
                     .eku = controller ? EKU_CLIENT : EKU_SERVER | EKU_CLIENT,
                     .gens = gens,
                     .nb_secs = -BACKDATE_SECS,
                     .na_secs = secs ? secs : LEAF_DAYS * DAY_SECS};
    x = pki_make_cert(&s, err, errlen);
    rc = x ? pki_write_chain(out_path, x, chain, 1, err, errlen)
           : BEACON_ECONFIG;
  }
  X509_free(x);
  X509_free(ca);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(pub);
  X509_REQ_free(req);
  GENERAL_NAMES_free(gens);
  return rc;
}
