/*
 * mux.h - a sans-I/O hashicorp/yamux session (docs/PROTOCOL.md "Multiplexing:
 * yamux, protocol version 0"), usable as client (opens odd ids) or server
 * (even ids).
 *
 * The caller does all I/O and owns the clock:
 *   - bytes received from the peer go into mux_recv(); events come back
 *     synchronously through the callback table while mux_recv() runs;
 *   - bytes to send are taken with mux_send() (copy out) or with
 *     mux_pending() + mux_advance() (zero copy);
 *   - the caller passes `now` (milliseconds, any monotonic origin) to
 *     mux_tick() and asks mux_next_deadline() when to call it again.
 *
 * Streams are named by id; a call on an id that is not live returns
 * BEACON_ECLOSED, so a stale id can never touch freed memory.
 *
 * Reentrancy: callbacks may call every mux_* function on the same session
 * except mux_recv() and mux_free(). Callbacks run only inside mux_recv(),
 * mux_tick(), mux_advance()/mux_send() (on_writable, when output space
 * frees up) and the stream calls that end a stream (on_stream_closed).
 *
 * Memory: no allocation on the data path. A stream's state is allocated
 * when it opens and freed when it closes. Received payload is delivered as
 * a pointer into the caller's input buffer, in pieces as it arrives (a
 * frame split across mux_recv() calls arrives as several on_data calls).
 * Outgoing payload is copied once into the session's output queue, whose
 * size is bounded by the peer's windows and by max_outbuf.
 */
#ifndef BEACON_MUX_H
#define BEACON_MUX_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define MUX_PROTO_VERSION 0
#define MUX_HEADER_SIZE 12
#define MUX_INITIAL_WINDOW (256u * 1024u)
/* Unsent Data bytes (headers included) one stream may have in the
 * queue by default: two full frames. The queue is first in, first out,
 * so this is what a new stream's first frame waits behind per busy
 * stream: a bulk transfer cannot put a megabyte ahead of a 64-byte
 * request. mux_set_stream_queue_max() changes it per session (a path of
 * microseconds drains more at once, conn/path_marks.h). */
#define MUX_STREAM_QUEUED_MAX (2u * (65536u + 12u))
/* Receive-window auto-tuning defaults (mux_config_t). */
#define MUX_DEFAULT_MAX_WINDOW (32u * 1024u * 1024u)
#define MUX_DEFAULT_WINDOW_BUDGET ((size_t)64 * 1024 * 1024)

enum mux_type {
  MUX_TYPE_DATA = 0,
  MUX_TYPE_WINDOW_UPDATE = 1,
  MUX_TYPE_PING = 2,
  MUX_TYPE_GO_AWAY = 3
};

enum mux_flag {
  MUX_FLAG_SYN = 0x1,
  MUX_FLAG_ACK = 0x2,
  MUX_FLAG_FIN = 0x4,
  MUX_FLAG_RST = 0x8
};

/* on_stream_open result: accept now, acknowledge later. */
#define MUX_ACCEPT_DEFER 1

enum mux_go_away_code {
  MUX_GO_AWAY_NORMAL = 0,
  MUX_GO_AWAY_PROTO_ERR = 1,
  MUX_GO_AWAY_INTERNAL_ERR = 2
};

/* A decoded frame header (frame.c). */
typedef struct mux_header {
  uint8_t version;
  uint8_t type;
  uint16_t flags;
  uint32_t stream_id;
  uint32_t length;
} mux_header_t;

void mux_header_encode(uint8_t out[MUX_HEADER_SIZE], const mux_header_t *h);
void mux_header_decode(mux_header_t *h, const uint8_t in[MUX_HEADER_SIZE]);

/* Replaceable allocator (tests inject failures). NULL fields = libc. */
typedef struct mux_allocator {
  void *(*malloc)(size_t size, void *ud);
  void (*free)(void *ptr, void *ud);
  void *(*realloc)(void *ptr, size_t size, void *ud);
  void *ud;
} mux_allocator_t;

typedef struct mux mux_t;

/* The ledger a session charges for the memory a peer makes it hold (a
 * relay's --memory-limit): each stream's state and the output queue's
 * chunks, as they are allocated. Receive windows are credit, not memory:
 * the bytes a peer sends within them are charged by whoever keeps them
 * (the relay's streams), and the relay bounds them by reading less from
 * the session's transport. So a window is never charged; room(n, ud)
 * says how much of n more window the holder may promise now (0..n,
 * nothing charged), and window growth asks it, so a full ledger grants
 * no more than the base windows. charge counts n bytes held already;
 * give returns them. */
