/*
 * pump.h - the stream pump as a sans-I/O core: the bytes between one mux
 * stream and one local byte stream (the relay's target socket, the
 * controller's caller socket or pipes), shared by relay/stream_core.c and
 * client/dialled_stream.c. The adapter does the local I/O and reports it; the
 * pump drives the mux stream (itself sans-I/O) and says what to do next.
 *
 * Local to mux: pump_from_local() offers what the adapter read. What the
 * stream's window or the session's queue does not take is kept (the
 * stash), and pump_want_read() says stop until on_writable, where
 * pump_on_writable() offers it again: the mux, not this buffer, bounds
 * what a stream holds. The local end's EOF (pump_local_eof) becomes FIN
 * once the stash is empty, so FIN follows every byte.
 *
 * Mux to local: the adapter writes on_data bytes to its local end and
 * reports the written ones with pump_to_local_done(); only then is their
 * window given back (mux_stream_consumed), so at most a window per
 * stream waits in local writes.
 *
 * A call returning a negative BEACON_E* code means the mux refused (the
 * stream is gone, or no memory for its frame): the adapter resets the
 * stream. The mux is passed to each call (NULL once the stream left it,
 * which fails with BEACON_ECLOSED), since the adapter may lose it first.
 */
#ifndef BEACON_CONN_PUMP_H
#define BEACON_CONN_PUMP_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "mux/mux.h"

typedef struct pump {
  uint32_t id;
  uint8_t *stash; /* local bytes the mux did not take yet */
  size_t stash_off, stash_len;
  int local_eof; /* the local end's input ended */
  int fin_sent;  /* FIN queued on the stream */
} pump_t;

/* A pump for stream id of a mux, nothing stashed. */
void pump_init(pump_t *p, uint32_t id);
/* Frees the stash. */
void pump_free(pump_t *p);

/* Offers n local bytes to the stream; the mux's part is queued, the
 * rest stashed. Returns the bytes the mux took now, or a negative code
 * (nothing stashed then). The stash must be empty (pump_want_read). */
BEACON_MUST_USE int64_t pump_from_local(pump_t *p, mux_t *m, const uint8_t *d,
                                        size_t n);
/* on_writable: offers the stash again, then sends FIN when the local
 * input ended and the stash is empty. Returns the stash bytes the mux
 * took now, or a negative code. */
BEACON_MUST_USE int64_t pump_on_writable(pump_t *p, mux_t *m);
/* The local input ended: FIN now, or once the stash is taken. 0 or a
 * negative code. */
BEACON_MUST_USE int pump_local_eof(pump_t *p, mux_t *m);
/* 1 while the adapter should read its local end: input not ended and
 * nothing stashed. */
int pump_want_read(const pump_t *p);
/* Bytes stashed. */
size_t pump_stashed(const pump_t *p);

/* n bytes of the stream's data reached the local end (or were dropped
 * on purpose): their window goes back to the peer. 0 or a negative
 * code (the stream would stall for good: reset it). */
BEACON_MUST_USE int pump_to_local_done(pump_t *p, mux_t *m, size_t n);

#endif
