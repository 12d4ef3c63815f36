/*
 * stream_core.c - one relay stream's sans-I/O core (stream_core.h).
 */
#include "relay/stream_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/result.h"

struct stream_core_setup {
  target_parser_t tp;
  target_t target;
};

/* Upstream bytes copied while the target is dialled. */
typedef struct stream_core_chunk {
  struct stream_core_chunk *next;
  size_t len;
  uint8_t data[];
} stream_core_chunk_t;

static void maybe_finish(stream_core_t *s);

static const char *const outcome_names[] = {
    [STREAM_OUTCOME_OK] = "ok",
    [STREAM_OUTCOME_REFUSED] = "refused",
    [STREAM_OUTCOME_DIAL_ERROR] = "dial_error",
    [STREAM_OUTCOME_TIMEOUT] = "timeout",
    [STREAM_OUTCOME_BAD_TARGET] = "bad_target",
    [STREAM_OUTCOME_RESET] = "reset",
    [STREAM_OUTCOME_RESOURCE] = "resource",
};

const char *stream_core_outcome_name(enum stream_outcome o)
{
  return (unsigned)o < sizeof(outcome_names) / sizeof(outcome_names[0])
             ? outcome_names[o]
             : "?";
}

#define COUNT(s, field)                                                       \
  do {                                                                        \
    if((s)->tun->metrics)                                                     \
      atomic_fetch_add(&(s)->tun->metrics->field, 1);                         \
  } while(0)

/* ---- the quota ---- */

/* Charges n more held bytes: 0, or -1 when over the limit (still
 * charged: the caller refuses or keeps them). */
static int quota_hold(stream_core_t *s, size_t n)
{
  const stream_quota_t *q = s->tun->quota;
  s->held += n;
  if(!q || !q->hold || !n)
    return 0;
  return q->hold(q->ud, n);
}

static void quota_release(stream_core_t *s, size_t n)
{
  const stream_quota_t *q = s->tun->quota;
  if(n > s->held)
    n = s->held;
  s->held -= n;
  if(q && q->release && n)
    q->release(q->ud, n);
}

static int quota_admit(stream_core_t *s)
{
  const stream_quota_t *q = s->tun->quota;
  return !q || !q->admit || q->admit(q->ud);
}

/* The downstream stash changed size: charge or release the change. An
 * accepted stream's stash is kept either way (it stops reading until
 * the mux took it). */
static void account_stash(stream_core_t *s, size_t before)
{
  size_t now = pump_stashed(&s->pump);
  if(now > before)
    (void)quota_hold(s, now - before);
  else if(now < before)
    quota_release(s, before - now);
}

/* ---- ending ---- */

static void stop_dialling(stream_core_t *s)
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
  stop_dialling(s);
  s->deadline = UINT64_MAX;
  s->ops->finished(s->ud);
}

