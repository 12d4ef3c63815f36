/*
 * mux_stream.c - stream lifecycle, send side and receive-window grants
 * (docs/PROTOCOL.md "Multiplexing: yamux, protocol version 0"; hashicorp/yamux
 * stream.go where docs/PROTOCOL.md is silent).
 */
#include "mux/mux_stream.h"

#include <string.h>

#include "mux/outq.h"
#include "mux/ping.h"
#include "mux/table.h"

size_t mux_stream_state_size(void)
{
  return sizeof(mux_stream_t);
}

uint32_t mux_stream_count(const mux_t *m)
{
  return m->nstreams;
}

mux_stream_t *mux_stream_new(mux_t *m, uint32_t id, uint8_t flags, void *ud)
{
  mux_stream_t *s = mux_alloc(m, sizeof(*s));
  if(!s)
    return NULL;
  memset(s, 0, sizeof(*s));
  s->id = id;
  s->flags = flags;
  s->send_window = MUX_INITIAL_WINDOW;
  s->recv_window = MUX_INITIAL_WINDOW;
  /* Tuned windows start at the protocol's 256 KiB; fixed ones are
   * max_window from the first grant on, as Go's. */
  s->window = m->cfg.window_budget ? MUX_INITIAL_WINDOW : m->cfg.max_window;
  s->epoch_start = MUX_EPOCH_AT_FIRST_BYTE;
  s->ud = ud;
  if(mux_table_put(m, s)) {
    mux_dealloc(m, s);
    return NULL;
  }
  if(flags & MUX_S_NEED_ACK)
    m->backlog++;
  mux_ledger_charge(m, mux_stream_cost(s));
  return s;
}

void mux_stream_drop(mux_t *m, mux_stream_t *s, int call)
{
  uint32_t id = s->id;
  void *ud = s->ud;
  if(s->flags & MUX_S_NEED_ACK)
    m->backlog--;
  if(m->cfg.window_budget)
    m->window_extra -= s->window - MUX_INITIAL_WINDOW;
  mux_ledger_give(m, mux_stream_cost(s));
  mux_table_del(m, id);
  mux_dealloc(m, s);
  if(call && m->cb.on_stream_closed)
    m->cb.on_stream_closed(m, id, ud, m->ud);
}

/* The first frame we send on a peer-opened stream carries ACK (Go's
 * sendFlags). */
static uint16_t mux_stream_take_ack(mux_t *m, mux_stream_t *s)
{
  if(!(s->flags & MUX_S_NEED_ACK))
    return 0;
  s->flags &= (uint8_t)~MUX_S_NEED_ACK;
  m->backlog--;
  return MUX_FLAG_ACK;
}

static void give_back_ack(mux_t *m, mux_stream_t *s, uint16_t flags)
{
  if(flags & MUX_FLAG_ACK) {
    s->flags |= MUX_S_NEED_ACK;
    m->backlog++;
  }
}

/* A new stream's window starts where the session's last grown window got
 * to (seed_window): a tunnel that moved bulk across this path knows its
 * bandwidth-delay product, so later streams skip the ramp. At most a
 * quarter of the budget left, so a burst of new streams cannot take it
 * all. Returns the delta its SYN or ACK announces (0: no seed). */
static uint32_t seed_window(mux_t *m, mux_stream_t *s)
{
  uint64_t want = m->seed_window;
  size_t room;
  if(!m->cfg.window_budget)
    return 0;
  if(want > m->window_cap)
    want = m->window_cap;
  room = (m->cfg.window_budget - m->window_extra) / 4;
  if(want <= s->window)
    return 0;
  if(want - s->window > room)
    want = s->window + room;
  /* Windows are credit, not charged: the relay-wide ledger only says
   * how much may be promised now (mux.h). */
  want = s->window + mux_ledger_room(m, (size_t)(want - s->window));
  uint32_t delta = (uint32_t)(want - s->window);
  m->window_extra += delta;
  s->window += delta;
  s->recv_window += delta;
  return delta;
}

static void unseed_window(mux_t *m, mux_stream_t *s, uint32_t delta)
{
  m->window_extra -= delta;
  s->window -= delta;
  s->recv_window -= delta;
}

/* The most a stream may carry before its ACK and still count as waiting
 * for it: a target line (docs/PROTOCOL.md) with room to spare. */
#define MUX_ACK_PREAMBLE_MAX 512

static mux_stream_t *live(const mux_t *m, uint32_t id)
{
  if(m->dead)
    return NULL;
  return mux_table_get(m, id);
}

int64_t mux_open(mux_t *m, void *stream_ud)
{
  mux_stream_t *s;
  uint32_t id = m->next_id;
  if(m->dead)
    return BEACON_ECLOSED;
  if(m->go_away_sent || m->go_away_recv)
    return BEACON_EGOAWAY;
  if(m->nstreams >= m->cfg.max_streams || id > UINT32_MAX - 2)
    return BEACON_ELIMIT;
  s = mux_stream_new(m, id, MUX_S_LOCAL, stream_ud);
  if(!s)
    return BEACON_ENOMEM;
  /* Go opens with a Window Update carrying SYN and the window beyond
   * 256 KiB it grants (0 for its default window). */
  if(mux_q_frame(m, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, id,
                 seed_window(m, s))) {
    mux_stream_drop(m, s, 0);
    return BEACON_ENOMEM;
  }
  m->next_id += 2;
  return id;
}

