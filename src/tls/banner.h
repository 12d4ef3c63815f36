/*
 * banner.h - what answered when a TLS handshake met bytes that are not
 * TLS: the first bytes of an HTTP response, an SSH banner or a Redis
 * reply are told apart, so "wrong version number" becomes "this address
 * is an HTTP server, not a beacon relay".
 */
#ifndef BEACON_TLS_BANNER_H
#define BEACON_TLS_BANNER_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the peer's first flight that tls_banner_guess() looks at. */
#define TLS_BANNER_BYTES 8

/* NULL when p[0..n) may be the start of a TLS record (or n is 0);
 * otherwise what sent them: "an HTTP server", "an SSH server", "a Redis
 * server" or "a peer that does not speak TLS". */
const char *tls_banner_guess(const uint8_t *p, size_t n);

#endif