static void set_outcome(stream_core_t *s, enum stream_outcome o,
                        const char *reason)
{
  if(s->outcome)
    return;
  s->outcome = o;
  if(reason)
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

/* Ends the stream with RST (before the beacon/1 ACK: with s->refusal)
 * and this outcome. */
static void stream_abort(stream_core_t *s, enum stream_outcome o,
                         const char *reason)
{
  set_outcome(s, o, reason);
  s->aborted = 1;
  if(s->mux_live && s->tun->mux) {
    /* on_closed runs before this returns. The mux forgets the stream
     * even when its RST found no memory; only the peer may not learn. */
    if(mux_stream_reset_code(s->tun->mux, s->id,
                             s->unacked ? s->refusal : 0)) {
      /* gone from the mux all the same: nothing to undo */
    }
    s->tun->output = 1;
  }
  s->mux_live = 0;
  maybe_finish(s);
}

static void maybe_finish(stream_core_t *s)
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
static void refuse_resource(stream_core_t *s, const char *why)
{
  COUNT(s, streams_refused_resource);
  s->refusal = TARGET_RESULT_RELAY_LIMIT;
  stream_abort(s, STREAM_OUTCOME_RESOURCE, why);
}

/* ---- upstream: controller to target ---- */

static void do_shutdown(stream_core_t *s)
{
  if(s->shut_sent || !s->connected || s->state == STREAM_DONE)
    return;
  s->shut_sent = 1;
  if(s->ops->shut_write(s->ud)) {
    s->shut_done = 1;
    stream_abort(s, STREAM_OUTCOME_RESET, "target shutdown failed");
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
    if(pump_to_local_done(&s->pump, s->tun->mux, n)) {
      stream_abort(s, STREAM_OUTCOME_RESET, "window update failed");
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
    stream_abort(s, STREAM_OUTCOME_RESET, why);
    return;
  }
  if((size_t)w < total) {
    s->queued += total - (size_t)w;
    (void)quota_hold(s, total - (size_t)w); /* accepted: kept */
  }
  if(w > 0)
    (void)account_up(s, (size_t)w, now);
}

/* Writes s's gathered pieces, in order, with one write op. */
static void gather_write(stream_core_t *s, uint64_t now)
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
      gather_write(g->piece[i].s, now);
  g->n = 0;
}

/* Forgets s's gathered pieces (it is going away). */
static void gather_drop(stream_core_t *s)
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
  if(quota_hold(s, n) && s->unacked) {
    quota_release(s, n);
    refuse_resource(s, "memory limit");
    return;
  }
  stream_core_chunk_t *c = malloc(sizeof(*c) + n);
  if(!c) {
    quota_release(s, n);
    stream_abort(s, STREAM_OUTCOME_RESET, "out of memory");
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
static void upstream(stream_core_t *s, const uint8_t *p, size_t n,
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
  gather_write(s, now);
  if(s->state == STREAM_OPEN)
    write_target(s, &(stream_core_iov_t){p, n}, 1, now);
}

void stream_core_on_target_written(stream_core_t *s, size_t n, uint64_t now)
{
  if(n > s->queued)
    n = s->queued;
  s->queued -= n;
  quota_release(s, n);
  if(s->state == STREAM_DONE)
    return;
  (void)account_up(s, n, now);
}

void stream_core_on_target_shut(stream_core_t *s)
{
  s->shut_done = 1;
  maybe_finish(s);
}

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
    stream_abort(s, STREAM_OUTCOME_RESET, "target read failed");
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
static void pump_failed(stream_core_t *s, int64_t rc)
{
  stream_abort(s, STREAM_OUTCOME_RESET,
               rc == BEACON_ENOMEM ? "out of memory" : NULL);
}

void stream_core_on_target_read(stream_core_t *s, const uint8_t *p, size_t n)
{
  if(s->state != STREAM_OPEN || !n)
    return;
  int64_t w = pump_from_local(&s->pump, live_mux(s), p, n);
  if(w < 0) {
    pump_failed(s, w);
    return;
  }
  account_stash(s, 0);
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
    pump_failed(s, rc);
    return;
  }
  s->tun->output = 1;
  maybe_finish(s);
}

void stream_core_on_target_error(stream_core_t *s, const char *why)
{
  if(s->state == STREAM_DONE)
    return;
  if(s->shut_sent)
    s->shut_done = 1;
  stream_abort(s, STREAM_OUTCOME_RESET, why);
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
    account_stash(s, before);
    if(w < 0) {
      pump_failed(s, w);
      return;
    }
    count_down(s, w);
  }
  start_reading(s);
}

size_t stream_core_read_size(const stream_core_t *s, size_t min, size_t cap)
{
  int64_t room = s->mux_live ? mux_stream_write_room(s->tun->mux, s->id) : 0;
  /* About what the mux takes now, so little is left over to copy and
   * keep per stream. A closed window still reads a little, which is
   * kept, and reading stops. */
  if(room < (int64_t)min)
    room = (int64_t)min;
  return (uint64_t)room < cap ? (size_t)room : cap;
}

/* ---- the dial ---- */

/* os_err is a libuv code: the negated errno on the systems we run on. */
static void count_dial_failure(stream_core_t *s, int status, int os_err)
{
  switch(status) {
  case BEACON_ENOTFOUND:
    COUNT(s, dial_fail_resolve);
    break;
  case BEACON_EPOLICY:
    COUNT(s, policy_refusals);
    break;
  case BEACON_EREFUSED:
    COUNT(s, dial_fail_refused);
    break;
  case BEACON_ETIMEDOUT:
    COUNT(s, dial_fail_timeout);
    break;
  default:
    if(os_err == -EHOSTUNREACH || os_err == -ENETUNREACH)
      COUNT(s, dial_fail_unreachable);
    else
      COUNT(s, dial_fail_other);
  }
}

