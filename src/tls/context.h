/*
 * context.h - what context.c shares with the connection files of
 * src/tls; the context's own API is in tls.h.
 */
#ifndef BEACON_TLS_CONTEXT_H
#define BEACON_TLS_CONTEXT_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "tls/tls_int.h"

/* Reason text of the first queued OpenSSL error ("" when none); clears
 * the queue. Returns buf. */
const char *tls_ossl_reason(char *buf, size_t cap);
/* A certificate's notAfter, 0 for none or an unreadable one. */
time_t tls_cert_not_after(X509 *x);
time_t tls_cert_not_before(X509 *x);

#endif
