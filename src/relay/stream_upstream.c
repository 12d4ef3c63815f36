/*
 * stream_upstream.c - a relay stream's controller-to-target direction
 * (stream_upstream.h): gathered pieces, bytes held while dialling,
 * writes, the window given back once written, the write shutdown.
 */
#include "relay/stream_upstream.h"

#include <stdlib.h>
#include <string.h>

#include "relay/stream_end.h"

void stream_upstream_shut(stream_core_t *s)
{
  if(s->shut_sent || !s->connected || s->state == STREAM_DONE)
    return;
  s->shut_sent = 1;
  if(s->ops->shut_write(s->ud)) {
    s->shut_done = 1;
    stream_core_abort(s, OUTCOME_RESET, "target shutdown failed");
  }
}

/* n bytes reached the target: their window goes back to the controller.
 * -1 when that failed and the stream was aborted (a window never given
 * back would stall the stream for good). */
static int account_up(stream_core_t *s, size_t n, uint64_t now)
{
  s->bytes_up += n;
  s->tun->bytes_up += n;
  if(s->tun->metrics)
    atomic_fetch_add(&s->tun->metrics->bytes_up, n);
  if(s->mux_live) {
    mux_now(s->tun->mux, now);
    int rc = pump_to_local_done(&s->pump, s->tun->mux, n);
    if(rc) {
      stream_core_mux_failed(s, "consumed", rc);
      stream_core_abort(s, OUTCOME_RESET, "window update failed");
      return -1;
    }
    s->tun->output = 1;
  }
  return 0;
}

/* Gives iov to the target; what it does not take now the adapter holds
 * (charged to the quota until written). */
static void write_target(stream_core_t *s, const stream_core_iov_t *iov,
                         unsigned n, uint64_t now)
{
  size_t total = 0;
  char why[64] = "target write failed";
  for(unsigned i = 0; i < n; i++)
    total += iov[i].n;
  int64_t w = s->ops->write(s->ud, iov, n, why, sizeof(why));
  if(w < 0) {
    stream_core_abort(s, OUTCOME_RESET, why);
    return;
  }
  if((size_t)w < total) {
    s->queued += total - (size_t)w;
    (void)stream_quota_hold(s, total - (size_t)w, 1); /* accepted: kept */
  }
  if(w > 0)
    (void)account_up(s, (size_t)w, now);
}

/* Writes s's gathered pieces, in order, with one write op. */
void stream_upstream_gather_write(stream_core_t *s, uint64_t now)
{
  stream_gather_t *g = s->tun->gather;
  stream_core_iov_t iov[STREAM_GATHER_MAX];
  unsigned n = 0;
  if(!s->ngather)
    return;
  for(unsigned i = 0; i < g->n && n < s->ngather; i++)
    if(g->piece[i].s == s) {
      iov[n++] = (stream_core_iov_t){g->piece[i].p, g->piece[i].n};
      g->piece[i].s = NULL;
    }
  s->ngather = 0;
  /* An aborted stream drops them: they were never consumed. */
  if(s->state == STREAM_OPEN)
    write_target(s, iov, n, now);
}

void stream_gather_flush(stream_gather_t *g, uint64_t now)
{
  /* A write may abort a stream: entries of streams already written or
   * dropped are NULL, so each step rereads the table. */
  for(unsigned i = 0; i < g->n; i++)
    if(g->piece[i].s)
      stream_upstream_gather_write(g->piece[i].s, now);
  g->n = 0;
}

/* Forgets s's gathered pieces (it is going away). */
void stream_upstream_gather_drop(stream_core_t *s)
{
  stream_gather_t *g = s->tun->gather;
  for(unsigned i = 0; g && i < g->n; i++)
    if(g->piece[i].s == s)
      g->piece[i].s = NULL;
  s->ngather = 0;
}

/* Dialling: a copy is held (unconsumed, so the window bounds it). */
static void hold_pending(stream_core_t *s, const uint8_t *p, size_t n)
{
  if(stream_quota_hold(s, n, 1) && s->unacked) {
    stream_quota_release(s, n, 1);
    stream_core_refuse_resource(s, "memory limit");
    return;
  }
  stream_core_chunk_t *c = malloc(sizeof(*c) + n);
  if(!c) {
    stream_quota_release(s, n, 1);
    stream_core_abort(s, OUTCOME_RESET, "out of memory");
    return;
  }
  c->next = NULL;
  c->len = n;
  memcpy(c->data, p, n);
  if(s->pend_tail)
    s->pend_tail->next = c;
  else
    s->pend_head = c;
  s->pend_tail = c;
  s->pend_bytes += n;
}

/* Payload from the controller (after the target line). */
void stream_upstream_data(stream_core_t *s, const uint8_t *p, size_t n,
                          int transient, uint64_t now)
{
  if(s->state != STREAM_OPEN) {
    hold_pending(s, p, n);
    return;
  }
  stream_gather_t *g = s->tun->gather;
  /* Inside mux_recv: gather, one write per stream afterwards. Not while
   * the adapter holds bytes: those must go first, and it would copy. */
  if(transient && g && !s->queued) {
    if(g->n == STREAM_GATHER_MAX)
      stream_gather_flush(g, now);
    if(s->state != STREAM_OPEN)
      return;
    if(!s->queued) {
      g->piece[g->n++] = (struct stream_gather_piece){s, p, n};
      s->ngather++;
      return;
    }
  }
  stream_upstream_gather_write(s, now);
  if(s->state == STREAM_OPEN)
    write_target(s, &(stream_core_iov_t){p, n}, 1, now);
}

void stream_core_on_target_written(stream_core_t *s, size_t n, uint64_t now)
{
  if(n > s->queued)
    n = s->queued;
  s->queued -= n;
  stream_quota_release(s, n, 1);
  if(s->state == STREAM_DONE)
    return;
  (void)account_up(s, n, now);
}

void stream_core_on_target_shut(stream_core_t *s)
{
  s->shut_done = 1;
  stream_core_maybe_finish(s);
}

/* What arrived during the dial goes first, in order: one write op per
 * STREAM_GATHER_MAX chunks. */
void stream_upstream_write_pending(stream_core_t *s, uint64_t now)
{
  while(s->pend_head && s->state == STREAM_OPEN) {
    stream_core_iov_t iov[STREAM_GATHER_MAX];
    stream_core_chunk_t *c = s->pend_head;
    unsigned n = 0;
    size_t bytes = 0;
    for(; c && n < STREAM_GATHER_MAX; c = c->next) {
      iov[n++] = (stream_core_iov_t){c->data, c->len};
      bytes += c->len;
    }
    write_target(s, iov, n, now);
    /* Written or copied by the adapter (charged there): ours go. */
    while(s->pend_head != c) {
      stream_core_chunk_t *d = s->pend_head;
      s->pend_head = d->next;
      free(d);
    }
    if(!s->pend_head)
      s->pend_tail = NULL;
    s->pend_bytes -= bytes;
    stream_quota_release(s, bytes, 1);
  }
}
