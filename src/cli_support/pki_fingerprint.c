/* pki_fingerprint.c - the SHA-256 of a PEM file's public key, as
 * --allow-client pins it (cli_support/pki.h pki_fingerprint). */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "beacon/beacon.h"
#include "cli_support/pki_files.h"
#include "cli_support/pki_int.h"
#include "tls/identity.h"

int pki_fingerprint(const char *path, char hex[65], char *err, size_t errlen)
{
  BIO *b = BIO_new_file(path, "r");
  if(!b) {
    int e = errno;
    ERR_clear_error();
    return pki_fail(BEACON_ECONFIG, err, errlen, "%s: %s", path,
                    e == ENOENT   ? "missing"
                    : e == EACCES ? "unreadable (permission denied)"
                                  : strerror(e));
  }
  /* The first PEM object decides: a certificate, a request, or a public
   * or private key all carry the SubjectPublicKeyInfo that is pinned. */
  X509_PUBKEY *spki = NULL;
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  X509_REQ *req = NULL;
  EVP_PKEY *pk = NULL;
  if(x)
    spki = X509_get_X509_PUBKEY(x);
  else {
    BIO_reset(b);
    req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    if(!req) {
      BIO_reset(b);
      pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    }
    if(!req && !pk) {
      BIO_reset(b);
      pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    }
    if(req)
      pk = X509_REQ_get_pubkey(req);
    if(pk && !X509_PUBKEY_set(&spki, pk))
      spki = NULL;
  }
  int rc = 0;
  if(!spki)
    rc = pki_fail(BEACON_ECONFIG, err, errlen,
                  "%s: no PEM certificate, request or key in it", path);
  else if(tls_identity_spki_hex(spki, hex))
    rc =
        pki_fail(BEACON_ECONFIG, err, errlen, "%s: cannot hash its key", path);
  if(!x)
    X509_PUBKEY_free(spki);
  X509_free(x);
  X509_REQ_free(req);
  EVP_PKEY_free(pk);
  BIO_free(b);
  ERR_clear_error();
  return rc;
}
