/*
 * tls_int.h - what a tls_ctx_t and a tls_conn_t hold, shared by the
 * files of src/tls that build them (context.c, conn_fail.c, tls_conn.c).
 * Types only; nothing outside src/tls includes it.
 */
#ifndef BEACON_TLS_INT_H
#define BEACON_TLS_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "tls/banner.h"
#include "tls/pin.h"
#include "tls/tls.h"

struct tls_ctx {
  SSL_CTX *ssl;
  enum tls_role role;
  atomic_int refs;
  time_t not_after;
  time_t not_before;
  tls_pins_t *pins; /* relay key pins (client), NULL: none */
};

struct tls_conn {
  tls_ctx_t *ctx;
  SSL *ssl;
  BIO *rbio; /* ciphertext from the peer, owned by ssl */
  BIO *wbio; /* ciphertext for the peer, owned by ssl */
  int done;
  int verr;   /* first X509 verify error seen, 0 = none */
  int vdepth; /* its depth in the chain */
  int alert;  /* the fatal alert the peer sent (level << 8 | desc), or 0 */
  /* The peer's first bytes, to name what answered when they are not TLS
   * (tls/banner.h). */
  uint8_t first[TLS_BANNER_BYTES];
  uint8_t nfirst;
  /* The peer certificate's names when it did not name the host dialled
   * (tls/cert_names.h), for the error. */
  char names[96];
  char pin_miss[65]; /* the unpinned key the relay presented */
  char err[256];
};

#endif
