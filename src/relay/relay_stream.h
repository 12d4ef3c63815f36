/*
 * relay_stream.h - the libuv adapter of one relay stream
 * (relay_stream.c): its target socket and timers around its core
 * (stream_core.h). The tunnel's mux and connection callback tables name
 * these functions directly.
 */
#ifndef BEACON_RELAY_RELAY_STREAM_H
#define BEACON_RELAY_RELAY_STREAM_H

#include "relay/relay_int.h"

/* A new stream of t (its mux's on_stream_open, once t admits it). */
BEACON_MUST_USE int relay_stream_open(relay_tunnel_t *t, uint32_t id,
                                      void **ud);
/* mux_callbacks_t's stream events; sud is the stream, tud its tunnel. */
void relay_stream_on_data(mux_t *m, uint32_t id, void *sud, const uint8_t *p,
                          size_t n, void *tud);
void relay_stream_on_fin(mux_t *m, uint32_t id, void *sud, void *tud);
void relay_stream_on_reset(mux_t *m, uint32_t id, void *sud, void *tud);
void relay_stream_on_writable(mux_t *m, uint32_t id, void *sud, void *tud);
void relay_stream_on_closed(mux_t *m, uint32_t id, void *sud, void *tud);
/* conn_callbacks_t's on_recv_done: writes what the streams gathered
 * during one mux_recv(). */
void relay_stream_recv_done(conn_t *c, void *tud);
/* conn_callbacks_t's on_deadline: a stream's target line is late. */
void relay_stream_on_deadline(conn_t *c, conn_deadline_t *d, uint64_t now,
                              void *tud);
/* Frees the streams that finished since the last call (the worker's
 * check handle, outside every stream callback). */
void relay_stream_reap(relay_worker_t *w);

#endif
