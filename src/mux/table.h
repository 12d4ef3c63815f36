/*
 * table.h - stream id -> stream (table.c).
 */
#ifndef BEACON_MUX_TABLE_H
#define BEACON_MUX_TABLE_H

#include "mux/mux_int.h"

mux_stream_t *mux_table_get(const mux_t *m, uint32_t id);
/* 0, BEACON_ENOMEM or BEACON_ELIMIT when the table could not grow. */
int mux_table_put(mux_t *m, mux_stream_t *s);
void mux_table_del(mux_t *m, uint32_t id);
void mux_table_free(mux_t *m);

#endif
