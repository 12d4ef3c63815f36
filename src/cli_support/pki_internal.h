/*
 * pki_internal.h - what the files of the development PKI share (the API
 * is cli_support/pki.h):
 *
 *   pki_files.c        key and certificate files: create 0600/0644, load,
 *                      load a matching pair, error messages
 *   pki_cert.c         building and signing certificates, SAN lists
 *   pki_init.c         `beacon pki init`: the CAs and the two leaves
 *   pki_issue.c        `beacon pki issue`: test certificates
 *   pki_sign.c         `beacon pki sign`: a CSR signed by the Fleet CA
 *   pki_renew.c        `beacon pki renew`: the same leaf again, new dates
 *   pki_crl.c          `beacon pki crl`: the Fleet CA's CRL
 *   pki_csr.c          `beacon gen-csr`: a key and its CSR
 *   pki_fingerprint.c  the SPKI SHA-256 that --allow-client pins
 *
 * Keys are ECDSA P-256: crypto/tls and OpenSSL both have fast constant-time
 * code for it, keys and signatures are small, and it is what a Go PKI makes
 * by default. Private keys are written with open(O_CREAT|O_EXCL, 0600), so
 * there is never a moment where a key file is readable by others.
 */
#ifndef BEACON_PKI_INTERNAL_H
#define BEACON_PKI_INTERNAL_H

#include <stdio.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli_support/pki.h"

#define DAY_SECS 86400L
#define LEAF_DAYS 825L      /* the CA/Browser maximum, as Go tools use */
#define CA_DAYS (3650L)     /* ten years */
#define BACKDATE_SECS 3600L /* tolerate an hour of clock skew */
#define PKI_PATH_MAX 4096

/* key usage / EKU bits for pki_make_cert() */
enum { EKU_SERVER = 1, EKU_CLIENT = 2 };

typedef struct cert_spec {
  const char *cn;
  const char *org;
  EVP_PKEY *pub;        /* subject key */
  X509 *issuer;         /* NULL: self-signed */
  EVP_PKEY *issuer_key; /* signs; the subject key when self-signed */
  int ca;               /* CA:TRUE */
  int pathlen;          /* -1: none */
  int eku;              /* EKU_* bits; 0 = no EKU extension */
  const char *sans;     /* comma-separated, may be NULL */
  X509_NAME *subject;   /* overrides cn/org when set */
  GENERAL_NAMES *gens;  /* overrides sans when set */
  long nb_secs;         /* notBefore offset from now */
  long na_secs;         /* notAfter offset from now */
} cert_spec_t;

/* ---- pki_files.c ---- */

/* Formats the message, then appends the first queued OpenSSL error (if
 * any) and clears the queue. Returns code. */
int pki_fail(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
EVP_PKEY *pki_gen_key(void);
/* dir/name + ext into out; -1 when it does not fit. */
int pki_path_join(char *out, size_t cap, const char *dir, const char *name,
                  const char *ext);
int pki_file_exists(const char *path);
/* Writes a private key, mode 0600 (unlinking an old file when replace). */
int pki_write_key(const char *path, EVP_PKEY *key, int replace, char *err,
                  size_t errlen);
/* Writes certs[0..n) as PEM ("-" = stdout). Certificates are public:
 * 0644, replacing an existing file only when replace. */
int pki_write_certs(const char *path, X509 *const *certs, int n, int replace,
                    char *err, size_t errlen);
/* Writes leaf followed by every certificate of chain (see
 * pki_write_certs). */
int pki_write_chain(const char *path, X509 *leaf, STACK_OF(X509) * chain,
                    int replace, char *err, size_t errlen);
EVP_PKEY *pki_load_key(const char *path, char *err, size_t errlen);
/* Loads DIR/NAME.crt (first certificate; with chain, every one) and
 * DIR/NAME.key and checks that they belong together. */
int pki_load_pair(const char *dir, const char *name, X509 **cert,
                  STACK_OF(X509) * *chain, EVP_PKEY **key, char *err,
                  size_t errlen);
/* Writes a file's content to f; 1 on success. */
typedef int (*pki_writer_fn)(FILE *f, void *arg);
/* Replaces path atomically: write() fills a temporary file in the same
 * directory (the mode and owner of the file it replaces, else mode),
 * which is fsync()ed and renamed over path; a reader sees the old file
 * or the new one, never half of one. */
int pki_replace_file(const char *path, mode_t mode, pki_writer_fn write,
                     void *arg, char *err, size_t errlen);
/* Creates dir (0700) unless it is a directory already. */
int pki_ensure_dir(const char *dir, char *err, size_t errlen);

/* ---- pki_cert.c ---- */

/* "a.example,127.0.0.1,::1" (entries may carry DNS: / IP: prefixes) into
 * GENERAL_NAMES; NULL on a malformed list (message in err). */
GENERAL_NAMES *pki_parse_sans(const char *list, char *err, size_t errlen);
X509_NAME *pki_make_name(const char *org, const char *cn);
/* Builds and signs a certificate per spec. NULL with err set on failure. */
X509 *pki_make_cert(const cert_spec_t *s, char *err, size_t errlen);
/* Generates a key, writes DIR/NAME.key then DIR/NAME.crt (cert followed by
 * extra, when given). The certificate and key go to *cert_out and
 * *key_out when those are not NULL. */
int pki_new_pair(const char *dir, const char *name, cert_spec_t *spec,
                 X509 *extra, int replace, X509 **cert_out, EVP_PKEY **key_out,
                 char *err, size_t errlen);

#endif