typedef struct mux_ledger {
  void (*charge)(size_t n, void *ud);
  void (*give)(size_t n, void *ud);
  size_t (*room)(size_t n, void *ud); /* NULL: any growth */
  void *ud;
} mux_ledger_t;

/* Why the session reset a stream the peer opened (on_stream_refused). */
enum mux_refusal {
  MUX_REFUSED_NONE = 0,
  MUX_REFUSED_GOING_AWAY = 1,  /* after Go Away, either way */
  MUX_REFUSED_MAX_STREAMS = 2, /* max_streams live streams */
  MUX_REFUSED_BACKLOG = 3,     /* accept_backlog unacknowledged streams */
  MUX_REFUSED_OUTPUT_FULL = 4  /* the peer is not reading our output */
};

/* Static name of a refusal reason ("max_streams"). */
const char *mux_refusal_name(int why);

typedef struct mux_callbacks {
  /* The peer opened stream `id` (SYN). Return 0 to accept: the session
   * answers with ACK at once (the relay acknowledges before it reads the
   * target line, docs/PROTOCOL.md "Opening a stream") and *stream_ud may be
   * set. Return a negative code to refuse: the stream is reset. Streams over
   * max_streams or the accept backlog are reset without calling this. */
  int (*on_stream_open)(mux_t *m, uint32_t id, void **stream_ud, void *ud);
  /* (Returning MUX_ACCEPT_DEFER instead accepts without ACK: the ACK goes
   * out with mux_stream_ack() or the stream's first frame, and until
   * then the stream counts against accept_backlog, like a Go stream not
   * yet taken by Accept().) */
  /* A stream we opened was acknowledged by the peer. */
  void (*on_stream_ack)(mux_t *m, uint32_t id, void *stream_ud, void *ud);
  /* Payload bytes for a stream. The pointer points into the buffer given
   * to mux_recv(), never into session memory: it stays valid until that
   * buffer is reused, so a caller may gather the pieces of one
   * mux_recv() and write them together afterwards. The data counts against the
   * stream's receive window until the caller reports it with
   * mux_stream_consumed(). */
  void (*on_data)(mux_t *m, uint32_t id, void *stream_ud, const uint8_t *data,
                  size_t len, void *ud);
  /* The peer half-closed its direction (FIN): no more on_data (Data
   * the peer still sends is drained, as Go buffers it unread). A second
   * FIN on a live stream is a protocol error (Go's ErrUnexpectedFlag). */
  void (*on_fin)(mux_t *m, uint32_t id, void *stream_ud, void *ud);
  /* The peer reset the stream (RST). on_stream_closed follows. */
  void (*on_reset)(mux_t *m, uint32_t id, void *stream_ud, void *ud);
  /* The stream's send window grew, or output queue space freed up, after
   * a mux_stream_write() that took fewer bytes than offered. */
  void (*on_writable)(mux_t *m, uint32_t id, void *stream_ud, void *ud);
  /* The stream is gone (both FINs, or RST either way, or session end):
   * its id is no longer live. Last callback for this stream. */
  void (*on_stream_closed)(mux_t *m, uint32_t id, void *stream_ud, void *ud);
  /* An answer to our ping arrived; rtt_ms from when it was sent. */
  void (*on_ping_ack)(mux_t *m, uint32_t opaque, uint64_t rtt_ms, void *ud);
  /* The peer sent Go Away with this code: no new streams either way.
   * The session stays usable whatever the code (Go ends its session on
   * codes 1 and 2): the caller decides whether to shut it down. */
  void (*on_go_away)(mux_t *m, uint32_t code, void *ud);
  /* The session is resetting stream `id` that the peer opened, without
   * on_stream_open, for reason `why` (enum mux_refusal). Optional (last
   * member, so positional initialisers may leave it out); it
   * must not end the session. */
  void (*on_stream_refused)(mux_t *m, uint32_t id, int why, void *ud);
} mux_callbacks_t;

