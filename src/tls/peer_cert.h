/*
 * peer_cert.h - re-checking the certificate of an established peer
 * (peer_cert.c): a revocation or a new CA file must reach tunnels that
 * are already up, not only new handshakes (docs/SECURITY.md
 * "Revocation"). The leaf a connection verified stays on it, with the
 * chain it was verified through, so it can be verified again against a
 * newer context's store.
 */
#ifndef BEACON_TLS_PEER_CERT_H
#define BEACON_TLS_PEER_CERT_H

#include <stddef.h>

#include "tls/tls.h"

/* What a re-check found. */
enum tls_peer_verdict {
  TLS_PEER_OK = 0,
  /* A CRL of the store lists the certificate. */
  TLS_PEER_REVOKED,
  /* It no longer verifies: its issuer left the CA file, or the purpose
   * or signature fails. */
  TLS_PEER_UNTRUSTED,
  /* The store's CRLs cannot decide (no CRL for its issuer, a CRL whose
   * signature fails): a fault of the CRL file, which new handshakes
   * report, not evidence against this peer. */
  TLS_PEER_UNDECIDED
};

/* Verifies c's peer leaf, through the chain it was verified with at its
 * handshake, against ctx's store and verification settings, as a new
 * handshake on ctx would, except for time: validity periods (the
 * certificate's and the CRLs') are not checked here, since an expired
 * certificate is drained on its own schedule (relay/tunnel_drain.h). why
 * gets OpenSSL's reason when the verdict is not TLS_PEER_OK. */
enum tls_peer_verdict tls_conn_peer_recheck(const tls_conn_t *c,
                                            const tls_ctx_t *ctx, char *why,
                                            size_t cap);
/* 1 when c was made from ctx (its handshake used ctx's files). */
int tls_conn_made_from(const tls_conn_t *c, const tls_ctx_t *ctx);
/* The verdict for an X509 verify error code (X509_V_OK: TLS_PEER_OK). */
enum tls_peer_verdict tls_peer_verdict_of(int x509_error);
/* "ok", "revoked", "untrusted", "undecided". */
const char *tls_peer_verdict_name(enum tls_peer_verdict v);
/* The peer leaf's serial number in hex ("0A1B..."). 0, or BEACON_EINVAL
 * without a peer certificate, BEACON_ETOOLONG when cap is too small. */
BEACON_MUST_USE int tls_conn_peer_serial(const tls_conn_t *c, char *hex,
                                         size_t cap);

#endif
