/*
 * session.c - the yamux session: configuration, frame dispatch, pings,
 * Go Away and keep-alive (docs/PROTOCOL.md "Multiplexing: yamux, protocol
 * version 0"; hashicorp/yamux session.go where docs/PROTOCOL.md is silent).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mux/mux_int.h"
#include "mux/outq.h"
#include "mux/ping.h"
#include "mux/mux_stream.h"
#include "mux/table.h"

#define NO_GO_AWAY UINT32_MAX

void mux_config_default(mux_config_t *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->max_streams = 4096;
  cfg->accept_backlog = 256;
  cfg->max_window = MUX_DEFAULT_MAX_WINDOW;
  cfg->window_budget = MUX_DEFAULT_WINDOW_BUDGET;
  cfg->max_outbuf = 1024 * 1024;
}

mux_t *mux_new(const mux_config_t *cfg, const mux_callbacks_t *cb, void *ud,
               uint64_t now)
{
  mux_config_t c = *cfg;
  mux_allocator_t al;
  mux_t *m;
  if(!c.max_streams)
    c.max_streams = 4096;
  if(!c.accept_backlog)
    c.accept_backlog = 256;
  if(!c.max_window)
    c.max_window =
        c.window_budget ? MUX_DEFAULT_MAX_WINDOW : MUX_INITIAL_WINDOW;
  if(!c.max_outbuf)
    c.max_outbuf = 1024 * 1024;
  if(c.max_window < MUX_INITIAL_WINDOW || c.max_outbuf < 64)
    return NULL;
  memset(&al, 0, sizeof(al));
  if(c.alloc && c.alloc->malloc && c.alloc->free)
    al = *c.alloc;
  m = al.malloc ? al.malloc(sizeof(*m), al.ud) : malloc(sizeof(*m));
  if(!m)
    return NULL;
  memset(m, 0, sizeof(*m));
  m->cfg = c;
  m->cfg.alloc = NULL;
  m->al = al;
  if(cb)
    m->cb = *cb;
  m->ud = ud;
  m->stream_queue_max = MUX_STREAM_QUEUED_MAX;
  m->window_cap = m->cfg.max_window;
  m->next_id = c.is_client ? 1 : 2;
  m->now = now;
  m->next_ping = now + c.keepalive_ms;
  /* No clock or entropy source in the core: the session's address and
   * the caller's clock are unknown enough to a remote peer. */
  m->seed = (uint32_t)((uintptr_t)m >> 4) * 2654435761u ^ (uint32_t)now ^
            (uint32_t)(now >> 32);
  return m;
}

void mux_free(mux_t *m)
{
  uint32_t i;
  if(!m)
    return;
  for(i = 0; i < m->nslots; i++) {
    if(m->slots[i])
      mux_ledger_give(m, mux_stream_cost(m->slots[i]));
    mux_dealloc(m, m->slots[i]);
  }
  mux_table_free(m);
  mux_q_free(m);
  mux_dealloc(m, m);
}

/* The session is over: remember why and, for a peer's fault, tell it. */
static void mux_fail(mux_t *m, int err, uint32_t go_away_code)
{
  if(m->dead)
    return;
  m->dead = 1;
  m->err = err;
  if(go_away_code != NO_GO_AWAY) {
    /* The priority slots need no allocation; fall back to a chunk. */
    (void)mux_q_prio(m, MUX_TYPE_GO_AWAY, 0, 0, go_away_code);
    m->go_away_sent = 1;
  }
}

static int proto_err(mux_t *m)
{
  mux_fail(m, BEACON_EPROTO, MUX_GO_AWAY_PROTO_ERR);
  return BEACON_EPROTO;
}

static int nomem(mux_t *m)
{
  mux_fail(m, BEACON_ENOMEM, MUX_GO_AWAY_INTERNAL_ERR);
  return BEACON_ENOMEM;
}

/* A SYN from the peer (Go's incomingStream, plus the parity check of
 * docs/PROTOCOL.md "Roles and stream ids"). Refused streams get RST and are
 * never live. */