typedef struct mux_config {
  int is_client;                 /* 1: opens odd ids; 0: server, even ids */
  uint32_t max_streams;          /* live streams cap; default 4096 */
  uint32_t accept_backlog;       /* peer-opened streams not yet accepted;
                                    default 256 (Go's AcceptBacklog) */
  uint32_t max_window;           /* largest receive window one stream may
                                    reach; minimum and Go's fixed value
                                    256 KiB; default 32 MiB */
  size_t window_budget;          /* receive window beyond 256 KiB that all
                                    streams of the session may hold
                                    together (auto-tuning, see
                                    mux_stream_consumed); default 64 MiB;
                                    0 = fixed windows of max_window */
  size_t max_outbuf;             /* data bytes queued for sending before
                                    writes are refused; default 1 MiB */
  uint64_t keepalive_ms;         /* ping interval; 0 = off. Go: 20000 */
  uint64_t keepalive_timeout_ms; /* answer deadline; Go: 10000 */
  const mux_allocator_t *alloc;  /* NULL = libc */
  mux_ledger_t ledger;           /* copied; charge NULL = none */
} mux_config_t;

/* Fills *cfg with the defaults above (client = 0, keep-alive off). */
void mux_config_default(mux_config_t *cfg);

/* Creates a session. cb is copied. now = the caller's clock. NULL on
 * OOM or invalid config. */
BEACON_MUST_USE mux_t *mux_new(const mux_config_t *cfg,
                               const mux_callbacks_t *cb, void *ud,
                               uint64_t now);
/* Frees the session and every stream without callbacks. NULL allowed. */
void mux_free(mux_t *m);

/*
 * Feeds received bytes. Returns len when all were processed, or a
 * negative code: BEACON_EPROTO for a protocol violation (a Go Away with
 * code 1 has been queued: flush mux_send() output, then close), or
 * BEACON_ENOMEM. After an error the session is dead (mux_is_dead()).
 */
BEACON_MUST_USE int mux_recv(mux_t *m, const uint8_t *in, size_t len);

/* Copies up to cap bytes of pending output into out; returns the count. */
size_t mux_send(mux_t *m, uint8_t *out, size_t cap);
/* Zero copy: *p points at the first contiguous pending bytes; returns
 * their count (0 when nothing is pending). The bytes stay in place while
 * more output is queued, so an asynchronous write may use them until it
 * completes; call mux_advance() for them before the next mux_pending(). */
size_t mux_pending(mux_t *m, const uint8_t **p);
/* Total bytes waiting to be sent. */
size_t mux_pending_total(const mux_t *m);
/* Marks n bytes returned by mux_pending() as sent. */
void mux_advance(mux_t *m, size_t n);

/* Tells the session the time (the caller's clock, ms). Call it before
 * mux_recv() and mux_stream_consumed() when time has passed: window
 * auto-tuning measures how fast each stream's window is consumed
 * against the session's round-trip time. */
void mux_now(mux_t *m, uint64_t now);
/* Sends a ping for a round-trip estimate unless one is out (window
 * auto-tuning needs one; a new session's first streams grow sooner when
 * it is taken at once). No deadline unless keep-alive is on. */
void mux_measure_rtt(mux_t *m);
/* Smoothed round-trip time from ping answers (ms); 0 before the first. */
uint64_t mux_rtt(const mux_t *m);
/* The smallest ping round trip seen (ms, 0 = none yet): the path's own,
 * without the queueing and scheduling delays that only ever add. */
uint64_t mux_rtt_min(const mux_t *m);
/* Ping answers timed so far. */
uint32_t mux_rtt_samples(const mux_t *m);
/* Bytes of receive window granted beyond the initial 256 KiB per stream,
 * over all live streams (at most window_budget). */
size_t mux_window_extra(const mux_t *m);
/* Caps each stream's unsent Data bytes in the queue (headers included;
 * at least one full frame). */
void mux_set_stream_queue_max(mux_t *m, uint32_t bytes);
/* Auto-tuning grows no receive window beyond bytes (between the initial
 * window and max_window; UINT32_MAX = max_window). Windows already
 * larger stay. */
void mux_set_window_cap(mux_t *m, uint32_t bytes);
/* A stream's current receive window (what auto-tuning grew it to). */
int64_t mux_stream_recv_window(const mux_t *m, uint32_t id);

/* Keep-alive and timers. Returns 0, or BEACON_ETIMEDOUT when a ping went
 * unanswered past keepalive_timeout_ms (the session is then dead). */
BEACON_MUST_USE int mux_tick(mux_t *m, uint64_t now);
/* The caller does not read the peer now (it holds what it may: its own
 * backpressure): the answer to a ping that is out may wait unread, so
 * its keep-alive deadline starts again from now, and its round trip is
 * not measured. Call it at every tick while not reading. */
