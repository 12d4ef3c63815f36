/*
 * identity.h - controller identities for --allow-client: a certificate
 * subject (distinguished name) or the SHA-256 of a public key (SPKI).
 *
 * Matching rule for subjects (docs/OPERATIONS.md "Choosing controllers"):
 *  - attribute types are case-insensitive and may be written by short
 *    name, long name or dotted OID (CN, commonName, 2.5.4.3);
 *  - values are compared exactly (case-sensitive) after unescaping
 *    (RFC 4514 "\," "\+" "\XX"), with unescaped spaces around them dropped;
 *  - the order of the RDNs does not matter, but the set must be equal:
 *    every RDN present, none extra. RFC 4514 writes the most specific RDN
 *    first ("CN=ctl-1,O=fleet") while `openssl x509 -subject` and the
 *    slash form write certificate order ("O = fleet, CN = ctl-1",
 *    "/O=fleet/CN=ctl-1"); a comma-separated line does not say which one
 *    it is, so order cannot be relied on. Names are issued by the Fleet
 *    CA, so two certificates whose subjects differ only in RDN order are
 *    the same controller as far as the CA is concerned.
 *
 * Both sides are reduced to one canonical string (sorted RDNs of sorted
 * attribute=value pairs), compared with strcmp. Sans-I/O.
 */
#ifndef BEACON_TLS_IDENTITY_H
#define BEACON_TLS_IDENTITY_H

#include <stddef.h>

#define TLS_IDENTITY_MAX 1024 /* canonical form, NUL included */

/* Parses an --allow-client value: 64 hex digits are an SPKI SHA-256
 * (canonical "spki:<lowercase hex>"), anything else must be a DN in one of
 * the forms above (canonical "dn:<sorted RDNs>"). 0, or BEACON_EINVAL with
 * the reason in err. */
int tls_identity_parse(const char *text, char *canon, size_t cap, char *err,
                       size_t errlen);

/* The canonical "dn:..." form of a certificate subject (an X509_NAME *;
 * declared opaquely so that this header does not pull in OpenSSL). */
int tls_identity_of_name(const void *x509_name, char *canon, size_t cap);

/* The canonical "spki:..." form of a 64-hex SPKI SHA-256. */
int tls_identity_of_spki(const char *hex, char *canon, size_t cap);

/* SHA-256 of a DER SubjectPublicKeyInfo (an X509_PUBKEY *) as 64
 * lowercase hex digits, the form --allow-client takes. 0 or error. */
int tls_identity_spki_hex(const void *x509_pubkey, char hex[65]);

#endif