static int incoming(mux_t *m, uint32_t id)
{
  uint32_t peer_parity = m->cfg.is_client ? 0 : 1;
  mux_stream_t *s;
  void *sud = NULL;
  int rc;
  if(!id || (id & 1) != peer_parity || mux_table_get(m, id))
    return proto_err(m);
  /* A backed-up output queue also refuses: a peer that opens streams
   * without reading our ACKs cannot grow it without bound. */
  enum mux_refusal why = MUX_REFUSED_NONE;
  if(m->go_away_sent || m->go_away_recv || !m->cb.on_stream_open)
    why = MUX_REFUSED_GOING_AWAY;
  else if(m->nstreams >= m->cfg.max_streams)
    why = MUX_REFUSED_MAX_STREAMS;
  else if(m->backlog >= m->cfg.accept_backlog)
    why = MUX_REFUSED_BACKLOG;
  else if(mux_pending_total(m) > m->cfg.max_outbuf + MUX_CTRL_SLACK)
    why = MUX_REFUSED_OUTPUT_FULL;
  if(why != MUX_REFUSED_NONE) {
    /* Tell the caller before the RST goes out, so a flood is visible in
     * its logs and counters; the callback must not end the session. */
    if(m->cb.on_stream_refused)
      m->cb.on_stream_refused(m, id, why, m->ud);
    return mux_q_reply(m, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, id, 0);
  }
  s = mux_stream_new(m, id, MUX_S_NEED_ACK, NULL);
  if(!s)
    return nomem(m);
  rc = m->cb.on_stream_open(m, id, &sud, m->ud);
  s = mux_table_get(m, id);
  if(!s || m->dead)
    return 0; /* the callback already ended it */
  if(rc < 0) {
    mux_stream_drop(m, s, 0);
    if(mux_q_frame(m, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, id, 0))
      return nomem(m);
    return 0;
  }
  s->ud = sud;
  if(rc == MUX_ACCEPT_DEFER)
    return 0;
  if(mux_stream_ack(m, id))
    return nomem(m);
  return 0;
}

/* ACK, FIN and RST of a stream frame (Go's processFlags). Returns the
 * stream if still live afterwards. FIN of a Data frame is handled after
 * its payload, so on_fin always follows the stream's last on_data. */
static mux_stream_t *stream_flags(mux_t *m, mux_stream_t *s, uint16_t fl)
{
  uint32_t id = s->id;
  if((fl & MUX_FLAG_ACK) && (s->flags & MUX_S_LOCAL) &&
     !(s->flags & MUX_S_ACKED)) {
    s->flags |= MUX_S_ACKED;
    if(m->cb.on_stream_ack) {
      m->cb.on_stream_ack(m, id, s->ud, m->ud);
      s = mux_table_get(m, id);
      if(!s || m->dead)
        return NULL;
    }
  }
  if(fl & MUX_FLAG_RST) {
    if(m->cb.on_reset) {
      m->cb.on_reset(m, id, s->ud, m->ud);
      s = mux_table_get(m, id);
      if(!s || m->dead)
        return NULL;
    }
    mux_stream_drop(m, s, 1);
    return NULL;
  }
  if(fl & MUX_FLAG_FIN) {
    s->flags |= MUX_S_RFIN;
    if(m->cb.on_fin) {
      m->cb.on_fin(m, id, s->ud, m->ud);
      s = mux_table_get(m, id);
      if(!s || m->dead)
        return NULL;
    }
    if(s->flags & MUX_S_LFIN) {
      mux_stream_drop(m, s, 1);
      return NULL;
    }
  }
  return s;
}

static int stream_frame(mux_t *m, const mux_header_t *h)
{
  uint32_t id = h->stream_id;
  uint16_t fl = h->flags;
  mux_stream_t *s;
  int err;
  if(fl & MUX_FLAG_SYN) {
    err = incoming(m, id);
    if(err || m->dead)
      return err;
  }
  s = mux_table_get(m, id);
  if(!s) {
    /* Not live: in flight when we reset or finished it. Drain and
     * ignore, exactly as Go does (docs/PROTOCOL.md "Closing"). */
    if(h->type == MUX_TYPE_DATA && h->length) {
      m->rx_state = MUX_RX_PAYLOAD;
      m->rx_id = id;
      m->rx_left = h->length;
      m->rx_deliver = 0;
      m->rx_flags = 0;
    }
    return 0;
  }
  /* A second FIN is Go's ErrUnexpectedFlag. */
  if((fl & MUX_FLAG_FIN) && !(fl & MUX_FLAG_RST) && (s->flags & MUX_S_RFIN))
    return proto_err(m);
  if(h->type == MUX_TYPE_WINDOW_UPDATE) {
    uint32_t delta = h->length;
    if(fl & MUX_FLAG_RST) {
      /* The stream ends here: its length is a reason code, not a
       * window (docs/PROTOCOL.md "Connect results (ALPN beacon/1)"). */
      m->rx_reset_code = delta;
      (void)stream_flags(m, s, fl);
      m->rx_reset_code = 0;
      return 0;
    }
    if((uint64_t)s->send_window + delta > UINT32_MAX)
      return proto_err(m);
    s = stream_flags(m, s, fl);
    if(!s || !delta)
      return 0;
    s->send_window += delta;
    if((s->flags & MUX_S_WANT_WRITE) && !(s->flags & MUX_S_LFIN)) {
      s->flags &= (uint8_t)~MUX_S_WANT_WRITE;
      if(m->cb.on_writable)
        m->cb.on_writable(m, id, s->ud, m->ud);
    }
    return 0;
  }
  if(h->length > s->recv_window)
    return proto_err(m);
  s->recv_window -= h->length;
  /* Data after the peer's FIN: Go buffers it without complaint; there is
   * no reader after EOF, so it is drained (it still used the window). */
  m->rx_deliver = !(s->flags & MUX_S_RFIN);
  s = stream_flags(m, s, fl & (uint16_t)~MUX_FLAG_FIN);
  m->rx_id = id;
  m->rx_flags = fl & MUX_FLAG_FIN;
  if(!s)
    m->rx_deliver = 0;
  if(h->length) {
    m->rx_state = MUX_RX_PAYLOAD;
    m->rx_left = h->length;
  } else if(s && m->rx_flags) {
    (void)stream_flags(m, s, MUX_FLAG_FIN);
  }
  return 0;
}

