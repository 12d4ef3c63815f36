/*
 * tls_native.h - the OpenSSL objects behind a tls_ctx_t and a
 * tls_conn_t, for the other files of src/tls that check certificates
 * with OpenSSL (peer_cert.c, crl_dates.c). Nothing outside src/tls
 * includes it: tls.h keeps OpenSSL out of the rest of the tree.
 */
#ifndef BEACON_TLS_NATIVE_H
#define BEACON_TLS_NATIVE_H

#include <openssl/ssl.h>

/* tls.h's types (not included here: tls_conn.c includes this file). */
struct tls_ctx;
struct tls_conn;

SSL_CTX *tls_ctx_native(const struct tls_ctx *ctx);
SSL *tls_conn_native(const struct tls_conn *c);

#endif
