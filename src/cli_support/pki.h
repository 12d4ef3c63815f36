/*
 * pki.h - certificates made with OpenSSL's API (not the openssl command):
 * the development PKI of `beacon pki init`, signing CSRs with it
 * (`beacon pki sign`), renewing a leaf (`beacon pki renew`), its CRL
 * (`beacon pki crl`), issuing test certificates (`beacon pki issue`), and
 * the relay's key + CSR (`beacon gen-csr`).
 *
 * Development PKI layout in DIR (keys mode 0600):
 *   root-ca.crt root-ca.key      offline root (self-signed)
 *   fleet-ca.crt fleet-ca.key    Fleet CA intermediate (the trust anchor)
 *   relay.crt relay.key          leaf + fleet-ca chain; SANs localhost,
 *                                127.0.0.1, ::1; serverAuth+clientAuth
 *   controller.crt controller.key  leaf + chain; clientAuth
 */
#ifndef BEACON_PKI_H
#define BEACON_PKI_H

#include <stddef.h>

#include "common/error.h"

enum {
  PKI_INIT_FORCE = 1,     /* overwrite existing files */
  PKI_INIT_REPLACE_CA = 2 /* with FORCE: also an existing CA */
};

/* Creates the development PKI in dir (created if missing, mode 0700).
 * Existing files are not overwritten unless PKI_INIT_FORCE: a complete
 * PKI is left as is, missing leaves are issued by the existing Fleet CA,
 * and half a pair or leaves without their CA are refused
 * (BEACON_ECONFIG). FORCE without REPLACE_CA refuses to replace a CA
 * present in dir (BEACON_EINVAL: it would break every certificate the CA
 * signed). */
BEACON_MUST_USE int pki_init(const char *dir, int flags, char *err,
                             size_t errlen);

typedef struct pki_issue_opts {
  const char *name;     /* output base name: DIR/NAME.crt, DIR/NAME.key */
  const char *cn;       /* subject CN; default = name */
  int server_auth;      /* EKU serverAuth */
  int client_auth;      /* EKU clientAuth */
  const char *sans;     /* comma-separated DNS names / IPs, may be NULL */
  long not_before_days; /* offset from now, may be negative; 0 = -1 h */
  long not_after_days;  /* offset from now, may be negative (expired);
                           0 = 825 days */
  const char *ca_dir;   /* signing CA: ca_dir/fleet-ca.{crt,key} */
  const char *ca_name;  /* default "fleet-ca" */
  int self_signed_ca;   /* make NAME a new self-signed CA instead */
} pki_issue_opts_t;

/* Issues a key + certificate (with the CA chain appended) into dir,
 * replacing an earlier NAME.{crt,key} there (test material). With
 * self_signed_ca, NAME is a CA:TRUE certificate of its own that later
 * calls can sign with (ca_dir = dir, ca_name = name). */
BEACON_MUST_USE int pki_issue(const char *dir, const pki_issue_opts_t *o,
                              char *err, size_t errlen);

/* Signs the PEM CSR at csr_path with ca_dir's Fleet CA, valid for secs
 * seconds from now (0: 825 days); writes the leaf followed by the chain to
 * out_path ("-" = stdout). The CSR's SANs are copied. A relay's leaf (SANs
 * required) gets serverAuth+clientAuth; a controller's (controller set, or the
 * CSR asks for clientAuth alone as `gen-csr --controller` does) gets
 * clientAuth, SANs optional. */
BEACON_MUST_USE int pki_sign_csr(const char *ca_dir, const char *csr_path,
                                 const char *out_path, long secs,
                                 int controller, char *err, size_t errlen);

/* Re-issues the leaf in cert_path with ca_dir's Fleet CA: the same
 * subject, SANs and EKU, for the same key (key_path, which must match),
 * valid for secs from now (0: as long as the old one was). The leaf and
 * the CA's chain replace cert_path atomically (its mode and owner kept),
 * so a reader never sees half a file. */
BEACON_MUST_USE int pki_renew(const char *ca_dir, const char *cert_path,
                              const char *key_path, long secs, char *err,
                              size_t errlen);

/* Writes ca_dir's Fleet CA CRL to out_path (atomically), valid for secs
 * (0: 30 days). It keeps the revocations of the CRL of the same CA
 * already at out_path, adds the first certificate of each of the
 * nrevoke files (which that CA must have issued) and counts crlNumber
 * up. Other CAs' CRLs in the file stay (one file for a rollover). */
BEACON_MUST_USE int pki_make_crl(const char *ca_dir, const char *out_path,
                                 const char *const *revoke, int nrevoke,
                                 long secs, char *err, size_t errlen);

/* Creates dir/relay.key, or dir/controller.key with controller (0600),
 * unless present, then writes a PKCS#10 CSR for it (CN = cn, SANs = sans,
 * comma-separated, may be NULL; a controller's asks for EKU clientAuth)
 * as PEM to out_path ("-" = stdout). dir must exist (BEACON_ECONFIG). */
BEACON_MUST_USE int pki_gen_csr(const char *dir, const char *cn,
                                const char *sans, int controller,
                                const char *out_path, char *err,
                                size_t errlen);

/* SHA-256 of the SubjectPublicKeyInfo in the PEM file at path (a
 * certificate, its first one; a CSR; a public or private key) as 64
 * lowercase hex digits: what --allow-client pins. */
BEACON_MUST_USE int pki_fingerprint(const char *path, char hex[65], char *err,
                                    size_t errlen);

#endif