static int ping_frame(mux_t *m, const mux_header_t *h)
{
  if(h->flags & MUX_FLAG_SYN)
    return mux_q_reply(m, MUX_TYPE_PING, MUX_FLAG_ACK, 0, h->length);
  if(m->ping_out && h->length == m->ping_opaque) {
    uint64_t rtt = m->now > m->ping_sent ? m->now - m->ping_sent : 0;
    m->ping_out = 0;
    if(m->ping_unread) {
      m->ping_unread = 0; /* the time we did not read is not the path's */
      return 0;
    }
    /* Smoothed as TCP does (RFC 6298, alpha 1/8), so one answer stuck
     * behind a burst does not swing the windows. A millisecond clock
     * reads 0 on loopback: counted as 1, where tuning hardly matters. */
    if(!rtt)
      rtt = 1;
    m->srtt = m->srtt ? (7 * m->srtt + rtt + 4) / 8 : rtt;
    if(!m->rtt_min || rtt < m->rtt_min)
      m->rtt_min = rtt;
    if(m->rtt_samples < UINT32_MAX)
      m->rtt_samples++;
    m->rtt_at = m->now;
    if(m->cb.on_ping_ack)
      m->cb.on_ping_ack(m, h->length, rtt, m->ud);
  }
  return 0;
}

static int on_header(mux_t *m)
{
  mux_header_t h;
  mux_header_decode(&h, m->hdr);
  if(h.version != MUX_PROTO_VERSION || h.type > MUX_TYPE_GO_AWAY)
    return proto_err(m);
  switch(h.type) {
  case MUX_TYPE_DATA:
  case MUX_TYPE_WINDOW_UPDATE:
    return stream_frame(m, &h);
  case MUX_TYPE_PING:
    return ping_frame(m, &h);
  default:
    m->go_away_recv = 1;
    if(m->cb.on_go_away)
      m->cb.on_go_away(m, h.length, m->ud);
    return 0;
  }
}

/* The end of a Data frame's payload: now its FIN counts. */
static void payload_done(mux_t *m)
{
  mux_stream_t *s;
  m->rx_state = MUX_RX_HEADER;
  if(!m->rx_flags)
    return;
  s = mux_table_get(m, m->rx_id);
  if(s)
    (void)stream_flags(m, s, MUX_FLAG_FIN);
}

int mux_recv(mux_t *m, const uint8_t *in, size_t len)
{
  size_t off = 0;
  int rc = 0;
  if(m->in_recv || len > INT_MAX)
    return BEACON_EINVAL;
  if(m->dead)
    return m->err;
  m->in_recv = 1;
  while(off < len && !rc && !m->dead) {
    if(m->rx_state == MUX_RX_HEADER) {
      size_t n = MUX_HEADER_SIZE - m->hdr_len;
      if(n > len - off)
        n = len - off;
      memcpy(m->hdr + m->hdr_len, in + off, n);
      m->hdr_len += (uint8_t)n;
      off += n;
      if(m->hdr_len < MUX_HEADER_SIZE)
        break;
      m->hdr_len = 0;
      rc = on_header(m);
    } else {
      size_t n = m->rx_left;
      mux_stream_t *s;
      if(n > len - off)
        n = len - off;
      s = m->rx_deliver ? mux_table_get(m, m->rx_id) : NULL;
      if(s) {
        if(s->epoch_start == MUX_EPOCH_AT_FIRST_BYTE)
          s->epoch_start = m->now;
        s->held += (uint32_t)n;
        if(m->cb.on_data)
          m->cb.on_data(m, m->rx_id, s->ud, in + off, n, m->ud);
      }
      off += n;
      m->rx_left -= (uint32_t)n;
      if(!m->rx_left)
        payload_done(m);
    }
  }
  m->in_recv = 0;
  if(m->dead)
    return m->err;
  if(rc)
    return rc;
  return (int)len;
}

