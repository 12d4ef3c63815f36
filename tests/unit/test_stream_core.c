/*
 * test_stream_core.c - the relay stream's sans-I/O core
 * (src/relay/stream_core.c) behind a relay mux wired back to back with a
 * controller mux through memory, its ops played by a fake target: the
 * target line and the bytes held while dialling, written in order; the
 * beacon/1 ACK after the connect and the RST reason codes; the window
 * given back only for written bytes; half-close both ways;
 * backpressure from the mux; the target line's deadline; the per-tunnel
 * dial cap and the memory quota, refused as relay_limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "mux/mux.h"
#include "relay/stream_end.h"
#include "relay/stream_core.h"
#include "common/outcome.h"

#define STREAMS 4

/* The fake target of one stream: what the core asked of it. */
typedef struct fake {
  stream_core_t core;
  int used, finished, dials, shut, reading;
  size_t take;             /* bytes a write takes at once (SIZE_MAX = all) */
  size_t queued;           /* bytes it holds, not yet written */
  uint8_t got[512 * 1024]; /* bytes written to the target, in order */
  size_t ngot;
  char target[300];
} fake_t;

typedef struct quota {
  size_t limit, charged;
  int admit;
} quota_t;

/* The controller's side and the relay's. */
typedef struct pair {
  mux_t *cl, *rl;
  stream_core_tunnel_t tun;
  stream_gather_t gather;
  relay_metrics_t metrics;
  stream_quota_t sq;
  quota_t q;
  fake_t f[STREAMS];
  uint64_t now;
  /* controller side */
  uint32_t cl_reset_code;
  int cl_reset, cl_fin, cl_acked;
  uint8_t cl_got[1 << 20];
  size_t cl_ngot;
} pair_t;

static pair_t P;

/* ---- the fake target (the core's ops) ---- */

static int op_dial(void *ud, const target_t *t)
{
  fake_t *f = ud;
  f->dials++;
  snprintf(f->target, sizeof(f->target), "%s:%u", t->host, t->port);
  return 0;
}

static int64_t op_write(void *ud, const stream_core_iov_t *iov, unsigned n,
                        char *why, size_t why_len)
{
  fake_t *f = ud;
  size_t total = 0;
  for(unsigned i = 0; i < n; i++) {
    assert_true(f->ngot + total + iov[i].n <= sizeof(f->got));
    memcpy(f->got + f->ngot + total, iov[i].p, iov[i].n);
    total += iov[i].n;
  }
  /* A fake socket: everything lands in got; "took" is what it reports
   * written now, the rest counts as queued until test code says so. */
  size_t took = f->queued ? 0 : (total < f->take ? total : f->take);
  f->ngot += total;
  f->queued += total - took;
  return (int64_t)took;
}

static int op_shut_write(void *ud)
{
  ((fake_t *)ud)->shut++;
  return 0;
}

static int op_read(void *ud, int on)
{
  ((fake_t *)ud)->reading = on;
  return 0;
}

static void op_finished(void *ud)
{
  ((fake_t *)ud)->finished++;
}

static const stream_core_ops_t ops = {.dial = op_dial,
                                      .write = op_write,
                                      .shut_write = op_shut_write,
                                      .read = op_read,
                                      .finished = op_finished};

/* ---- the quota ---- */

static int q_admit(void *ud)
{
  return ((quota_t *)ud)->admit;
}

static int q_hold(void *ud, size_t n)
{
  quota_t *q = ud;
  q->charged += n;
  return q->charged > q->limit ? -1 : 0;
}

static void q_release(void *ud, size_t n)
{
  quota_t *q = ud;
  assert_true(n <= q->charged);
  q->charged -= n;
}

/* ---- the muxes ---- */

static int rl_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  for(int i = 0; i < STREAMS; i++) {
    fake_t *f = &P.f[i];
    if(f->used)
      continue;
    memset(f, 0, sizeof(*f));
    f->take = SIZE_MAX;
    int rc = stream_core_init(&f->core, &P.tun, id, &ops, f, P.now);
    if(rc < 0)
      return rc;
    f->used = 1;
    *sud = f;
    return rc;
  }
  return BEACON_ELIMIT;
}

static void rl_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t n, void *ud)
{
  stream_core_on_data(&((fake_t *)sud)->core, d, n, 1, P.now);
}

static void rl_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  stream_core_on_fin(&((fake_t *)sud)->core, P.now);
}

static void rl_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  stream_core_on_reset(&((fake_t *)sud)->core);
}

