/*
 * outq.c - the output queue: a list of fixed-size chunks holding whole
 * frames (header and payload contiguous, never split across chunks), with
 * empty chunks kept for reuse, plus a small array of priority control
 * frames (ping answers, Go Away) that go out at the next chunk boundary.
 */
#include "mux/outq.h"

#include <string.h>

#include "mux/table.h"

/* Chunks are charged to the ledger while allocated, spares included. */
static mux_chunk_t *chunk_alloc(mux_t *m)
{
  mux_chunk_t *c = mux_alloc(m, sizeof(*c));
  if(c)
    mux_ledger_charge(m, sizeof(*c));
  return c;
}

static void chunk_free(mux_t *m, mux_chunk_t *c)
{
  mux_ledger_give(m, sizeof(*c));
  mux_dealloc(m, c);
}

static mux_chunk_t *chunk_new(mux_t *m)
{
  mux_chunk_t *c = m->spare;
  if(c) {
    m->spare = c->next;
    m->nspare--;
  } else {
    c = chunk_alloc(m);
    if(!c)
      return NULL;
  }
  c->next = NULL;
  c->head = 0;
  c->tail = 0;
  c->sent = 0;
  if(m->qtail)
    m->qtail->next = c;
  else
    m->qhead = c;
  m->qtail = c;
  return c;
}

/* A chunk with `need` free bytes at its end: the last one or a new one. */
static mux_chunk_t *chunk_room(mux_t *m, size_t need)
{
  if(m->qtail && MUX_CHUNK_CAP - m->qtail->tail >= need)
    return m->qtail;
  return chunk_new(m);
}

static void put_header(uint8_t *p, uint8_t type, uint16_t flags, uint32_t id,
                       uint32_t len)
{
  mux_header_t h;
  h.version = MUX_PROTO_VERSION;
  h.type = type;
  h.flags = flags;
  h.stream_id = id;
  h.length = len;
  mux_header_encode(p, &h);
}

int mux_q_frame(mux_t *m, uint8_t type, uint16_t flags, uint32_t id,
                uint32_t len)
{
  mux_chunk_t *c = chunk_room(m, MUX_HEADER_SIZE);
  if(!c)
    return BEACON_ENOMEM;
  put_header(c->buf + c->tail, type, flags, id, len);
  c->tail += MUX_HEADER_SIZE;
  m->qbytes += MUX_HEADER_SIZE;
  return 0;
}

int mux_q_prio(mux_t *m, uint8_t type, uint16_t flags, uint32_t id,
               uint32_t len)
{
  if(m->prio_head == m->prio_tail) {
    m->prio_head = 0;
    m->prio_tail = 0;
  }
  if(m->prio_tail + MUX_HEADER_SIZE > sizeof(m->prio))
    return mux_q_frame(m, type, flags, id, len);
  put_header(m->prio + m->prio_tail, type, flags, id, len);
  m->prio_tail += MUX_HEADER_SIZE;
  return 0;
}

int mux_q_reply(mux_t *m, uint8_t type, uint16_t flags, uint32_t id,
                uint32_t len)
{
  if(mux_pending_total(m) > m->cfg.max_outbuf + MUX_CTRL_SLACK)
    return 0;
  return mux_q_prio(m, type, flags, id, len);
}

size_t mux_q_room(const mux_t *m)
{
  if(m->qbytes + MUX_HEADER_SIZE >= m->cfg.max_outbuf)
    return 0;
  return m->cfg.max_outbuf - m->qbytes - MUX_HEADER_SIZE;
}

size_t mux_q_data(mux_t *m, uint16_t flags, mux_stream_t *s,
                  const uint8_t *data, size_t len, int *err)
{
  uint32_t id = s->id;
  size_t done = 0;
  *err = 0;
  while(done < len) {
    size_t want = len - done;
    size_t room = mux_q_room(m);
    size_t n;
    mux_chunk_t *c;
    if(!room)
      break;
    if(want > room)
      want = room;
    c = m->qtail;
    if(!c ||
       MUX_CHUNK_CAP - c->tail <
           MUX_HEADER_SIZE + (want < MUX_MIN_FRAME ? want : MUX_MIN_FRAME)) {
      c = chunk_new(m);
      if(!c) {
        *err = BEACON_ENOMEM;
        break;
      }
    }
    n = MUX_CHUNK_CAP - c->tail - MUX_HEADER_SIZE;
    if(n > want)
      n = want;
    put_header(c->buf + c->tail, MUX_TYPE_DATA, flags, id, (uint32_t)n);
    memcpy(c->buf + c->tail + MUX_HEADER_SIZE, data + done, n);
    c->tail += (uint32_t)(MUX_HEADER_SIZE + n);
    m->qbytes += MUX_HEADER_SIZE + n;
    s->queued += (uint32_t)(MUX_HEADER_SIZE + n);
    done += n;
    flags = 0;
  }
  return done;
}

size_t mux_pending(mux_t *m, const uint8_t **p)
{
  int prio = m->prio_head != m->prio_tail;
  mux_chunk_t *c = m->qhead;
  /* Finish what was started; otherwise priority frames go first at a
   * chunk boundary (chunks hold whole frames). */
  if(prio && c && c->head > 0 &&
     !(m->pend_prio && m->prio_head % MUX_HEADER_SIZE))
    prio = 0;
  if(prio) {
    m->pend_prio = 1;
    *p = m->prio + m->prio_head;
    return m->prio_tail - m->prio_head;
  }
  m->pend_prio = 0;
  if(!c) {
    *p = NULL;
    return 0;
  }
  *p = c->buf + c->head;
  return c->tail - c->head;
}

