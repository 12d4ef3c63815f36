/*
 * crl_dates.h - what the CRLs a context loaded say about time
 * (crl_dates.c), for the relay's metrics: an alert must be able to fire
 * before a CRL's nextUpdate passes and every handshake is refused.
 */
#ifndef BEACON_TLS_CRL_DATES_H
#define BEACON_TLS_CRL_DATES_H

#include <stdint.h>

#include "tls/tls.h"

/* The earliest nextUpdate of the CRLs in ctx's store, in seconds since
 * the epoch; 0 when it holds no CRL (or none with a nextUpdate). */
int64_t tls_ctx_crl_next_update(const tls_ctx_t *ctx);

#endif