/* What arrived during the dial goes first, in order: one write op per
 * STREAM_GATHER_MAX chunks. */
static void write_pending(stream_core_t *s, uint64_t now)
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
    quota_release(s, bytes);
  }
}

void stream_core_on_dialled(stream_core_t *s, int status, int os_err,
                            const char *resolved, const char *why,
                            uint64_t now)
{
  stop_dialling(s);
  if(s->state != STREAM_DIAL)
    return;
  if(status) {
    count_dial_failure(s, status, os_err);
    s->refusal = target_result_from_error(status);
    stream_abort(s,
                 status == BEACON_EPOLICY ? STREAM_OUTCOME_REFUSED
                                          : STREAM_OUTCOME_DIAL_ERROR,
                 why);
    return;
  }
  s->connected = 1;
  snprintf(s->resolved, sizeof(s->resolved), "%s", resolved ? resolved : "");
  s->state = STREAM_OPEN;
  if(s->unacked) {
    /* The target is connected: only now is the stream acknowledged. */
    if(mux_stream_ack(s->tun->mux, s->id)) {
      s->refusal = TARGET_RESULT_RELAY_LIMIT;
      stream_abort(s, STREAM_OUTCOME_RESET, "out of memory");
      return;
    }
    s->unacked = 0;
    s->tun->output = 1;
  }
  write_pending(s, now);
  if(s->state != STREAM_OPEN)
    return;
  if(s->peer_fin)
    do_shutdown(s);
  start_reading(s);
}

static void bad_target(stream_core_t *s, const char *why)
{
  COUNT(s, bad_targets);
  s->refusal = TARGET_RESULT_BAD_TARGET;
  stream_abort(s, STREAM_OUTCOME_BAD_TARGET, why);
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
    refuse_resource(s, "max dials per tunnel");
    return;
  }
  if(!quota_admit(s)) {
    refuse_resource(s, "memory limit");
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
    stop_dialling(s);
    COUNT(s, dial_fail_other);
    s->refusal = TARGET_RESULT_RELAY_LIMIT;
    stream_abort(s, STREAM_OUTCOME_DIAL_ERROR, "resolver start failed");
  }
}

void stream_core_tick(stream_core_t *s, uint64_t now)
{
  if(s->state != STREAM_TARGET || now < s->deadline)
    return;
  COUNT(s, target_timeouts);
  s->refusal = TARGET_RESULT_BAD_TARGET;
  stream_abort(s, STREAM_OUTCOME_TIMEOUT, "no target line");
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
      stream_abort(s, STREAM_OUTCOME_RESET, "window update failed");
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
    upstream(s, p, n, transient, now);
}

void stream_core_on_fin(stream_core_t *s, uint64_t now)
{
  s->peer_fin = 1;
  if(s->state == STREAM_TARGET) {
    bad_target(s, "FIN before the target line");
    return;
  }
  /* The gathered payload goes before the FIN. */
  gather_write(s, now);
  if(s->state == STREAM_OPEN && !s->pend_head)
    do_shutdown(s);
}

void stream_core_on_reset(stream_core_t *s)
{
  s->aborted = 1;
  set_outcome(s, STREAM_OUTCOME_RESET, "by controller");
}

void stream_core_on_closed(stream_core_t *s, int tunnel_closing)
{
  s->mux_live = 0;
  /* Anything but a graceful close (both FINs) aborts the target side. */
  if(!(s->pump.fin_sent && s->peer_fin) || tunnel_closing) {
    s->aborted = 1;
    if(tunnel_closing)
      set_outcome(s, STREAM_OUTCOME_RESET, "tunnel closed");
  }
  maybe_finish(s);
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
    gather_drop(s);
  stop_dialling(s);
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
  quota_release(s, s->held);
  if(s->tun->metrics)
    atomic_fetch_sub(&s->tun->metrics->streams_open, 1);
}
