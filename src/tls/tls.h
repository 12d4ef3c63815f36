/*
 * tls.h - TLS 1.3 mutual authentication for tunnels (docs/PROTOCOL.md
 * "Transport: TLS 1.3 with mutual authentication"), as a sans-I/O layer over
 * byte-queue BIOs: ciphertext in, plaintext out and back; no sockets. This
 * header does not include OpenSSL.
 *
 * Trust: the CA file (fleet-ca.crt, an intermediate) is the only anchor;
 * verification succeeds with it alone (X509_V_FLAG_PARTIAL_CHAIN). A
 * server requires a client certificate usable for clientAuth; a client
 * checks the server certificate's SAN against the host it dialled (DNS
 * name or IP literal) and sends SNI only for DNS names, as Go does.
 */
#ifndef BEACON_TLS_H
#define BEACON_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

typedef struct tls_ctx tls_ctx_t;
typedef struct tls_conn tls_conn_t;

enum tls_role { TLS_CLIENT = 0, TLS_SERVER = 1 };

/*
 * Loads cert (leaf + chain, PEM), key and CA; crl may be NULL (a present
 * CRL file turns on revocation checks of the peer's leaf). Checks that the
 * key matches the certificate. On failure returns BEACON_ECONFIG (or
 * BEACON_ENOMEM) and writes a message naming the file at fault into err.
 * The context is reference counted: connections hold a reference, so a
 * reload can replace it while live connections keep the old one.
 */
BEACON_MUST_USE int tls_ctx_new(tls_ctx_t **out, enum tls_role role,
                                const char *cert, const char *key,
                                const char *ca, const char *crl, char *err,
                                size_t errlen);
void tls_ctx_ref(tls_ctx_t *ctx);
void tls_ctx_unref(tls_ctx_t *ctx); /* NULL allowed */
/* The ALPN name of beacon's extensions to the wire protocol
 * (docs/PROTOCOL.md "Connect results (ALPN beacon/1)"). */
#define TLS_ALPN_BEACON "beacon/1"
/* Offers (client) or accepts (server) TLS_ALPN_BEACON on connections
 * made from ctx from now on. Peers that do not know it, such as the Go
 * implementation, negotiate no protocol and see no difference. Returns 0
 * or BEACON_ENOMEM. */
BEACON_MUST_USE int tls_ctx_offer_beacon_alpn(tls_ctx_t *ctx);
/* 1 when the handshake negotiated TLS_ALPN_BEACON. */
int tls_conn_beacon_alpn(const tls_conn_t *c);
/* Accepts from now on only relays whose leaf key is one of pins
 * (tls/pin.h), copied; no pins (NULL or empty) keeps the Fleet CA checks
 * alone. Before the context's first connection. Returns 0 or
 * BEACON_ENOMEM. */
struct tls_pins;
BEACON_MUST_USE int tls_ctx_set_pins(tls_ctx_t *ctx,
                                     const struct tls_pins *pins);

/* notBefore of our own leaf certificate (0 when unknown). */
time_t tls_ctx_cert_not_before(const tls_ctx_t *ctx);
/* notAfter of our own leaf certificate. */
time_t tls_ctx_cert_not_after(const tls_ctx_t *ctx);

/* A new connection. expected_host: for clients, the host the peer's
 * certificate must name (DNS or IP literal; required); NULL for servers.
 * NULL on OOM. */
tls_conn_t *tls_conn_new(tls_ctx_t *ctx, const char *expected_host);
void tls_conn_free(tls_conn_t *c); /* NULL allowed */

/* Ciphertext received from the transport. Returns 0 or BEACON_ENOMEM. */
BEACON_MUST_USE int tls_conn_feed(tls_conn_t *c, const uint8_t *in,
                                  size_t len);

/* Drives the handshake: 0 when complete, BEACON_EAGAIN when it needs more
 * input (send the pending output first), BEACON_EVERIFY when the peer's
 * certificate was refused, BEACON_ETLS for any other failure. On error
 * the pending output holds the alert to send; tls_conn_error() says why. */
