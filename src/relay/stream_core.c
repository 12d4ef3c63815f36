/*
 * stream_core.c - one relay stream's sans-I/O core (stream_core.h): its
 * life, the mux events, the target line, the budgets and the dial, and
 * the target-to-controller direction. The other direction is
 * stream_upstream.c, the ending and the quota stream_end.c.
 */
#include "relay/stream_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/stream_end.h"
#include "common/outcome.h"

struct stream_core_setup {
  target_parser_t tp;
  target_t target;
};

/* ---- downstream: target to controller ---- */

static mux_t *live_mux(const stream_core_t *s)
{
  return s->mux_live ? s->tun->mux : NULL;
}

static void set_reading(stream_core_t *s, int on)
{
  if(s->reading == on)
    return;
  if(s->ops->read(s->ud, on) && on) {
    stream_core_abort(s, OUTCOME_RESET, "target read failed");
    return;
  }
  s->reading = on;
}

static void count_down(stream_core_t *s, int64_t n)
{
  s->bytes_down += (uint64_t)n;
  s->tun->bytes_down += (uint64_t)n;
  if(s->tun->metrics)
    atomic_fetch_add(&s->tun->metrics->bytes_down, (uint64_t)n);
  s->tun->output = 1;
}

/* The pump refused (conn/pump.h): the stream is gone from the mux, or
 * there was no memory for its frame or its stash. */
static void pump_failed(stream_core_t *s, const char *call, int64_t rc)
{
  if(rc == BEACON_ENOMEM) {
    stream_core_mux_failed(s, call, rc);
    stream_core_abort(s, OUTCOME_RESET, "out of memory");
    return;
  }
  stream_core_abort(s, OUTCOME_RESET, NULL);
}

void stream_core_on_target_read(stream_core_t *s, const uint8_t *p, size_t n)
{
  if(s->state != STREAM_OPEN || !n)
    return;
  int64_t w = pump_from_local(&s->pump, live_mux(s), p, n);
  if(w < 0) {
    pump_failed(s, "write", w);
    return;
  }
  stream_quota_stash(s, 0);
  count_down(s, w);
  if(!pump_want_read(&s->pump))
    set_reading(s, 0);
}

void stream_core_on_target_eof(stream_core_t *s)
{
  if(s->state != STREAM_OPEN)
    return;
  set_reading(s, 0);
  /* FIN now, or once the stash went; may end the stream in the mux
   * (both FINs): on_closed. */
  int rc = s->mux_live ? pump_local_eof(&s->pump, live_mux(s)) : 0;
  if(rc) {
    pump_failed(s, "close", rc);
    return;
  }
  s->tun->output = 1;
  stream_core_maybe_finish(s);
}

void stream_core_on_target_error(stream_core_t *s, const char *why)
{
  if(s->state == STREAM_DONE)
    return;
  if(s->shut_sent)
    s->shut_done = 1;
  stream_core_abort(s, OUTCOME_RESET, why);
}

static void start_reading(stream_core_t *s)
{
  if(pump_want_read(&s->pump) && s->state == STREAM_OPEN && s->mux_live)
    set_reading(s, 1);
}

void stream_core_on_writable(stream_core_t *s)
{
  if(s->state != STREAM_OPEN)
    return;
  size_t before = pump_stashed(&s->pump);
  if(before) {
    /* The stash goes first, then FIN if the target ended. */
    int64_t w = pump_on_writable(&s->pump, live_mux(s));
    stream_quota_stash(s, before);
    if(w < 0) {
      pump_failed(s, "write", w);
      return;
    }
    count_down(s, w);
  }
  start_reading(s);
}

size_t stream_core_read_size(const stream_core_t *s, size_t cap)
{
  mux_t *m = live_mux(s);
  int64_t room = m ? mux_stream_write_room(m, s->id) : 0;
  /* What the mux takes now: nothing is left over to copy aside and keep
   * per stream. No room: no read (stream_core_on_target_full). */
  if(room <= 0)
    return 0;
  return (uint64_t)room < cap ? (size_t)room : cap;
}

void stream_core_on_target_full(stream_core_t *s)
{
  mux_t *m = live_mux(s);
  if(s->state != STREAM_OPEN)
    return;
  /* on_writable starts reading again. */
  if(!m || mux_stream_want_write(m, s->id)) {
    stream_core_abort(s, OUTCOME_RESET, NULL);
    return;
  }
  set_reading(s, 0);
}

/* ---- the dial ---- */

/* Counts a failed dial by its outcome and ends the stream with it: the
 * policy and the budgets have counters of their own. */
static void dial_failed(stream_core_t *s, outcome_t o, const char *why)
{
  if(o == OUTCOME_POLICY)
    STREAM_COUNT(s, policy_refusals);
  else if(o == OUTCOME_RESOURCE)
    STREAM_COUNT(s, streams_refused[RELAY_REFUSED_RESOURCE]);
  else
    STREAM_COUNT(s, dial_fail[outcome_label(o)]);
  stream_core_abort(s, o, why);
}

void stream_core_on_dialled(stream_core_t *s, int status, int os_err,
                            const char *resolved, const char *why,
                            uint64_t now)
{
  stream_core_stop_dialling(s);
  if(s->state != STREAM_DIAL)
    return;
  if(status) {
    dial_failed(s, outcome_classify(status, os_err, OUTCOME_AT_DIAL), why);
    return;
  }
  s->connected = 1;
  snprintf(s->resolved, sizeof(s->resolved), "%s", resolved ? resolved : "");
  s->state = STREAM_OPEN;
  if(s->unacked) {
    /* The target is connected: only now is the stream acknowledged. */
    if(mux_stream_ack(s->tun->mux, s->id)) {
      stream_core_abort(s, OUTCOME_RESOURCE, "out of memory");
      return;
    }
    s->unacked = 0;
    s->tun->output = 1;
  }
  stream_upstream_write_pending(s, now);
  if(s->state != STREAM_OPEN)
    return;
  if(s->peer_fin)
    stream_upstream_shut(s);
  start_reading(s);
}