void mux_set_stream_queue_max(mux_t *m, uint32_t bytes)
{
  /* A stream must be able to queue one full frame. A raised cap frees
   * capped writers as their queued frames leave (credit_sent). */
  if(bytes < MUX_STREAM_QUEUED_MAX / 2)
    bytes = MUX_STREAM_QUEUED_MAX / 2;
  m->stream_queue_max = bytes;
}

void mux_set_window_cap(mux_t *m, uint32_t bytes)
{
  if(bytes > m->cfg.max_window)
    bytes = m->cfg.max_window;
  m->window_cap = bytes < MUX_INITIAL_WINDOW ? MUX_INITIAL_WINDOW : bytes;
}

void mux_now(mux_t *m, uint64_t now)
{
  if(now > m->now)
    m->now = now;
}

uint64_t mux_rtt(const mux_t *m)
{
  return m->srtt;
}

uint64_t mux_rtt_min(const mux_t *m)
{
  return m->rtt_min;
}

uint32_t mux_rtt_samples(const mux_t *m)
{
  return m->rtt_samples;
}

size_t mux_window_extra(const mux_t *m)
{
  return m->window_extra;
}

int mux_tick(mux_t *m, uint64_t now)
{
  m->now = now;
  if(m->dead)
    return m->err;
  mux_q_trim(m);
  if(m->ping_out && now >= m->ping_deadline) {
    mux_fail(m, BEACON_ETIMEDOUT, NO_GO_AWAY);
    return BEACON_ETIMEDOUT;
  }
  if(m->cfg.keepalive_ms && !m->ping_out && now >= m->next_ping) {
    int rc = mux_ping(m, now, NULL);
    if(rc)
      return rc;
    m->next_ping = now + m->cfg.keepalive_ms;
  }
  return 0;
}

void mux_not_reading(mux_t *m, uint64_t now)
{
  if(!m->ping_out || m->ping_deadline == UINT64_MAX)
    return;
  m->ping_unread = 1;
  m->ping_deadline = now + m->cfg.keepalive_timeout_ms;
}

uint64_t mux_next_deadline(const mux_t *m)
{
  if(m->dead)
    return UINT64_MAX;
  if(m->ping_out)
    return m->ping_deadline;
  if(m->cfg.keepalive_ms)
    return m->next_ping;
  return UINT64_MAX;
}

const char *mux_refusal_name(int why)
{
  switch(why) {
  case MUX_REFUSED_GOING_AWAY:
    return "going_away";
  case MUX_REFUSED_MAX_STREAMS:
    return "max_streams";
  case MUX_REFUSED_BACKLOG:
    return "accept_backlog";
  case MUX_REFUSED_OUTPUT_FULL:
    return "output_full";
  default:
    return "none";
  }
}

int mux_go_away(mux_t *m, uint32_t code)
{
  int rc;
  if(m->dead)
    return BEACON_ECLOSED;
  if(m->go_away_sent)
    return 0;
  rc = mux_q_prio(m, MUX_TYPE_GO_AWAY, 0, 0, code);
  if(rc)
    return rc;
  m->go_away_sent = 1;
  return 0;
}

uint32_t mux_reset_code(const mux_t *m)
{
  return m->rx_reset_code;
}

int mux_is_dead(const mux_t *m)
{
  return m->dead;
}

int mux_is_going_away(const mux_t *m)
{
  return m->go_away_sent || m->go_away_recv;
}

void mux_shutdown(mux_t *m)
{
  uint32_t i;
  if(!m->dead) {
    m->dead = 1;
    m->err = BEACON_ECLOSED;
  }
  /* Every visited slot ends empty, so backward shifts never move an
   * entry behind i (see table.c). */
  for(i = 0; i < m->nslots; i++) {
    while(m->slots && m->slots[i])
      mux_stream_drop(m, m->slots[i], 1);
  }
}
