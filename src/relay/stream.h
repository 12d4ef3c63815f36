/*
 * stream.h - one stream of a tunnel: the target line, the policy, the
 * pump to its target (stream.c). The tunnel routes its mux callbacks here.
 */
#ifndef BEACON_RELAY_STREAM_H
#define BEACON_RELAY_STREAM_H

#include "relay/relay_int.h"

BEACON_MUST_USE int relay_stream_open(relay_tunnel_t *t, uint32_t id,
                                      void **ud);
void relay_stream_on_data(relay_stream_t *s, const uint8_t *p, size_t n);
void relay_stream_on_fin(relay_stream_t *s);
void relay_stream_on_reset(relay_stream_t *s);
void relay_stream_on_writable(relay_stream_t *s);
void relay_stream_on_closed(relay_stream_t *s);
/* The target line's deadline d passed (the tunnel's on_deadline). */
void relay_stream_on_deadline(conn_deadline_t *d);
/* Frees the streams that finished since the last call (the worker's
 * check handle, outside every stream callback). */
void relay_stream_reap(relay_worker_t *w);
/* Writes what relay_stream_on_data gathered during one mux_recv(). */
void relay_stream_flush_gather(relay_worker_t *w);

#endif
