/*
 * fixture_pki.h - what the unit tests that need certificates share
 * (fixture_pki.c): a temporary directory removed afterwards, paths in
 * it, a development PKI made with pki_init()/pki_issue(), and TLS
 * contexts loaded from it. Include after <cmocka.h>.
 */
#ifndef BEACON_TESTS_FIXTURE_PKI_H
#define BEACON_TESTS_FIXTURE_PKI_H

#include <openssl/types.h>

#include "cli_support/pki.h"
#include "tls/tls.h"

/* Makes a new directory $TMPDIR/beacon-TAG-XXXXXX (TMPDIR or /tmp).
 * 0, or -1 with the reason on stderr. */
int fixture_dir_make(const char *tag);
/* Removes that directory and everything in it. 0 or -1. */
int fixture_dir_remove(void);
/* "DIR/rel" in that directory; valid for the next 7 calls. */
const char *fixture_path(const char *rel);

/* pki_init() into DIR/rel (the Fleet CA, relay.* and controller.*).
 * 0, or -1 with the reason on stderr (for a group setup). */
int fixture_pki_init(const char *rel);
/* pki_issue() into DIR/rel; the test fails with the reason otherwise. */
void fixture_issue(const char *rel, pki_issue_opts_t o);

/* The first certificate, and the private key, of a PEM file; the test
 * fails when there is none. The caller frees it. */
X509 *fixture_read_cert(const char *file);
EVP_PKEY *fixture_read_key(const char *file);

/* A relay (server) context from DIR/pki, with an optional CRL file. */
tls_ctx_t *fixture_server_ctx(const char *crl);
/* A controller (client) context with DIR/NAME.{crt,key} and ca (NULL:
 * DIR/pki/fleet-ca.crt) as its anchor. */
tls_ctx_t *fixture_client_ctx(const char *name, const char *ca);

/* Moves all pending ciphertext from a to b (the test fails when b
 * refuses it or a keeps some back); returns the byte count. */
size_t fixture_tls_move(tls_conn_t *a, tls_conn_t *b);

#endif
