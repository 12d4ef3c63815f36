/*
 * stream_core.h - one relay stream's protocol as a sans-I/O core: the
 * target line (docs/PROTOCOL.md "The target line"), the per-tunnel dial
 * cap and the memory quota, the dial request, the bytes held while the
 * target is dialled or written, the pump both ways with half-close and
 * backpressure (docs/PROTOCOL.md "Relaying"), the beacon/1 ACK and
 * refusal codes (docs/PROTOCOL.md "Connect results (ALPN beacon/1)") and
 * the outcome. No sockets, no timers, no libuv: relay_stream.c is its
 * adapter, and the relay fuzzer and tests/unit/test_stream_core.c drive
 * it directly.
 *
 * Events in: the stream's mux events (data, FIN, RST, writable, closed),
 * the dial's result, the target's reads, EOF, errors, completed writes
 * and write shutdown, and the caller's clock (stream_core_tick). Actions
 * out, through stream_core_ops_t: dial this target, write these bytes to
 * it, shut its write side, read it or not, and finished. The core drives
 * the mux stream itself (mux/mux.h is sans-I/O too): the ACK, the RST with
 * its reason, the window given back, FIN. The adapter logs the outcome
 * from the core's fields once it frees the stream.
 *
 * An op is never called back into the core before it returns; the core
 * never frees itself (stream_core_free, after finished).
 *
 * Controller to target: payload that arrives inside one mux_recv() is
 * gathered, pointing into the tunnel's plaintext, in the worker's
 * stream_gather_t; stream_gather_flush() then hands each stream's pieces
 * to one write op (one writev). The window is given back only once the
 * target took the bytes (stream_core_on_target_written), so a window
 * bounds what a stream holds. Bytes that arrive while the target is being
 * dialled are copied and held (unconsumed) and written first.
 *
 * Target to controller: reads go to the mux through the stream pump
 * (conn/pump.h); what the mux does not take is stashed and reading stops
 * until on_writable.
 */
#ifndef BEACON_RELAY_STREAM_CORE_H
#define BEACON_RELAY_STREAM_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "relay/stream_end.h"
#include "relay/stream_state.h"
#include "relay/stream_upstream.h"

/* A new stream id of tun's mux, opened at now. Returns 0 (accept now) or
 * MUX_ACCEPT_DEFER (beacon/1: the ACK follows the connect), or
 * BEACON_ENOMEM / BEACON_ELIMIT (refuse it in the mux). */
BEACON_MUST_USE int stream_core_init(stream_core_t *s,
                                     stream_core_tunnel_t *tun, uint32_t id,
                                     const stream_core_ops_t *ops, void *ud,
                                     uint64_t now);
/* Frees what the core holds and gives back its quota; once finished. */
void stream_core_free(stream_core_t *s);

/* ---- mux events ---- */
/* Payload. transient: p is valid only until stream_gather_flush (inside
 * mux_recv, the tunnel's plaintext). */
void stream_core_on_data(stream_core_t *s, const uint8_t *p, size_t n,
                         int transient, uint64_t now);
void stream_core_on_fin(stream_core_t *s, uint64_t now);
void stream_core_on_reset(stream_core_t *s);
void stream_core_on_writable(stream_core_t *s);
/* The mux forgot the stream; tunnel_closing: the whole tunnel ends. */
void stream_core_on_closed(stream_core_t *s, int tunnel_closing);

/* ---- the adapter's events ---- */
/* status 0: connected to resolved (text); else a BEACON_E* code, the
 * OS error (libuv code) and the dial's reason, which outcome_classify()
 * turns into the stream's outcome and its beacon/1 refusal code. */
void stream_core_on_dialled(stream_core_t *s, int status, int os_err,
                            const char *resolved, const char *why,
                            uint64_t now);
void stream_core_on_target_read(stream_core_t *s, const uint8_t *p, size_t n);
void stream_core_on_target_eof(stream_core_t *s);
/* A target read, write or shutdown failed: reset with why. */
void stream_core_on_target_error(stream_core_t *s, const char *why);
/* (The target's completed writes and shutdown: stream_upstream.h.) */
/* The clock: the target line's deadline. */
void stream_core_tick(stream_core_t *s, uint64_t now);

/* What a target read should ask for, at most cap: what the mux takes
 * now. 0 when it takes nothing: the adapter reads nothing and calls
 * stream_core_on_target_full(). */
size_t stream_core_read_size(const stream_core_t *s, size_t cap);
/* The mux has no room: reading stops until it has (on_writable). */
void stream_core_on_target_full(stream_core_t *s);
/* The outcome a stream ended with (s->outcome) is common/outcome.h's:
 * outcome_word() gives the word of stream_done. */

#endif