static void rl_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  stream_core_on_writable(&((fake_t *)sud)->core);
}

static void rl_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  stream_core_on_closed(&((fake_t *)sud)->core, 0);
}

static const mux_callbacks_t rl_cbs = {
    .on_stream_open = rl_open,
    .on_data = rl_data,
    .on_fin = rl_fin,
    .on_reset = rl_reset,
    .on_writable = rl_writable,
    .on_stream_closed = rl_closed,
};

static void cl_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t n, void *ud)
{
  memcpy(P.cl_got + P.cl_ngot, d, n);
  P.cl_ngot += n;
}

static void cl_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  P.cl_reset = 1;
  P.cl_reset_code = mux_reset_code(m);
}

static void cl_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  P.cl_fin = 1;
}

static void cl_ack(mux_t *m, uint32_t id, void *sud, void *ud)
{
  P.cl_acked = 1;
}

static const mux_callbacks_t cl_cbs = {
    .on_data = cl_data,
    .on_reset = cl_reset,
    .on_fin = cl_fin,
    .on_stream_ack = cl_ack,
};

/* Moves a's output into b, as one mux_recv() per chunk; after a
 * mux_recv into the relay, the gathered pieces are written. */
static int deliver(mux_t *a, mux_t *b)
{
  const uint8_t *p;
  size_t n;
  int moved = 0;
  while((n = mux_pending(a, &p)) > 0) {
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, p, n);
    mux_advance(a, n);
    assert_int_equal(mux_recv(b, copy, n), (int)n);
    if(b == P.rl)
      stream_gather_flush(&P.gather, P.now);
    free(copy); /* the gathered pointers are dead now */
    moved = 1;
  }
  return moved;
}

static void settle(void)
{
  for(int i = 0; i < 1000; i++)
    if(!deliver(P.cl, P.rl) + !deliver(P.rl, P.cl) == 2)
      return;
  fail_msg("no quiescence");
}

static void setup(int confirm_connect)
{
  memset(&P, 0, sizeof(P));
  mux_config_t cc, rc;
  mux_config_default(&cc);
  mux_config_default(&rc);
  cc.is_client = 1;
  rc.is_client = 0;
  rc.window_budget = 0; /* fixed 256 KiB windows, as the relay sets */
  rc.max_window = 0;
  rc.accept_backlog = STREAMS; /* beacon/1 streams wait for their ACK */
  P.now = 1000;
  P.cl = mux_new(&cc, &cl_cbs, &P, P.now);
  P.rl = mux_new(&rc, &rl_cbs, &P, P.now);
  assert_non_null(P.cl);
  assert_non_null(P.rl);
  P.q = (quota_t){.limit = SIZE_MAX, .admit = 1};
  P.sq = (stream_quota_t){q_admit, q_hold, q_release, &P.q};
  P.tun = (stream_core_tunnel_t){.mux = P.rl,
                                 .metrics = &P.metrics,
                                 .quota = &P.sq,
                                 .target_timeout_ms = 10000,
                                 .max_dials = 2,
                                 .confirm_connect = confirm_connect,
                                 .gather = &P.gather};
}

static void teardown(void)
{
  for(int i = 0; i < STREAMS; i++)
    if(P.f[i].used)
      stream_core_free(&P.f[i].core);
  assert_int_equal(P.q.charged, 0);
  assert_int_equal(P.tun.held_up, 0);
  assert_int_equal(P.tun.dials, 0);
  mux_free(P.cl);
  mux_free(P.rl);
}

/* Opens a controller stream and sends bytes on it. */
static uint32_t open_send(const char *bytes, size_t n)
{
  int64_t id = mux_open(P.cl, NULL);
  assert_true(id > 0);
  if(n)
    assert_int_equal(
        mux_stream_write(P.cl, (uint32_t)id, (const uint8_t *)bytes, n), n);
  settle();
  return (uint32_t)id;
}

static fake_t *fake_of(uint32_t id)
{
  for(int i = 0; i < STREAMS; i++)
    if(P.f[i].used && P.f[i].core.id == id)
      return &P.f[i];
  fail_msg("no stream %u", id);
  return NULL;
}

/* ---- tests ---- */

/* The target line, in two pieces, then payload in the same frame as
 * its end: held (a copy) while dialling, written first once connected;
 * beacon/1's ACK only after the connect. */
