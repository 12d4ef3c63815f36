/* pki_csr.c - `beacon gen-csr`: the relay's or a controller's key, made
 * unless present, and a PKCS#10 request for it (cli_support/pki.h
 * pki_gen_csr). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "beacon/beacon.h"
#include "cli_support/pki_cert.h"
#include "cli_support/pki_files.h"
#include "cli_support/pki_int.h"

/* The directory is the operator's to create, with the owner and mode the
 * relay's user needs (docs/OPERATIONS.md "Enrol a relay"): it must exist,
 * and be writable when the key is still to be made. */
static int check_dir(const char *dir, const char *key_path, char *err,
                     size_t errlen)
{
  struct stat st;
  int e = stat(dir, &st) ? errno : 0;
  if(e || !S_ISDIR(st.st_mode))
    return pki_fail(BEACON_ECONFIG, err, errlen, "%s: %s", dir,
                    e == ENOENT   ? "no such directory (create it first)"
                    : e == EACCES ? "unreadable (permission denied)"
                    : e           ? strerror(e)
                                  : "not a directory");
  if(!pki_file_exists(key_path) && access(dir, W_OK | X_OK))
    return pki_fail(BEACON_ECONFIG, err, errlen,
                    "%s: cannot create %s there: %s", dir, key_path,
                    strerror(errno));
  return 0;
}

/* Loads the key at path, or makes and writes one (0600). */
static int load_or_make_key(const char *path, EVP_PKEY **key, char *err,
                            size_t errlen)
{
  if(pki_file_exists(path)) {
    *key = pki_load_key(path, err, errlen);
    return *key ? 0 : BEACON_ECONFIG;
  }
  *key = pki_gen_key();
  if(!*key)
    return pki_fail(BEACON_ENOMEM, err, errlen, "cannot generate a P-256 key");
  return pki_write_key(path, *key, 0, err, errlen);
}

/* The extensions the request asks for: its SANs, and clientAuth alone for
 * a controller's (what `pki sign`, or a real CA, should give it). NULL
 * when out of memory. */
static STACK_OF(X509_EXTENSION) *
    requested_exts(GENERAL_NAMES *gens, int controller)
{
  STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
  if(exts && gens && sk_GENERAL_NAME_num(gens) > 0 &&
     !X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0,
                      X509V3_ADD_DEFAULT))
    goto fail;
  if(exts && controller) {
    X509_EXTENSION *eku =
        X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "clientAuth");
    if(!eku || !sk_X509_EXTENSION_push(exts, eku)) {
      X509_EXTENSION_free(eku);
      goto fail;
    }
  }
  return exts;
fail:
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return NULL;
}

/* A signed request for key with subject CN=cn; NULL when out of
 * memory. */
static X509_REQ *make_request(EVP_PKEY *key, const char *cn,
                              GENERAL_NAMES *gens, int controller)
{
  X509_REQ *req = X509_REQ_new();
  X509_NAME *name = pki_make_name(NULL, cn);
  STACK_OF(X509_EXTENSION) *exts = requested_exts(gens, controller);
  int ok =
      req && name && exts && X509_REQ_set_version(req, X509_REQ_VERSION_1) &&
      X509_REQ_set_subject_name(req, name) && X509_REQ_set_pubkey(req, key) &&
      (sk_X509_EXTENSION_num(exts) == 0 ||
       X509_REQ_add_extensions(req, exts)) &&
      X509_REQ_sign(req, key, EVP_sha256());
  X509_NAME_free(name);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if(ok)
    return req;
  X509_REQ_free(req);
  return NULL;
}

static int write_request(X509_REQ *req, const char *path, char *err,
                         size_t errlen)
{
  int to_stdout = !strcmp(path, "-");
  FILE *f = to_stdout ? stdout : fopen(path, "w");
  if(!f)
    return pki_fail(BEACON_EIO, err, errlen, "%s: %s", path, strerror(errno));
  int ok = PEM_write_X509_REQ(f, req) == 1;
  if(to_stdout)
    ok = !fflush(f) && ok;
  else
    ok = !fclose(f) && ok;
  return ok ? 0 : pki_fail(BEACON_EIO, err, errlen, "%s: write failed", path);
}

int pki_gen_csr(const char *dir, const char *cn, const char *sans,
                int controller, const char *out_path, char *err, size_t errlen)
{
  char k[PKI_PATH_MAX];
  EVP_PKEY *key = NULL;
  GENERAL_NAMES *gens = NULL;
  if(!cn || !*cn)
    return pki_fail(BEACON_EINVAL, err, errlen,
                    "--cn: a common name is needed");
  if(pki_path_join(k, sizeof(k), dir, controller ? "controller" : "relay",
                   ".key"))
    return pki_fail(BEACON_EINVAL, err, errlen, "%s: path too long", dir);
  /* validate everything before touching the disk */
  if(sans && !(gens = pki_parse_sans(sans, err, errlen)))
    return BEACON_EINVAL;
  int rc = check_dir(dir, k, err, errlen);
  if(!rc)
    rc = load_or_make_key(k, &key, err, errlen);
  if(!rc) {
    X509_REQ *req = make_request(key, cn, gens, controller);
    rc =
        req ? write_request(req, out_path, err, errlen)
            : pki_fail(BEACON_ENOMEM, err, errlen, "cannot build the request");
    X509_REQ_free(req);
  }
  EVP_PKEY_free(key);
  GENERAL_NAMES_free(gens);
  return rc;
}
