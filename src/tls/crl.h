/*
 * crl.h - certificate revocation lists for the peer's leaf
 * (docs/OPERATIONS.md "Rolling over the Fleet CA").
 *
 * A CRL file may hold several CRLs, one per CA of the CA file (a rollover
 * has two CAs, and each publishes its own). Each CRL belongs to the CA
 * whose key signed it, not merely to a CA of the same name: two Fleet CAs
 * of a rollover often share their subject. A peer's leaf is checked
 * against the CRLs of the CA that issued it; a CA with no CRL in the file
 * does not revoke, so its leaves pass (the file says nothing about
 * them), while a CA that has one is checked by it in full: expired or not
 * yet valid refuses every leaf of that CA.
 *
 * This header is for context.c and the configuration checks; it includes
 * OpenSSL.
 */
#ifndef BEACON_TLS_CRL_H
#define BEACON_TLS_CRL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/* Loads every CRL of the PEM file at path into st, whose CA certificates
 * must already be loaded, and turns on the leaf's revocation check. A
 * CRL that no CA of st signed is refused. 0, or BEACON_ECONFIG /
 * BEACON_ENOMEM with a message naming the file in err. */
int tls_crl_load(X509_STORE *st, const char *path, char *err, size_t errlen);

/* Every CRL of the PEM file at path (at least one), or NULL with a message
 * naming the file in err. Free with sk_X509_CRL_pop_free(, X509_CRL_free). */
STACK_OF(X509_CRL) *
    tls_crl_read_file(const char *path, char *err, size_t errlen);

/* The certificate of cas whose key signed crl (and whose subject is the
 * CRL's issuer), or NULL. Not a new reference. */
X509 *tls_crl_signer(X509_CRL *crl, STACK_OF(X509) * cas);

/* For the verify callback: ok, or 1 when the error is only that the
 * leaf's issuer has no CRL in the file (see above); the error is then
 * cleared. */
int tls_crl_verify_override(int ok, X509_STORE_CTX *xs);

/* An operator's words for a CRL verify error (say which side must act),
 * or NULL when code is not about a CRL. */
const char *tls_crl_verdict(int code);

/* A relay sends "certificate expired" (alert 45) when its CRL has
 * expired too: when our own certificate own is still valid, appends to
 * msg (of size cap) that the relay's CRL is the likelier cause. */
void tls_crl_expired_hint(char *msg, size_t cap, X509 *own);

/* The earliest nextUpdate of the CRLs tls_crl_load() put in st (Unix
 * seconds), or 0 when it has none. */
int64_t tls_crl_first_next_update(const X509_STORE *st);

#endif
