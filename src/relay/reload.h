/*
 * reload.h - the relay's TLS material: loaded at start, swapped on
 * SIGHUP for new tunnels, shared by every worker under ctx_lock
 * (docs/ARCHITECTURE.md "Shutdown and reload keep live streams").
 */
#ifndef BEACON_RELAY_RELOAD_H
#define BEACON_RELAY_RELOAD_H

#include "relay/relay_int.h"

/* A new reference to the current TLS context (reload-safe). */
struct tls_ctx *relay_ctx_get(relay_t *r);
/* SIGHUP: builds the configuration again (cfg.source) and loads the TLS
 * files; applies both at once, or (a broken config or file) nothing. */
void relay_reload(relay_t *r);
/* Checks the relay's certificate (relay_cert_check: the gauge, and the
 * warning once it is close to its expiry) and arms expiry_timer to do
 * it again when due: daily, or when the warning window opens. Control
 * loop, after expiry_timer was initialised. */
void relay_check_expiry(relay_t *r);
/* Arms expiry_timer for relay_check_expiry in ms. */
void relay_expiry_arm(relay_t *r, uint64_t ms);

#endif
