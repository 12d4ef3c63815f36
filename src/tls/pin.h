/*
 * pin.h - relay key pins (docs/SECURITY.md "Revoking and pinning
 * relays"): the SHA-256 of a relay certificate's SubjectPublicKeyInfo,
 * as `beacon pki fingerprint` prints it. A client context with pins accepts a
 * relay only if its leaf passes the Fleet CA checks and its key is one of the
 * pins (context.c asks tls_pins_verify() from its verify callback).
 */
#ifndef BEACON_TLS_PIN_H
#define BEACON_TLS_PIN_H

/* Pins one controller may hold: a key rollover needs two or three. */
#define TLS_PINS_MAX 16

typedef struct tls_pins {
  int n;
  char hex[TLS_PINS_MAX][65]; /* 64 lowercase hex digits each */
} tls_pins_t;

/* Reads a pin: 64 hex digits, either case, optionally as colon-separated
 * pairs ("ab:cd:..."). Writes the canonical lowercase form. Returns 0 or
 * BEACON_EINVAL. */
int tls_pin_parse(const char *text, char hex[65]);

/* Adds a pin (a pin already held is not added twice). Returns 0,
 * BEACON_EINVAL (not a pin) or BEACON_ELIMIT (TLS_PINS_MAX held). */
int tls_pins_add(tls_pins_t *p, const char *text);

/* 1 when the key x509_pubkey (an X509_PUBKEY) is one of the pins or
 * there are none; 0 otherwise, with its digest in presented; a negative
 * BEACON_E* when it cannot be hashed. */
int tls_pins_verify(const tls_pins_t *p, const void *x509_pubkey,
                    char presented[65]);

#endif
