/*
 * stream_end.c - how a relay stream ends, and what it holds: the
 * outcome, the RST with its beacon/1 reason, finishing, and the quota
 * (stream_end.h).
 */
#include "relay/stream_end.h"

#include <stdio.h>

#include "common/outcome.h"

void stream_core_mux_failed(stream_core_t *s, const char *call, int64_t rc)
{
  if(s->ops->mux_failed)
    s->ops->mux_failed(s->ud, call, (int)rc);
}

int stream_quota_hold(stream_core_t *s, size_t n, int upstream)
{
  const stream_quota_t *q = s->tun->quota;
  s->held += n;
  if(upstream) {
    s->held_up += n;
    s->tun->held_up += n;
  }
  if(!q || !n)
    return 0;
  s->charged += n;
  return q->hold ? q->hold(q->ud, n) : 0;
}

void stream_quota_release(stream_core_t *s, size_t n, int upstream)
{
  const stream_quota_t *q = s->tun->quota;
  if(n > s->held)
    n = s->held;
  s->held -= n;
  if(upstream) {
    size_t up = n < s->held_up ? n : s->held_up;
    s->held_up -= up;
    s->tun->held_up -= up;
  }
  if(!q)
    return;
  if(n > s->charged)
    n = s->charged;
  s->charged -= n;
  if(q->release && n)
    q->release(q->ud, n);
}

void stream_quota_release_all(stream_core_t *s)
{
  const stream_quota_t *q = s->tun->quota;
  if(q && q->release && s->charged)
    q->release(q->ud, s->charged);
  s->tun->held_up -= s->held_up;
  s->held = s->held_up = s->charged = 0;
}

int stream_quota_admit(stream_core_t *s)
{
  const stream_quota_t *q = s->tun->quota;
  return !q || !q->admit || q->admit(q->ud);
}

/* The downstream stash changed size: charge or release the change. An
 * accepted stream's stash is kept either way (it stops reading until
 * the mux took it). */
void stream_quota_stash(stream_core_t *s, size_t before)
{
  size_t now = pump_stashed(&s->pump);
  if(now > before)
    (void)stream_quota_hold(s, now - before, 0);
  else if(now < before)
    stream_quota_release(s, before - now, 0);
}

/* ---- ending ---- */

void stream_core_stop_dialling(stream_core_t *s)
{
  if(s->dialling) {
    s->dialling = 0;
    s->tun->dials--;
  }
}

static void finish(stream_core_t *s)
{
  if(s->state == STREAM_DONE)
    return;
  s->state = STREAM_DONE;
  stream_core_stop_dialling(s);
  s->deadline = UINT64_MAX;
  s->ops->finished(s->ud);
}

void stream_core_set_outcome(stream_core_t *s, outcome_t o, const char *reason)
{
  if(s->outcome)
    return;
  s->outcome = o;
  if(reason)
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

/* Ends the stream with RST (before the beacon/1 ACK: with the reason
 * code of its outcome) and this outcome. */
void stream_core_abort(stream_core_t *s, outcome_t o, const char *reason)
{
  stream_core_set_outcome(s, o, reason); /* the first outcome stands */
  stream_core_abort_code(s, o, reason,
                         s->unacked ? outcome_reason(s->outcome) : 0);
}

void stream_core_abort_code(stream_core_t *s, outcome_t o, const char *reason,
                            uint32_t code)
{
  stream_core_set_outcome(s, o, reason);
  s->aborted = 1;
  if(s->mux_live && s->tun->mux) {
    /* on_closed runs before this returns. The mux forgets the stream
     * even when its RST found no memory; only the peer may not learn. */
    int rc = mux_stream_reset_code(s->tun->mux, s->id, code);
    if(rc)
      stream_core_mux_failed(s, "reset", rc);
    s->tun->output = 1;
  }
  s->mux_live = 0;
  stream_core_maybe_finish(s);
}

void stream_core_maybe_finish(stream_core_t *s)
{
  if(s->state == STREAM_DONE || s->mux_live)
    return;
  /* Graceful: both FINs went through the mux; the target still gets
   * what the controller sent before its FIN, then the shutdown. */
  if(!s->aborted && s->connected && !s->shut_done)
    return;
  finish(s);
}

/* A relay budget says no: refused relay_limit, logged as resource. */
void stream_core_refuse_resource(stream_core_t *s, const char *why)
{
  STREAM_COUNT(s, streams_refused[RELAY_REFUSED_RESOURCE]);
  stream_core_abort(s, OUTCOME_RESOURCE, why);
}
