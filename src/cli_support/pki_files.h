/*
 * pki_files.h - the development PKI's key and certificate files
 * (pki_files.c).
 */
#ifndef BEACON_PKI_FILES_H
#define BEACON_PKI_FILES_H

#include <stdio.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cli_support/pki_int.h"

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

#endif