size_t mux_pending_total(const mux_t *m)
{
  return m->qbytes + (m->prio_tail - m->prio_head);
}

/* Frames of c that left completely give their stream its queue share
 * back (mux_stream_write caps it at stream_queue_max). */
static void credit_sent(mux_t *m, mux_chunk_t *c)
{
  while(c->sent + MUX_HEADER_SIZE <= c->head) {
    mux_header_t h;
    mux_stream_t *s;
    uint32_t size = MUX_HEADER_SIZE;
    mux_header_decode(&h, c->buf + c->sent);
    if(h.type == MUX_TYPE_DATA)
      size += h.length;
    if(c->sent + size > c->head)
      return;
    c->sent += size;
    if(h.type != MUX_TYPE_DATA || !(s = mux_table_get(m, h.stream_id)))
      continue;
    s->queued -= size < s->queued ? size : s->queued;
    if((s->flags & MUX_S_WANT_WRITE) && s->queued <= m->stream_queue_max / 2)
      m->wake_streams = 1;
  }
}

static void advance(mux_t *m, size_t n)
{
  if(m->pend_prio) {
    size_t have = m->prio_tail - m->prio_head;
    if(n > have)
      n = have;
    m->prio_head += (uint32_t)n;
    if(m->prio_head == m->prio_tail) {
      m->prio_head = 0;
      m->prio_tail = 0;
      m->pend_prio = 0;
    }
    return;
  }
  while(n && m->qhead) {
    mux_chunk_t *c = m->qhead;
    size_t k = c->tail - c->head;
    if(k > n)
      k = n;
    c->head += (uint32_t)k;
    m->qbytes -= k;
    n -= k;
    credit_sent(m, c);
    if(c->head < c->tail)
      break;
    m->qhead = c->next;
    if(!m->qhead)
      m->qtail = NULL;
    if(m->nspare < MUX_SPARE_CHUNKS(m)) {
      c->next = m->spare;
      m->spare = c;
      m->nspare++;
    } else {
      chunk_free(m, c);
    }
  }
}

/* Output space freed up: tell every stream whose write was short and
 * that has window. Callbacks may open, close or reset streams, which
 * moves table entries, so passes repeat until none fires. */
void mux_wake_writers(mux_t *m)
{
  int fired = 1;
  int passes = 0;
  uint32_t i;
  while(fired && passes++ < 4 && !m->dead && mux_q_room(m)) {
    fired = 0;
    for(i = 0; i < m->nslots && !m->dead && mux_q_room(m); i++) {
      mux_stream_t *s = m->slots[i];
      if(!s || !(s->flags & MUX_S_WANT_WRITE) || !s->send_window ||
         s->queued >= m->stream_queue_max)
        continue;
      s->flags &= (uint8_t)~MUX_S_WANT_WRITE;
      fired = 1;
      if(m->cb.on_writable)
        m->cb.on_writable(m, s->id, s->ud, m->ud);
    }
  }
  /* A woken writer can fill the queue exactly: its write was not short,
   * so nothing marked the queue blocked, yet the streams after it were
   * never told. Mark it, or they would wait for a wake-up that never
   * comes (seen as a stalled relay with 500 echo streams). */
  if(m->dead || m->out_blocked || mux_q_room(m))
    return;
  for(i = 0; i < m->nslots; i++) {
    mux_stream_t *s = m->slots[i];
    if(s && (s->flags & MUX_S_WANT_WRITE) && s->send_window &&
       s->queued < m->stream_queue_max) {
      m->out_blocked = 1;
      return;
    }
  }
}

static void after_advance(mux_t *m)
{
  if(m->dead)
    return;
  if((m->out_blocked && m->qbytes <= m->cfg.max_outbuf / 2) ||
     m->wake_streams) {
    m->out_blocked = 0;
    m->wake_streams = 0;
    mux_wake_writers(m);
  }
}

void mux_advance(mux_t *m, size_t n)
{
  advance(m, n);
  after_advance(m);
}

size_t mux_send(mux_t *m, uint8_t *out, size_t cap)
{
  size_t done = 0;
  while(done < cap) {
    const uint8_t *p;
    size_t n = mux_pending(m, &p);
    if(!n)
      break;
    if(n > cap - done)
      n = cap - done;
    memcpy(out + done, p, n);
    advance(m, n);
    done += n;
  }
  after_advance(m);
  return done;
}

/* An idle queue keeps no chunk: a session's streams may idle for hours,
 * and 64 KiB each would be most of an idle tunnel's charge. */
void mux_q_trim(mux_t *m)
{
  while(!m->qhead && m->nspare) {
    mux_chunk_t *c = m->spare;
    m->spare = c->next;
    m->nspare--;
    chunk_free(m, c);
  }
}

void mux_q_free(mux_t *m)
{
  mux_chunk_t *c;
  while(m->qhead) {
    c = m->qhead;
    m->qhead = c->next;
    chunk_free(m, c);
  }
  m->qtail = NULL;
  while(m->spare) {
    c = m->spare;
    m->spare = c->next;
    chunk_free(m, c);
  }
  m->nspare = 0;
  m->qbytes = 0;
}
