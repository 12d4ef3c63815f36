/*
 * settings.h - what a reload may change, as one immutable snapshot
 * (docs/OPERATIONS.md "Reloading"): the policy, --allow-client, the
 * timeouts and the limits a worker reads. The control loop builds a new
 * snapshot and swaps it in under r->ctx_lock, as reload.c does the TLS
 * context; a worker takes a reference, reads, and drops it. A stream
 * keeps the snapshot its dial started with, so the verdict it got
 * stays; the next stream sees the new one.
 */
#ifndef BEACON_RELAY_SETTINGS_H
#define BEACON_RELAY_SETTINGS_H

#include "relay/relay_int.h"

/* A snapshot of r->cfg's reloadable part. cfg's pointers (policy,
 * allow_clients) live as long as the snapshot: owner holds them and
 * cfg.source->release(owner) frees them with the last reference. */
struct relay_settings {
  atomic_int refs;
  relay_config_t cfg;
  const policy_t *policy; /* cfg.policy, or the relay's default */
  void *owner;            /* NULL: borrowed for the relay's life */
};

/* A snapshot of cfg (one reference, the caller's); NULL when out of
 * memory. policy is the effective policy; owner as above. */
relay_settings_t *relay_settings_new(const relay_config_t *cfg,
                                     const policy_t *policy, void *owner);
/* A new reference to the current snapshot (thread-safe). */
relay_settings_t *relay_settings_get(relay_t *r);
/* Drops a reference; the last one frees the snapshot and its owner. */
void relay_settings_put(relay_settings_t *s);
/* Publishes s (takes the caller's reference) and returns the old
 * snapshot, whose reference the caller drops (relay_settings_put) once
 * it let go of ctx_lock, which it holds here: the TLS context can change
 * in the same hold. The old snapshot lives on in the streams and calls
 * that still hold it. Control loop only. */
relay_settings_t *relay_settings_exchange_locked(relay_t *r,
                                                 relay_settings_t *s);

#endif
