/*
 * pki_int.h - what the files of the development PKI share: constants
 * only; each file's functions are in its own header (the API is
 * cli_support/pki.h):
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
#ifndef BEACON_PKI_INT_H
#define BEACON_PKI_INT_H

#include "cli_support/pki.h"

#define DAY_SECS 86400L
#define LEAF_DAYS 825L      /* the CA/Browser maximum, as Go tools use */
#define CA_DAYS (3650L)     /* ten years */
#define BACKDATE_SECS 3600L /* tolerate an hour of clock skew */
#define PKI_PATH_MAX 4096

#endif
