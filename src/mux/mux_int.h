/*
 * mux_int.h - private state of the yamux session core (mux.h): the
 * structs and small inline views of them, no functions of a file. Each
 * file's functions are in its own header, in the folder's order from the
 * bottom: table.h, outq.h, ping.h, stream.h; session.c is on top.
 */
#ifndef BEACON_MUX_INT_H
#define BEACON_MUX_INT_H

#include <stdlib.h>

#include "beacon/beacon.h"
#include "mux/mux.h"

/* Output chunk payload: one 64 KiB Data frame and its header fit, so
 * bulk writes become one frame each and TLS gets big contiguous runs. */
#define MUX_CHUNK_CAP (65536u + 64u)
/* Empty chunks are kept for reuse (no allocation per frame) up to what
 * max_outbuf can fill; mux_tick() frees them all on an idle queue. */
#define MUX_SPARE_CHUNKS(m) ((m)->cfg.max_outbuf / MUX_CHUNK_CAP + 2)
/* A chunk with less room than this for a Data frame is left alone. */
#define MUX_MIN_FRAME 1024u
/* Ping answers and Go Away bypass queued data (Go sends them through a
 * separate path); this many fit, more go to the main queue. */
#define MUX_PRIO_FRAMES 16
/* Replies the peer provokes (ping answers, RST for refused SYNs) are
 * dropped once this much beyond max_outbuf is queued: a peer that does
 * not read cannot make us buffer without bound. */
#define MUX_CTRL_SLACK (256u * 1024u)

/* A round-trip estimate older than this is refreshed by a ping at the
 * next grant (paths change; keep-alive pings refresh it anyway). */
#define MUX_RTT_MAX_AGE_MS 30000u

/* Stream flags. */
enum {
  MUX_S_LOCAL = 0x01,     /* we opened it */
  MUX_S_ACKED = 0x02,     /* the peer acknowledged our SYN */
  MUX_S_NEED_ACK = 0x04,  /* peer-opened, our ACK not queued yet */
  MUX_S_LFIN = 0x08,      /* we sent FIN */
  MUX_S_RFIN = 0x10,      /* the peer sent FIN */
  MUX_S_WANT_WRITE = 0x20 /* a write was short: on_writable owed */
};

/* A new stream's first epoch starts when its first byte arrives: a
 * download's bytes come a round trip after the open, and timing them
 * from the open would hide the pace they come at (the first grant could
 * then only quadruple the window, not jump to the path's bandwidth-delay
 * product). */
#define MUX_EPOCH_AT_FIRST_BYTE UINT64_MAX

typedef struct mux_stream {
  uint32_t id;
  uint32_t send_window; /* bytes we may still send */
  uint32_t recv_window; /* bytes the peer may still send */
  uint32_t held;        /* delivered, not yet consumed */
  uint32_t window;      /* our receive window (auto-tuned) */
  uint32_t queued;      /* unsent Data bytes of ours in the queue */
  uint32_t epoch_bytes; /* consumed since the last grant */
  uint64_t epoch_start; /* when the last grant went out (ms), or
                           MUX_EPOCH_AT_FIRST_BYTE */
  void *ud;
  uint8_t flags;
} mux_stream_t;

typedef struct mux_chunk {
  struct mux_chunk *next;
  uint32_t head; /* first unsent byte */
  uint32_t tail; /* first free byte */
  uint32_t sent; /* frames before this offset were fully sent */
  uint8_t buf[MUX_CHUNK_CAP];
} mux_chunk_t;

/* Receive parser state. */
enum { MUX_RX_HEADER, MUX_RX_PAYLOAD };

struct mux {
  mux_config_t cfg;
  mux_callbacks_t cb;
  mux_allocator_t al;
  void *ud;

  /* id -> stream, open addressing with linear probing (table.c) */
  mux_stream_t **slots;
  uint32_t nslots; /* power of two, 0 before the first stream */
  uint32_t nstreams;
  uint32_t backlog; /* peer-opened streams awaiting our ACK */
  uint32_t next_id;
  uint32_t seed; /* keys the id hash (table.c) */

  /* receive */
  uint8_t hdr[MUX_HEADER_SIZE];
  uint8_t hdr_len;
  uint8_t rx_state;
  uint16_t rx_flags; /* flags of the Data frame being received */
  uint32_t rx_id;
  uint32_t rx_left;
  int rx_deliver;         /* payload goes to on_data (else drained) */
  uint32_t rx_reset_code; /* length of the RST Window Update at hand */
  int in_recv;

  /* send: chunk list, plus the priority frames */
  mux_chunk_t *qhead;
  mux_chunk_t *qtail;
  mux_chunk_t *spare;
  uint32_t nspare;
  size_t qbytes; /* unsent bytes in the chunk list */
  uint8_t prio[MUX_PRIO_FRAMES * MUX_HEADER_SIZE];
  uint32_t prio_head;
  uint32_t prio_tail;
  int out_blocked;           /* a write was cut short by max_outbuf */
  uint32_t stream_queue_max; /* unsent Data bytes one stream may queue */
  uint32_t window_cap;       /* auto-tuning grows no window beyond it */
  int wake_streams;          /* a capped stream's queued bytes went out */
  int pend_prio;             /* mux_pending() last returned the prio frames */

  /* session state */
  int dead;
  int err;
  int go_away_sent;
  int go_away_recv;

  /* receive-window auto-tuning */
  size_t window_extra;  /* sum over streams of window - initial window */
  uint64_t srtt;        /* smoothed ping round trip, ms; 0 = none yet */
  uint64_t rtt_at;      /* when srtt was last updated */
  uint32_t seed_window; /* largest window auto-tuning granted a stream */
  uint64_t rtt_min;     /* smallest ping round trip, ms; 0 = none yet */
  uint32_t rtt_samples; /* ping answers timed */

  /* keep-alive */
  uint64_t now;
  uint64_t next_ping;
  uint64_t ping_sent;
  uint64_t ping_deadline;
  uint32_t ping_opaque;
  uint32_t ping_seq;
  int ping_out;
  int ping_unread; /* the caller stopped reading while it was out */
};

/* allocator */
/* The ledger of mux_config_t, when there is one. */
static inline void mux_ledger_charge(mux_t *m, size_t n)
{
  if(m->cfg.ledger.charge && n)
    m->cfg.ledger.charge(n, m->cfg.ledger.ud);
}

/* How much of n more receive window the ledger lets us promise. */
static inline size_t mux_ledger_room(mux_t *m, size_t n)
{
  return m->cfg.ledger.room ? m->cfg.ledger.room(n, m->cfg.ledger.ud) : n;
}

static inline void mux_ledger_give(mux_t *m, size_t n)
{
  if(m->cfg.ledger.charge && m->cfg.ledger.give && n)
    m->cfg.ledger.give(n, m->cfg.ledger.ud);
}

/* What a live stream is charged: its state. Its window is credit; the
 * bytes sent within it are charged where they are kept. */
static inline size_t mux_stream_cost(const mux_stream_t *s)
{
  (void)s;
  return sizeof(mux_stream_t);
}

/* Every allocation of the session goes through its allocator, when the
 * caller gave one. */
static inline void *mux_alloc(mux_t *m, size_t n)
{
  if(m->al.malloc)
    return m->al.malloc(n, m->al.ud);
  return malloc(n);
}

static inline void mux_dealloc(mux_t *m, void *p)
{
  if(!p)
    return;
  if(m->al.malloc)
    m->al.free(p, m->al.ud);
  else
    free(p);
}

#endif