BEACON_MUST_USE int tls_conn_handshake(tls_conn_t *c);
int tls_conn_handshake_done(const tls_conn_t *c);

/* Plaintext out: >0 bytes, BEACON_EAGAIN when no complete record is
 * buffered, 0 when the peer sent close_notify, BEACON_ETLS on error. */
BEACON_MUST_USE int tls_conn_read(tls_conn_t *c, uint8_t *buf, size_t cap);
/* As many records as fit in cap (so one parse sees several): *got bytes
 * were read; returns what the last tls_conn_read() did, > 0 when buf is
 * full and more may be buffered. */
BEACON_MUST_USE int tls_conn_read_batch(tls_conn_t *c, uint8_t *buf,
                                        size_t cap, size_t *got);
/* Plaintext in: encrypts all len bytes into the pending output. Returns
 * len or BEACON_ETLS / BEACON_ENOMEM. */
BEACON_MUST_USE int tls_conn_write(tls_conn_t *c, const uint8_t *data,
                                   size_t len);

/* Ciphertext waiting to be sent. */
size_t tls_conn_out_pending(const tls_conn_t *c);
/* All of it as one span, for writing without a copy; *p stays valid until
 * the next call that writes into c (tls_conn_write, _handshake, _read,
 * _shutdown) or consumes. */
size_t tls_conn_out_peek(const tls_conn_t *c, const uint8_t **p);
/* Drops the first n (<= pending) bytes: the transport took them. */
void tls_conn_out_consume(tls_conn_t *c, size_t n);
/* Copies up to cap bytes of it out and consumes them; returns the count. */
size_t tls_conn_take_output(tls_conn_t *c, uint8_t *out, size_t cap);

/* Gives back the buffer memory of an idle connection: the ciphertext
 * queues keep the largest size they ever held, so a tunnel that once
 * moved bulk data would hold hundreds of KiB for the rest of its life.
 * Only empty queues are released (a later write allocates afresh);
 * nothing pending is touched. Returns the bytes of capacity released.
 * Call it after the handshake (certificate chains went through the
 * queues) and now and then (on a keep-alive tick), not per record. */
size_t tls_conn_trim(tls_conn_t *c);

/* Certificates the peer sent besides its leaf that c still holds: a
 * server drops them once the handshake is done (tls_conn.c,
 * drop_peer_chain), so this is 0 for an established server session. */
int tls_conn_peer_chain_held(const tls_conn_t *c);

/* Queues close_notify. */
BEACON_MUST_USE int tls_conn_shutdown(tls_conn_t *c);

/* Why the last call failed ("certificate verify failed: ..."). */
const char *tls_conn_error(const tls_conn_t *c);
/* Peer leaf subject as one line ("CN=ctl-1,O=fleet"). 0 or error. */
BEACON_MUST_USE int tls_conn_peer_subject(const tls_conn_t *c, char *buf,
                                          size_t cap);
/* notAfter of the peer's leaf certificate (0 when unknown). */
time_t tls_conn_peer_not_after(const tls_conn_t *c);
/* The peer certificate's notBefore (Unix time), 0 without one. */
time_t tls_conn_peer_not_before(const tls_conn_t *c);
/* Peer SPKI SHA-256 as 64 lowercase hex digits + NUL. */
BEACON_MUST_USE int tls_conn_peer_spki_sha256(const tls_conn_t *c,
                                              char hex[65]);
/* Peer leaf subject in the canonical form of tls/identity.h ("dn:..."),
 * to compare with tls_identity_parse() output. 0 or error. */
BEACON_MUST_USE int tls_conn_peer_identity(const tls_conn_t *c, char *canon,
                                           size_t cap);
/* "TLSv1.3 TLS_AES_128_GCM_SHA256" after the handshake. */
const char *tls_conn_version(const tls_conn_t *c);
const char *tls_conn_cipher(const tls_conn_t *c);

#endif