static void test_line_dial_and_held_bytes(void **state)
{
  (void)state;
  setup(1);
  uint32_t id = open_send("exam", 4);
  fake_t *f = fake_of(id);
  assert_int_equal(f->core.state, STREAM_TARGET);
  assert_int_equal(
      mux_stream_write(P.cl, id, (const uint8_t *)"ple.org:80\nHEAD", 15), 15);
  settle();
  assert_int_equal(f->core.state, STREAM_DIAL);
  assert_int_equal(f->dials, 1);
  assert_string_equal(f->target, "example.org:80");
  assert_string_equal(f->core.target_text, "example.org:80");
  assert_int_equal(f->core.pend_bytes, 4);
  assert_int_equal(f->core.held, 4);
  assert_int_equal(P.q.charged, 4);
  assert_int_equal(P.tun.dials, 1);
  assert_false(P.cl_acked);
  stream_core_on_dialled(&f->core, 0, 0, "192.0.2.1:80", NULL, P.now);
  settle();
  assert_true(P.cl_acked);
  assert_int_equal(P.tun.dials, 0);
  assert_int_equal(f->core.state, STREAM_OPEN);
  assert_string_equal(f->core.resolved, "192.0.2.1:80");
  assert_true(f->reading);
  assert_int_equal(f->ngot, 4);
  assert_memory_equal(f->got, "HEAD", 4);
  assert_int_equal(f->core.held, 0);
  /* later payload: gathered during mux_recv, one write afterwards */
  assert_int_equal(
      mux_stream_write(P.cl, id, (const uint8_t *)" / HTTP/1.0", 11), 11);
  settle();
  assert_int_equal(f->ngot, 15);
  assert_memory_equal(f->got, "HEAD / HTTP/1.0", 15);
  assert_int_equal(f->core.bytes_up, 15);
  assert_int_equal(P.metrics.bytes_up, 15);
  teardown();
}

/* Bytes the target did not take stay held, and their window is given
 * back only once written: the controller's send window shows it. */
static void test_window_back_only_when_written(void **state)
{
  (void)state;
  static uint8_t payload[MUX_INITIAL_WINDOW];
  setup(0);
  uint32_t id = open_send("h:1\n", 4);
  fake_t *f = fake_of(id);
  stream_core_on_dialled(&f->core, 0, 0, "127.0.0.1:1", NULL, P.now);
  f->take = 1000; /* the target takes 1000 bytes, then nothing */
  size_t sent = 0;
  int64_t w;
  while((w = mux_stream_write(P.cl, id, payload, sizeof(payload) - sent)) >
        0) {
    sent += (size_t)w;
    settle();
  }
  /* the window, less the target line's 4 bytes (under half a window:
   * not given back yet), is all the controller could send */
  assert_int_equal(sent, MUX_INITIAL_WINDOW - 4);
  assert_int_equal(f->core.queued, sent - 1000);
  assert_int_equal(f->core.held, sent - 1000);
  assert_int_equal(P.q.charged, sent - 1000);
  stream_core_on_target_written(&f->core, f->queued, P.now);
  f->queued = 0;
  settle();
  assert_int_equal(f->core.queued, 0);
  assert_int_equal(P.q.charged, 0);
  assert_int_equal(f->core.bytes_up, sent);
  /* written: the window is back */
  assert_true(mux_stream_write(P.cl, id, payload, sizeof(payload)) > 0);
  teardown();
}

/* Controller FIN: the target's write side is shut after the bytes;
 * target EOF: FIN to the controller; both: finished, outcome ok. */
static void test_half_close_both_ways(void **state)
{
  (void)state;
  setup(0);
  uint32_t id = open_send("h:1\nabc", 7);
  fake_t *f = fake_of(id);
  assert_int_equal(mux_stream_close(P.cl, id), 0);
  settle();
  assert_int_equal(f->shut, 0); /* dialling: nothing to shut yet */
  stream_core_on_dialled(&f->core, 0, 0, "127.0.0.1:1", NULL, P.now);
  assert_int_equal(f->shut, 1);
  assert_memory_equal(f->got, "abc", 3);
  stream_core_on_target_shut(&f->core);
  stream_core_on_target_read(&f->core, (const uint8_t *)"reply", 5);
  stream_core_on_target_eof(&f->core);
  assert_false(f->reading);
  settle();
  assert_int_equal(P.cl_ngot, 5);
  assert_memory_equal(P.cl_got, "reply", 5);
  assert_true(P.cl_fin);
  assert_int_equal(f->finished, 1);
  assert_int_equal(f->core.outcome, OUTCOME_OK);
  assert_string_equal(outcome_word(f->core.outcome), "ok");
  assert_int_equal(f->core.bytes_down, 5);
  teardown();
}

