/*
 * outq.h - the output queue (outq.c): frames in chunks, priority frames,
 * and waking the streams that wait for room in it.
 */
#ifndef BEACON_MUX_OUTQ_H
#define BEACON_MUX_OUTQ_H

#include "mux/mux_int.h"

int mux_q_frame(mux_t *m, uint8_t type, uint16_t flags, uint32_t id,
                uint32_t len);
int mux_q_prio(mux_t *m, uint8_t type, uint16_t flags, uint32_t id,
               uint32_t len);
int mux_q_reply(mux_t *m, uint8_t type, uint16_t flags, uint32_t id,
                uint32_t len);
size_t mux_q_data(mux_t *m, uint16_t flags, mux_stream_t *s,
                  const uint8_t *data, size_t len, int *err);
size_t mux_q_room(const mux_t *m);
void mux_q_free(mux_t *m);
void mux_q_trim(mux_t *m);
/* Output space freed up: on_writable to every stream owed one. */
void mux_wake_writers(mux_t *m);

#endif
