/*
 * mux_stream.h - a stream's life inside the session (mux_stream.c); the stream
 * calls of the public API are in mux.h.
 */
#ifndef BEACON_MUX_MUX_STREAM_H
#define BEACON_MUX_MUX_STREAM_H

#include "mux/mux_int.h"

mux_stream_t *mux_stream_new(mux_t *m, uint32_t id, uint8_t flags, void *ud);
void mux_stream_drop(mux_t *m, mux_stream_t *s, int call);

#endif