/* A target read larger than the window: the rest is stashed, reading
 * stops, and resumes once the controller gives the window back. */
static void test_backpressure(void **state)
{
  (void)state;
  static uint8_t big[300 * 1024];
  for(size_t i = 0; i < sizeof(big); i++)
    big[i] = (uint8_t)(i * 7);
  setup(0);
  uint32_t id = open_send("h:1\n", 4);
  fake_t *f = fake_of(id);
  stream_core_on_dialled(&f->core, 0, 0, "127.0.0.1:1", NULL, P.now);
  assert_true(f->reading);
  /* a read asks about what the mux takes now */
  size_t room = stream_core_read_size(&f->core, sizeof(big));
  assert_true(room > 0 && room <= MUX_INITIAL_WINDOW);
  assert_int_equal(stream_core_read_size(&f->core, 100), 100);
  stream_core_on_target_read(&f->core, big, sizeof(big));
  assert_false(f->reading);
  size_t stash = sizeof(big) - f->core.bytes_down;
  assert_true(stash > 0);
  assert_int_equal(pump_stashed(&f->core.pump), stash);
  assert_int_equal(P.q.charged, stash);
  /* the controller reads and gives the window back until all came */
  for(int i = 0; i < 100 && P.cl_ngot < sizeof(big); i++) {
    size_t before = P.cl_ngot;
    settle();
    if(P.cl_ngot > before)
      assert_int_equal(mux_stream_consumed(P.cl, id, P.cl_ngot - before), 0);
  }
  settle();
  assert_int_equal(P.cl_ngot, sizeof(big));
  assert_memory_equal(P.cl_got, big, sizeof(big));
  assert_true(f->reading);
  assert_int_equal(P.q.charged, 0);
  teardown();
}

/* Reads sized to the mux's room leave nothing to stash; with no room
 * the adapter reads nothing, reading stops, and the window given back
 * starts it again. */
static void test_full_mux_reads_nothing(void **state)
{
  (void)state;
  static uint8_t big[1024 * 1024];
  setup(0);
  uint32_t id = open_send("h:1\n", 4);
  fake_t *f = fake_of(id);
  stream_core_on_dialled(&f->core, 0, 0, "127.0.0.1:1", NULL, P.now);
  size_t sent = 0;
  size_t n;
  while((n = stream_core_read_size(&f->core, sizeof(big))) > 0) {
    stream_core_on_target_read(&f->core, big, n);
    sent += n;
    assert_int_equal(pump_stashed(&f->core.pump), 0);
    settle();
  }
  assert_true(sent >= MUX_INITIAL_WINDOW - 16);
  assert_true(f->reading);
  stream_core_on_target_full(&f->core);
  assert_false(f->reading);
  assert_int_equal(P.q.charged, 0);
  settle();
  assert_int_equal(mux_stream_consumed(P.cl, id, P.cl_ngot), 0);
  settle();
  assert_true(f->reading);
  assert_true(stream_core_read_size(&f->core, sizeof(big)) > 0);
  teardown();
}

/* Refusals before the ACK carry their beacon/1 reason code. */
static void test_refusal_codes(void **state)
{
  (void)state;
  setup(1);
  uint32_t id = open_send("not a target\n", 13);
  fake_t *f = fake_of(id);
  settle();
  assert_true(P.cl_reset);
  assert_int_equal(P.cl_reset_code, OUTCOME_REASON_BAD_TARGET);
  assert_int_equal(f->core.outcome, OUTCOME_BAD_TARGET);
  assert_int_equal(f->finished, 1);
  assert_int_equal(P.metrics.bad_targets, 1);
  stream_core_free(&f->core);
  f->used = 0;

  P.cl_reset = 0;
  id = open_send("h:1\n", 4);
  f = fake_of(id);
  stream_core_on_dialled(&f->core, BEACON_EREFUSED, 0, NULL, "refused", P.now);
  settle();
  assert_true(P.cl_reset);
  assert_int_equal(P.cl_reset_code, OUTCOME_REASON_REFUSED);
  assert_int_equal(f->core.outcome, OUTCOME_REFUSED);
  assert_string_equal(f->core.reason, "refused");
  assert_int_equal(P.metrics.dial_fail[OUTCOME_LABEL_REFUSED], 1);
  stream_core_free(&f->core);
  f->used = 0;

  P.cl_reset = 0;
  id = open_send("h:1\n", 4);
  f = fake_of(id);
  stream_core_on_dialled(&f->core, BEACON_EPOLICY, 0, NULL, "policy", P.now);
  settle();
  assert_int_equal(P.cl_reset_code, OUTCOME_REASON_POLICY);
  assert_int_equal(f->core.outcome, OUTCOME_POLICY);
  assert_int_equal(P.metrics.policy_refusals, 1);
  teardown();
}