void mux_not_reading(mux_t *m, uint64_t now);
/* The time mux_tick() next has work, or UINT64_MAX for none. */
uint64_t mux_next_deadline(const mux_t *m);

/* Sends a ping with SYN now; *opaque receives its value. */
BEACON_MUST_USE int mux_ping(mux_t *m, uint64_t now, uint32_t *opaque);
/* Queues Go Away(code): no more streams are opened or accepted. */
BEACON_MUST_USE int mux_go_away(mux_t *m, uint32_t code);

/* Opens a stream (Window Update with SYN, delta 0, as Go does). Returns
 * the new id (> 0) or BEACON_EGOAWAY / BEACON_ELIMIT / BEACON_ENOMEM. */
BEACON_MUST_USE int64_t mux_open(mux_t *m, void *stream_ud);

/* Acknowledges a stream accepted with MUX_ACCEPT_DEFER (Window Update
 * with ACK, delta 0). 0 when already acknowledged. */
BEACON_MUST_USE int mux_stream_ack(mux_t *m, uint32_t id);

/* Queues up to len bytes as Data frames, as many as the peer's window
 * and the output queue allow. Returns bytes taken (0 when the window is
 * shut: on_writable follows when it opens), or BEACON_ECLOSED /
 * BEACON_ERESET. */
BEACON_MUST_USE int64_t mux_stream_write(mux_t *m, uint32_t id,
                                         const uint8_t *data, size_t len);
/* The application consumed n received bytes: the window is granted back
 * (a Window Update once half the window is consumed, as Go does).
 * Auto-tuning: when that half was consumed in less than about two round
 * trips, the window, not the application, limits the stream, so the
 * grant also doubles the window, up to max_window and within the
 * session's window_budget. A slow consumer never grows its window: its
 * bytes are reported late, so its epochs are long. Without a round-trip
 * estimate yet, the first such grant sends a ping to get one. */
BEACON_MUST_USE int mux_stream_consumed(mux_t *m, uint32_t id, size_t n);
/* Half-close: queues FIN after everything written before it. */
BEACON_MUST_USE int mux_stream_close(mux_t *m, uint32_t id);
/* Abort both ways: queues RST and frees the stream (on_stream_closed is
 * called before this returns). */
BEACON_MUST_USE int mux_stream_reset(mux_t *m, uint32_t id);
/* The same, with `code` in the RST frame's length field (a Window Update
 * delta, which hashicorp/yamux ignores on a reset stream): the reason a
 * relay refused a stream, for peers that negotiated it (docs/PROTOCOL.md
 * "Connect results (ALPN beacon/1)"). */
BEACON_MUST_USE int mux_stream_reset_code(mux_t *m, uint32_t id,
                                          uint32_t code);
/* Inside on_reset: the code the peer's RST carried (0 when none). */
uint32_t mux_reset_code(const mux_t *m);
/* Replace the stream's user pointer. */
BEACON_MUST_USE int mux_stream_set_user(mux_t *m, uint32_t id,
                                        void *stream_ud);
/* Asks for on_writable once mux_stream_write() would take something, as
 * a short write does: for a caller that saw mux_stream_write_room()
 * at 0 and wrote nothing. 0 or BEACON_ECLOSED. */
BEACON_MUST_USE int mux_stream_want_write(mux_t *m, uint32_t id);
/* Bytes the peer's window still allows on this stream, or an error. */
int64_t mux_stream_send_window(const mux_t *m, uint32_t id);
/* Payload bytes mux_stream_write() would take now: the peer's window,
 * the stream's share of the output queue and the queue's room, the
 * least of them (frame headers aside). 0 when the stream must wait for
 * on_writable; an error for a stream that is not live. */
int64_t mux_stream_write_room(const mux_t *m, uint32_t id);

/* Live streams. */
uint32_t mux_stream_count(const mux_t *m);
/* 1 after a protocol error, a keep-alive timeout or mux_shutdown(). */
int mux_is_dead(const mux_t *m);
/* 1 once Go Away was sent or received. */
int mux_is_going_away(const mux_t *m);
/* Marks the session dead and calls on_stream_closed for every live
 * stream (the transport is gone). */
void mux_shutdown(mux_t *m);

/* Bytes of state one open stream costs (for the bench and docs). */
size_t mux_stream_state_size(void);

#endif
