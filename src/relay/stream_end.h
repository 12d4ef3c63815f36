/*
 * stream_end.h - how a relay stream's core ends, and what it holds
 * (stream_end.c): the outcome, the RST with its beacon/1 reason code,
 * finishing once both sides are done, and the bytes charged to the
 * quota. Shared by stream_core.c and stream_upstream.c; adapters use
 * stream_core.h.
 */
#ifndef BEACON_RELAY_STREAM_END_H
#define BEACON_RELAY_STREAM_END_H

#include <stdatomic.h>

#include "relay/stream_state.h"

/* Adds 1 to a relay counter, when the tunnel has counters. */
#define STREAM_COUNT(s, field)                                                \
  do {                                                                        \
    if((s)->tun->metrics)                                                     \
      atomic_fetch_add(&(s)->tun->metrics->field, 1);                         \
  } while(0)

/* The first outcome decided stands; reason is copied. */
void stream_core_set_outcome(stream_core_t *s, outcome_t o,
                             const char *reason);
/* Ends the stream with RST (before the beacon/1 ACK: with the
 * outcome's reason code)
 * and this outcome. */
void stream_core_abort(stream_core_t *s, outcome_t o, const char *reason);
/* The same with the RST carrying code whether or not the stream was
 * acknowledged (the tunnel itself is refused: revoked). */
void stream_core_abort_code(stream_core_t *s, outcome_t o, const char *reason,
                            uint32_t code);
/* Finishes the stream once the mux forgot it and the target side is
 * done (or aborted): the finished op. */
void stream_core_maybe_finish(stream_core_t *s);
/* A relay budget says no: refused relay_limit, outcome resource. */
void stream_core_refuse_resource(stream_core_t *s, const char *why);
/* The stream's dial no longer counts against the tunnel's cap. */
void stream_core_stop_dialling(stream_core_t *s);
/* Tells the adapter a mux call failed (stream_mux_failed). */
void stream_core_mux_failed(stream_core_t *s, const char *call, int64_t rc);

/* Charges n more held bytes: 0, or -1 when over the limit (still
 * charged: the caller refuses the stream or keeps the bytes). upstream:
 * controller-to-target bytes, counted in the tunnel's held_up too. */
int stream_quota_hold(stream_core_t *s, size_t n, int upstream);
void stream_quota_release(stream_core_t *s, size_t n, int upstream);
/* Gives back everything s has charged (it is freed). */
void stream_quota_release_all(stream_core_t *s);
/* 1 when a new stream may be admitted. */
int stream_quota_admit(stream_core_t *s);
/* The downstream stash was before bytes: charge or release the change
 * (an accepted stream keeps its stash either way; it stops reading). */
void stream_quota_stash(stream_core_t *s, size_t before);

#endif