/* The target line's deadline runs on the caller's clock. */
static void test_target_line_deadline(void **state)
{
  (void)state;
  setup(1);
  uint32_t id = open_send("slow", 4);
  fake_t *f = fake_of(id);
  assert_int_equal(f->core.deadline, 1000 + 10000);
  stream_core_tick(&f->core, 10999);
  assert_int_equal(f->core.state, STREAM_TARGET);
  stream_core_tick(&f->core, 11000);
  settle();
  assert_int_equal(f->core.outcome, OUTCOME_LINE_TIMEOUT);
  assert_int_equal(P.cl_reset_code, OUTCOME_REASON_BAD_TARGET);
  assert_int_equal(P.metrics.target_timeouts, 1);
  teardown();
}

/* Over --max-dials-per-tunnel: refused relay_limit, logged resource;
 * a slot frees once a dial ends. */
static void test_dial_cap(void **state)
{
  (void)state;
  setup(1);
  uint32_t a = open_send("h:1\n", 4);
  uint32_t b = open_send("h:2\n", 4);
  assert_int_equal(P.tun.dials, 2);
  uint32_t c = open_send("h:3\n", 4);
  fake_t *fc = fake_of(c);
  assert_int_equal(fc->dials, 0);
  assert_true(P.cl_reset);
  assert_int_equal(P.cl_reset_code, OUTCOME_REASON_RELAY_LIMIT);
  assert_int_equal(fc->core.outcome, OUTCOME_RESOURCE);
  assert_string_equal(outcome_word(fc->core.outcome), "resource");
  assert_int_equal(P.metrics.streams_refused[RELAY_REFUSED_RESOURCE], 1);
  stream_core_free(&fc->core);
  fc->used = 0;
  stream_core_on_dialled(&fake_of(a)->core, BEACON_ETIMEDOUT, 0, NULL,
                         "timeout", P.now);
  assert_int_equal(P.tun.dials, 1);
  P.cl_reset = 0;
  (void)b;
  uint32_t d = open_send("h:4\n", 4);
  assert_int_equal(fake_of(d)->dials, 1);
  assert_int_equal(P.tun.dials, 2);
  teardown();
}

/* The quota: no admission, or no room for the bytes of a stream not yet
 * acknowledged, refuses it relay_limit; an accepted stream's bytes are
 * kept even over the limit. */
static void test_quota(void **state)
{
  (void)state;
  setup(1);
  P.q.admit = 0;
  uint32_t id = open_send("h:1\n", 4);
  fake_t *f = fake_of(id);
  assert_int_equal(f->dials, 0);
  assert_int_equal(P.cl_reset_code, OUTCOME_REASON_RELAY_LIMIT);
  assert_int_equal(f->core.outcome, OUTCOME_RESOURCE);
  stream_core_free(&f->core);
  f->used = 0;

  P.q.admit = 1;
  P.q.limit = 10;
  P.cl_reset = 0;
  id = open_send("h:1\n0123456789abcdef", 20);
  f = fake_of(id);
  assert_true(P.cl_reset);
  assert_int_equal(P.cl_reset_code, OUTCOME_REASON_RELAY_LIMIT);
  assert_string_equal(f->core.reason, "memory limit");
  assert_int_equal(P.q.charged, 0);
  stream_core_free(&f->core);
  f->used = 0;
  teardown();

  setup(0); /* accepted at once: its bytes are kept */
  P.q.limit = 10;
  id = open_send("h:1\n0123456789abcdef", 20);
  f = fake_of(id);
  assert_false(P.cl_reset);
  assert_int_equal(f->core.pend_bytes, 16);
  assert_int_equal(P.q.charged, 16);
  stream_core_on_dialled(&f->core, 0, 0, "127.0.0.1:1", NULL, P.now);
  assert_int_equal(f->ngot, 16);
  assert_memory_equal(f->got, "0123456789abcdef", 16);
  assert_int_equal(P.q.charged, 0);
  teardown();
}

