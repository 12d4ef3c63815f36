/*
 * cert_names.h - the names a certificate is valid for, as an operator
 * reads them ("localhost, 127.0.0.1, ::1"): a "does not name the host
 * dialled" refusal lists them, so the fix (dial one of them, or reissue
 * the certificate) is in the message.
 */
#ifndef BEACON_TLS_CERT_NAMES_H
#define BEACON_TLS_CERT_NAMES_H

#include <stddef.h>

/* Writes the DNS and IP subject alternative names of cert (an X509 *,
 * declared opaquely so this header does not pull in OpenSSL), separated
 * by ", ", into out; "no DNS or IP names" when it has none. A list
 * longer than cap ends in "...". Returns out. */
char *tls_cert_names(const void *cert, char *out, size_t cap);

#endif
