/*
 * stream_upstream.h - a relay stream's controller-to-target direction
 * (stream_upstream.c). Payload that arrives inside one mux_recv() is
 * gathered in the worker's stream_gather_t, pointing into the tunnel's
 * plaintext, and each stream's pieces go to one write op afterwards;
 * bytes that arrive while the target is dialled are copied and held,
 * unconsumed, and written first. The window goes back only once the
 * target took the bytes. The first three are the adapter's; the rest
 * stream_core.c's.
 */
#ifndef BEACON_RELAY_STREAM_UPSTREAM_H
#define BEACON_RELAY_STREAM_UPSTREAM_H

#include "relay/stream_state.h"

/* Hands each stream's gathered pieces to one write op; call after each
 * mux_recv(). */
void stream_gather_flush(stream_gather_t *g, uint64_t now);
/* The target took n of the bytes the write op kept. */
void stream_core_on_target_written(stream_core_t *s, size_t n, uint64_t now);
/* The target's write side is shut, after every byte. */
void stream_core_on_target_shut(stream_core_t *s);

/* Payload after the target line; transient as in stream_core_on_data. */
void stream_upstream_data(stream_core_t *s, const uint8_t *p, size_t n,
                          int transient, uint64_t now);
/* Writes s's gathered pieces now (before a FIN). */
void stream_upstream_gather_write(stream_core_t *s, uint64_t now);
/* Forgets s's gathered pieces (it is going away). */
void stream_upstream_gather_drop(stream_core_t *s);
/* Connected: what was held during the dial goes first, in order. */
void stream_upstream_write_pending(stream_core_t *s, uint64_t now);
/* Shuts the target's write side (once connected and asked). */
void stream_upstream_shut(stream_core_t *s);

#endif