/* Every byte a stream holds is charged (a window is credit, not held):
 * the copies made while dialling, the target's queued writes and the
 * downstream stash. The tunnel's held_up counts the upstream ones of all
 * its streams (what its reads added and its targets did not take yet,
 * which bounds its reads), not the stash; freeing gives all back. */
static void test_quota_held_bytes(void **state)
{
  (void)state;
  static uint8_t big[300 * 1024];
  setup(0);
  uint32_t a = open_send("h:1\n0123456789", 14);
  uint32_t b = open_send("h:2\nabcdef", 10);
  fake_t *fa = fake_of(a), *fb = fake_of(b);
  assert_int_equal(fa->core.held_up, 10);
  assert_int_equal(fb->core.held_up, 6);
  assert_int_equal(P.tun.held_up, 16);
  assert_int_equal(P.q.charged, 16);
  /* a's target takes 4 bytes at once: the adapter keeps 6 */
  fa->take = 4;
  stream_core_on_dialled(&fa->core, 0, 0, "127.0.0.1:1", NULL, P.now);
  assert_int_equal(fa->core.queued, 6);
  assert_int_equal(fa->core.held_up, 6);
  assert_int_equal(P.tun.held_up, 12);
  stream_core_on_target_written(&fa->core, 6, P.now);
  fa->queued = 0;
  assert_int_equal(P.tun.held_up, 6);
  /* the stash is charged but is not upstream */
  stream_core_on_target_read(&fa->core, big, sizeof(big));
  size_t stash = pump_stashed(&fa->core.pump);
  assert_true(stash > 0);
  assert_int_equal(fa->core.charged, stash);
  assert_int_equal(P.q.charged, stash + 6);
  assert_int_equal(P.tun.held_up, 6);
  /* b goes away while dialling: its bytes come back */
  stream_core_on_target_error(&fb->core, "gone");
  settle();
  stream_core_free(&fb->core);
  fb->used = 0;
  assert_int_equal(P.tun.held_up, 0);
  /* (the controller's window updates took some of the stash) */
  assert_int_equal(P.q.charged, pump_stashed(&fa->core.pump));
  teardown();
}

/* A controller RST: the target side is aborted, outcome reset. */
static void test_controller_reset(void **state)
{
  (void)state;
  setup(0);
  uint32_t id = open_send("h:1\n", 4);
  fake_t *f = fake_of(id);
  stream_core_on_dialled(&f->core, 0, 0, "127.0.0.1:1", NULL, P.now);
  assert_int_equal(mux_stream_reset(P.cl, id), 0);
  settle();
  assert_int_equal(f->finished, 1);
  assert_int_equal(f->core.outcome, OUTCOME_RESET);
  assert_string_equal(f->core.reason, "by controller");
  teardown();
}

/* A revoked tunnel resets an acknowledged stream with a code all the
 * same (stream_core_abort_code): beacon/1 readers see `revoked`, where
 * a plain abort after the ACK carries 0. */
static void test_abort_code_after_ack(void **state)
{
  (void)state;
  setup(1);
  uint32_t id = open_send("h:1\n", 4);
  fake_t *f = fake_of(id);
  settle();
  stream_core_on_dialled(&f->core, 0, 0, "127.0.0.1:1", NULL, P.now);
  settle();
  assert_true(P.cl_acked);
  stream_core_abort_code(&f->core, OUTCOME_REVOKED, "revoked",
                         OUTCOME_REASON_REVOKED);
  settle();
  assert_true(P.cl_reset);
  assert_int_equal(P.cl_reset_code, OUTCOME_REASON_REVOKED);
  assert_int_equal(f->finished, 1);
  assert_int_equal(f->core.outcome, OUTCOME_REVOKED);
  assert_string_equal(f->core.reason, "revoked");
  teardown();
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_line_dial_and_held_bytes),
      cmocka_unit_test(test_window_back_only_when_written),
      cmocka_unit_test(test_half_close_both_ways),
      cmocka_unit_test(test_backpressure),
      cmocka_unit_test(test_full_mux_reads_nothing),
      cmocka_unit_test(test_refusal_codes),
      cmocka_unit_test(test_target_line_deadline),
      cmocka_unit_test(test_dial_cap),
      cmocka_unit_test(test_quota),
      cmocka_unit_test(test_quota_held_bytes),
      cmocka_unit_test(test_controller_reset),
      cmocka_unit_test(test_abort_code_after_ack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