int mux_stream_ack(mux_t *m, uint32_t id)
{
  mux_stream_t *s = live(m, id);
  uint16_t flags;
  if(!s)
    return BEACON_ECLOSED;
  flags = mux_stream_take_ack(m, s);
  if(!flags)
    return 0;
  uint32_t delta = seed_window(m, s);
  if(mux_q_frame(m, MUX_TYPE_WINDOW_UPDATE, flags, id, delta)) {
    give_back_ack(m, s, flags);
    unseed_window(m, s, delta);
    return BEACON_ENOMEM;
  }
  /* A beacon controller sends its target line with the SYN and its
   * bytes only once this ACK reached it, a round trip later. Timed from
   * the target line, the first epoch would count that round trip as a
   * slow path and grow the window fourfold instead of to the path's
   * bandwidth-delay product: it starts at the first byte after the ACK.
   * A peer that sent more than a line did not wait, and its epoch runs
   * from its first byte as before. */
  if(s->epoch_bytes + (uint64_t)s->held <= MUX_ACK_PREAMBLE_MAX) {
    s->epoch_start = MUX_EPOCH_AT_FIRST_BYTE;
    s->epoch_bytes = 0;
  }
  return 0;
}

int64_t mux_stream_write(mux_t *m, uint32_t id, const uint8_t *data,
                         size_t len)
{
  mux_stream_t *s = live(m, id);
  size_t n;
  size_t took;
  uint16_t flags;
  int err = 0;
  if(!s || (s->flags & MUX_S_LFIN))
    return BEACON_ECLOSED;
  if(!len)
    return 0;
  n = len < s->send_window ? len : s->send_window;
  /* The stream's share of the queue (mux_set_stream_queue_max). */
  if(s->queued >= m->stream_queue_max)
    n = 0;
  else if(n > m->stream_queue_max - s->queued)
    n = m->stream_queue_max - s->queued;
  flags = mux_stream_take_ack(m, s);
  took = n ? mux_q_data(m, flags, s, data, n, &err) : 0;
  if(!took) {
    give_back_ack(m, s, flags);
    if(n && err)
      return err;
  }
  s->send_window -= (uint32_t)took;
  if(took < len) {
    s->flags |= MUX_S_WANT_WRITE;
    if(took < n)
      m->out_blocked = 1;
  }
  return (int64_t)took;
}

int mux_stream_want_write(mux_t *m, uint32_t id)
{
  mux_stream_t *s = live(m, id);
  if(!s || (s->flags & MUX_S_LFIN))
    return BEACON_ECLOSED;
  s->flags |= MUX_S_WANT_WRITE;
  if(!mux_q_room(m))
    m->out_blocked = 1;
  return 0;
}

/* Auto-tuning at a grant (the scheme of quic-go and libp2p's yamux):
 * the epoch since the last grant consumed epoch_bytes of a window in
 * `elapsed`. At the full rate the window allows, a whole window takes
 * one round trip; when this epoch went faster than 4 round trips per
 * window, the window is what holds the stream back, so it grows: to
 * twice the bytes the epoch's rate moves in a round trip (gRPC's BDP
 * estimate), and at least double; fourfold while half a window went in
 * under one and a half round trips, where the window alone sets the
 * pace (a 150 ms path then reaches 32 MiB in four grants, not seven).
 * The first epoch starts at the first byte, so a download arriving at
 * the link's pace gets its bandwidth-delay product at the first grant. */
static void grow_window(mux_t *m, mux_stream_t *s)
{
  uint64_t elapsed;
  uint64_t want, bdp;
  size_t room;
  int fast;
  if(!m->cfg.window_budget)
    return; /* fixed windows */
  if(!m->srtt || m->now - m->rtt_at > MUX_RTT_MAX_AGE_MS)
    mux_probe_rtt(m);
  if(!m->srtt || s->window >= m->window_cap ||
     s->epoch_start == MUX_EPOCH_AT_FIRST_BYTE)
    return;
  elapsed = m->now - s->epoch_start;
  if(elapsed > UINT32_MAX ||
     elapsed * s->window >= 4 * m->srtt * (uint64_t)s->epoch_bytes)
    return;
  fast = elapsed * s->window < 3 * m->srtt * (uint64_t)s->epoch_bytes;
  want = (uint64_t)s->window * (fast ? 4 : 2);
  /* rate * srtt, the rate measured over at least a millisecond */
  bdp = 2 * (uint64_t)s->epoch_bytes * m->srtt / (elapsed ? elapsed : 1);
  if(bdp > want)
    want = bdp;
  if(want > m->window_cap)
    want = m->window_cap;
  room = m->cfg.window_budget - m->window_extra;
  if(want - s->window > room)
    want = s->window + room;
  /* The relay-wide ledger may allow less growth, or none. */
  want = s->window + mux_ledger_room(m, (size_t)(want - s->window));
  m->window_extra += (size_t)(want - s->window);
  s->window = (uint32_t)want;
  if(s->window > m->seed_window)
    m->seed_window = s->window;
}

