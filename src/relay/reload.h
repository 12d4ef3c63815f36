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
/* Logs (again) a certificate close to its expiry: called daily. */
void relay_check_expiry(relay_t *r);

#endif