static void bad_target(stream_core_t *s, const char *why)
{
  STREAM_COUNT(s, bad_targets);
  stream_core_abort(s, OUTCOME_BAD_TARGET, why);
}

/* The target line is complete: the budgets, then the dial. */
static void got_target(stream_core_t *s)
{
  stream_core_tunnel_t *tun = s->tun;
  char text[TARGET_MAX_LINE + 8];
  int n = target_format(&s->setup->target, text, sizeof(text));
  if(n > 0) {
    text[n - 1] = 0;               /* the newline */
    s->target_text = strdup(text); /* NULL only logs as "-" */
  }
  s->deadline = UINT64_MAX;
  if(tun->max_dials && tun->dials >= tun->max_dials) {
    stream_core_refuse_resource(s, "max dials per tunnel");
    return;
  }
  if(!stream_quota_admit(s)) {
    stream_core_refuse_resource(s, "memory limit");
    return;
  }
  s->state = STREAM_DIAL;
  s->dialling = 1;
  tun->dials++;
  /* The dial copies what it needs from the target. */
  int rc = s->ops->dial(s->ud, &s->setup->target);
  free(s->setup);
  s->setup = NULL;
  if(rc) {
    stream_core_stop_dialling(s);
    dial_failed(s, outcome_classify(rc, 0, OUTCOME_AT_DIAL),
                "resolver start failed");
  }
}

void stream_core_tick(stream_core_t *s, uint64_t now)
{
  if(s->state != STREAM_TARGET || now < s->deadline)
    return;
  STREAM_COUNT(s, target_timeouts);
  stream_core_abort(s, OUTCOME_LINE_TIMEOUT, "no target line");
}

/* ---- mux events ---- */

void stream_core_on_data(stream_core_t *s, const uint8_t *p, size_t n,
                         int transient, uint64_t now)
{
  if(s->state == STREAM_DONE || s->aborted)
    return;
  if(s->state == STREAM_TARGET) {
    size_t used = n;
    int rc = target_parse(&s->setup->tp, p, &used, &s->setup->target);
    /* The line's own bytes are consumed at once. */
    int crc = mux_stream_consumed(s->tun->mux, s->id, used);
    s->tun->output = 1;
    if(crc) {
      stream_core_mux_failed(s, "consumed", crc);
      stream_core_abort(s, OUTCOME_RESET, "window update failed");
      return;
    }
    if(rc == BEACON_EAGAIN)
      return;
    if(rc < 0) {
      bad_target(s, rc == BEACON_ETOOLONG ? "line too long"
                                          : "malformed target line");
      return;
    }
    got_target(s);
    if(s->state == STREAM_DONE)
      return;
    p += used;
    n -= used;
  }
  if(n)
    stream_upstream_data(s, p, n, transient, now);
}

void stream_core_on_fin(stream_core_t *s, uint64_t now)
{
  s->peer_fin = 1;
  if(s->state == STREAM_TARGET) {
    bad_target(s, "FIN before the target line");
    return;
  }
  /* The gathered payload goes before the FIN. */
  stream_upstream_gather_write(s, now);
  if(s->state == STREAM_OPEN && !s->pend_head)
    stream_upstream_shut(s);
}

void stream_core_on_reset(stream_core_t *s)
{
  s->aborted = 1;
  stream_core_set_outcome(s, OUTCOME_RESET, "by controller");
}

void stream_core_on_closed(stream_core_t *s, int tunnel_closing)
{
  s->mux_live = 0;
  /* Anything but a graceful close (both FINs) aborts the target side. */
  if(!(s->pump.fin_sent && s->peer_fin) || tunnel_closing) {
    s->aborted = 1;
    if(tunnel_closing)
      stream_core_set_outcome(s, OUTCOME_RESET, "tunnel closed");
  }
  stream_core_maybe_finish(s);
}

/* ---- life ---- */

int stream_core_init(stream_core_t *s, stream_core_tunnel_t *tun, uint32_t id,
                     const stream_core_ops_t *ops, void *ud, uint64_t now)
{
  memset(s, 0, sizeof(*s));
  s->setup = malloc(sizeof(*s->setup));
  if(!s->setup)
    return BEACON_ENOMEM;
  target_parser_init(&s->setup->tp);
  s->tun = tun;
  s->ops = ops;
  s->ud = ud;
  s->id = id;
  s->state = STREAM_TARGET;
  s->mux_live = 1;
  pump_init(&s->pump, id);
  s->unacked = tun->confirm_connect;
  s->deadline = now + tun->target_timeout_ms;
  if(tun->metrics) {
    atomic_fetch_add(&tun->metrics->streams_open, 1);
    atomic_fetch_add(&tun->metrics->streams_total, 1);
  }
  return s->unacked ? MUX_ACCEPT_DEFER : 0;
}

void stream_core_free(stream_core_t *s)
{
  if(s->ngather)
    stream_upstream_gather_drop(s);
  stream_core_stop_dialling(s);
  while(s->pend_head) {
    stream_core_chunk_t *c = s->pend_head;
    s->pend_head = c->next;
    free(c);
  }
  s->pend_tail = NULL;
  pump_free(&s->pump);
  free(s->setup);
  s->setup = NULL;
  free(s->target_text);
  s->target_text = NULL;
  stream_quota_release_all(s);
  if(s->tun->metrics)
    atomic_fetch_sub(&s->tun->metrics->streams_open, 1);
}