/* A window that grew before mux_set_window_cap() lowered the cap (a
 * path found near only after a late first ping) comes back down: the
 * peer's view shrinks as it sends, since no grant goes out until what
 * it may send and what is held fit in the smaller window. */
static void shrink_window(mux_t *m, mux_stream_t *s)
{
  uint32_t less = s->window - m->window_cap;
  if(m->cfg.window_budget)
    m->window_extra -= less;
  s->window = m->window_cap;
}

int mux_stream_consumed(mux_t *m, uint32_t id, size_t n)
{
  mux_stream_t *s = live(m, id);
  uint32_t window;
  uint64_t delta;
  uint16_t flags;
  if(!s)
    return BEACON_ECLOSED;
  if(n > s->held)
    return BEACON_EINVAL;
  s->held -= (uint32_t)n;
  if(s->flags & MUX_S_RFIN)
    return 0; /* the peer sends nothing more: no grant needed */
  s->epoch_bytes += (uint32_t)n;
  if(s->window > m->window_cap && m->cfg.window_budget)
    shrink_window(m, s);
  /* Go's sendWindowUpdate: bring the peer's view back to the window
   * minus what is still held, once that is at least half the window. */
  if(s->held + (uint64_t)s->recv_window > s->window ||
     s->window - s->held - s->recv_window < s->window / 2)
    return 0;
  window = s->window;
  grow_window(m, s);
  delta = (uint64_t)s->window - s->held - s->recv_window;
  flags = mux_stream_take_ack(m, s);
  if(mux_q_frame(m, MUX_TYPE_WINDOW_UPDATE, flags, id, (uint32_t)delta)) {
    give_back_ack(m, s, flags);
    if(m->cfg.window_budget)
      m->window_extra -= s->window - window;
    s->window = window;
    s->held += (uint32_t)n;
    s->epoch_bytes -= (uint32_t)n;
    return BEACON_ENOMEM;
  }
  s->recv_window += (uint32_t)delta;
  s->epoch_bytes = 0;
  s->epoch_start = m->now;
  return 0;
}

int mux_stream_close(mux_t *m, uint32_t id)
{
  mux_stream_t *s = live(m, id);
  uint16_t flags;
  if(!s)
    return BEACON_ECLOSED;
  if(s->flags & MUX_S_LFIN)
    return 0;
  flags = mux_stream_take_ack(m, s);
  if(mux_q_frame(m, MUX_TYPE_WINDOW_UPDATE, flags | MUX_FLAG_FIN, id, 0)) {
    give_back_ack(m, s, flags);
    return BEACON_ENOMEM;
  }
  s->flags |= MUX_S_LFIN;
  s->flags &= (uint8_t)~MUX_S_WANT_WRITE;
  if(s->flags & MUX_S_RFIN)
    mux_stream_drop(m, s, 1);
  return 0;
}

int mux_stream_reset_code(mux_t *m, uint32_t id, uint32_t code)
{
  mux_stream_t *s = live(m, id);
  int rc;
  if(!s)
    return BEACON_ECLOSED;
  /* RST after the stream's queued data; if no chunk can be had, the
   * fixed priority slots still carry it (the peer drops late data). */
  rc = mux_q_frame(m, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, id, code);
  if(rc && m->prio_tail + MUX_HEADER_SIZE <= sizeof(m->prio))
    rc = mux_q_prio(m, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, id, code);
  mux_stream_drop(m, s, 1);
  return rc;
}

int mux_stream_reset(mux_t *m, uint32_t id)
{
  return mux_stream_reset_code(m, id, 0);
}

int mux_stream_set_user(mux_t *m, uint32_t id, void *stream_ud)
{
  mux_stream_t *s = live(m, id);
  if(!s)
    return BEACON_ECLOSED;
  s->ud = stream_ud;
  return 0;
}

int64_t mux_stream_recv_window(const mux_t *m, uint32_t id)
{
  mux_stream_t *s = live(m, id);
  if(!s)
    return BEACON_ECLOSED;
  return s->window;
}

int64_t mux_stream_write_room(const mux_t *m, uint32_t id)
{
  mux_stream_t *s = live(m, id);
  size_t room;
  if(!s || (s->flags & MUX_S_LFIN))
    return BEACON_ECLOSED;
  room = s->send_window;
  if(s->queued >= m->stream_queue_max)
    return 0;
  if(room > m->stream_queue_max - s->queued)
    room = m->stream_queue_max - s->queued;
  if(room > mux_q_room(m))
    room = mux_q_room(m);
  return (int64_t)room;
}

int64_t mux_stream_send_window(const mux_t *m, uint32_t id)
{
  mux_stream_t *s = live(m, id);
  if(!s)
    return BEACON_ECLOSED;
  if(s->flags & MUX_S_LFIN)
    return BEACON_ECLOSED;
  return s->send_window;
}
