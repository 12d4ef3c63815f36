/*
 * test_pump.c - the stream pump's sans-I/O core (src/conn/pump.c)
 * between two muxes wired back to back through memory, no sockets: the
 * stash when the window or the queue is full and the backpressure it
 * asks for, FIN after every byte whichever side half-closes first, the
 * window given back only for delivered bytes, and resets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "conn/pump.h"
#include "mux/mux.h"

/* What one side's mux callbacks saw. */
typedef struct side {
  mux_t *m;
  struct side *peer;
  uint32_t id; /* the one stream */
  pump_t pump; /* the client side's: local bytes into the stream */
  size_t got;  /* payload bytes received */
  int consume; /* give the window back at once */
  int fin, reset, closed, writable;
  size_t taken_on_writable;
} side_t;

static uint8_t big[1 << 20];

static int cb_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  ((side_t *)ud)->id = id;
  return 0;
}

static void cb_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t n, void *ud)
{
  side_t *s = ud;
  assert_memory_equal(d, big + s->got, n);
  s->got += n;
  if(s->consume)
    assert_int_equal(pump_to_local_done(&s->pump, m, n), 0);
}

static void cb_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  ((side_t *)ud)->fin = 1;
}

static void cb_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  ((side_t *)ud)->reset = 1;
}

/* The adapter's on_writable: the pump offers its stash again. */
static void cb_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  side_t *s = ud;
  s->writable++;
  int64_t took = pump_on_writable(&s->pump, m);
  assert_true(took >= 0);
  s->taken_on_writable += (size_t)took;
}

static void cb_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  ((side_t *)ud)->closed = 1;
}

static const mux_callbacks_t cbs = {
    .on_stream_open = cb_open,
    .on_data = cb_data,
    .on_fin = cb_fin,
    .on_reset = cb_reset,
    .on_writable = cb_writable,
    .on_stream_closed = cb_closed,
};

/* Moves everything pending from a's mux into b's; 1 when anything went. */
static int deliver(side_t *a, side_t *b)
{
  int moved = 0;
  const uint8_t *p;
  size_t n;
  while((n = mux_pending(a->m, &p)) > 0) {
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, p, n);
    mux_advance(a->m, n);
    assert_int_equal(mux_recv(b->m, copy, n), (int)n);
    free(copy);
    moved = 1;
  }
  return moved;
}

static void settle(side_t *cl, side_t *sv)
{
  for(int i = 0; i < 1000; i++)
    if(!deliver(cl, sv) + !deliver(sv, cl) == 2)
      return;
  fail_msg("no quiescence");
}

/* A client side with one open stream and its pump, a server side that
 * accepted it. */
static void setup_pair(side_t *cl, side_t *sv)
{
  memset(cl, 0, sizeof(*cl));
  memset(sv, 0, sizeof(*sv));
  mux_config_t cc, sc;
  mux_config_default(&cc);
  mux_config_default(&sc);
  cc.is_client = 1;
  cc.window_budget = sc.window_budget = 0; /* fixed 256 KiB windows */
  cc.max_window = sc.max_window = MUX_INITIAL_WINDOW;
  cl->m = mux_new(&cc, &cbs, cl, 0);
  sv->m = mux_new(&sc, &cbs, sv, 0);
  assert_non_null(cl->m);
  assert_non_null(sv->m);
  cl->peer = sv;
  sv->peer = cl;
  int64_t id = mux_open(cl->m, NULL);
  assert_true(id > 0);
  cl->id = (uint32_t)id;
  pump_init(&cl->pump, cl->id);
  settle(cl, sv);
  assert_int_equal(sv->id, cl->id);
  pump_init(&sv->pump, sv->id);
  for(size_t i = 0; i < sizeof(big); i++)
    big[i] = (uint8_t)(i * 7 + i / 251);
}

static void teardown_pair(side_t *cl, side_t *sv)
{
  pump_free(&cl->pump);
  pump_free(&sv->pump);
  mux_free(cl->m);
  mux_free(sv->m);
}

/* What the mux takes goes at once; reading goes on. */
static void test_all_taken(void **state)
{
  (void)state;
  side_t cl, sv;
  setup_pair(&cl, &sv);
  assert_true(pump_want_read(&cl.pump));
  assert_int_equal(pump_from_local(&cl.pump, cl.m, big, 1000), 1000);
  assert_true(pump_want_read(&cl.pump));
  assert_int_equal(pump_stashed(&cl.pump), 0);
  settle(&cl, &sv);
  assert_int_equal(sv.got, 1000);
  teardown_pair(&cl, &sv);
}

/* More than the window: the rest is stashed and reading stops; the
 * server delivers (window given back), on_writable offers the stash,
 * reading resumes; every byte arrives once, in order. */
static void test_stash_and_backpressure(void **state)
{
  (void)state;
  side_t cl, sv;
  setup_pair(&cl, &sv);
  size_t n = 3 * MUX_INITIAL_WINDOW / 2;
  int64_t took = pump_from_local(&cl.pump, cl.m, big, n);
  assert_true(took > 0 && (size_t)took < n);
  assert_int_equal(pump_stashed(&cl.pump), n - (size_t)took);
  assert_false(pump_want_read(&cl.pump));
  /* A read while stashed is the adapter's mistake. */
  assert_int_equal(pump_from_local(&cl.pump, cl.m, big, 1), BEACON_EINVAL);

  /* The server holds what it got: the window shuts, the stash stays. */
  settle(&cl, &sv);
  assert_int_equal(sv.got, MUX_INITIAL_WINDOW);
  assert_true(pump_stashed(&cl.pump) > 0);
  assert_false(pump_want_read(&cl.pump));

  /* Delivered locally: the window goes back, the stash empties. */
  assert_int_equal(pump_to_local_done(&sv.pump, sv.m, sv.got), 0);
  sv.consume = 1;
  settle(&cl, &sv);
  assert_int_equal(sv.got, n);
  assert_int_equal(pump_stashed(&cl.pump), 0);
  assert_true(cl.writable > 0);
  assert_int_equal((size_t)took + cl.taken_on_writable, n);
  assert_true(pump_want_read(&cl.pump));
  teardown_pair(&cl, &sv);
}

/* Local EOF while bytes are stashed: FIN waits until they went, so the
 * peer sees every byte before it. */
static void test_eof_after_stash(void **state)
{
  (void)state;
  side_t cl, sv;
  setup_pair(&cl, &sv);
  size_t n = MUX_INITIAL_WINDOW + 5000;
  assert_true(pump_from_local(&cl.pump, cl.m, big, n) > 0);
  assert_true(pump_stashed(&cl.pump) > 0);
  assert_int_equal(pump_local_eof(&cl.pump, cl.m), 0);
  assert_false(cl.pump.fin_sent);
  assert_false(pump_want_read(&cl.pump));
  settle(&cl, &sv);
  assert_false(sv.fin);
  sv.consume = 1;
  assert_int_equal(pump_to_local_done(&sv.pump, sv.m, sv.got), 0);
  settle(&cl, &sv);
  assert_int_equal(sv.got, n);
  assert_true(cl.pump.fin_sent);
  assert_true(sv.fin);
  assert_false(pump_want_read(&cl.pump)); /* input ended */
  teardown_pair(&cl, &sv);
}

/* Half-close one way, then the other: the stream ends normally in
 * either order. */
static void half_close(int local_first)
{
  side_t cl, sv;
  setup_pair(&cl, &sv);
  assert_int_equal(pump_from_local(&cl.pump, cl.m, big, 10), 10);
  if(local_first) {
    assert_int_equal(pump_local_eof(&cl.pump, cl.m), 0);
    assert_true(cl.pump.fin_sent);
    settle(&cl, &sv);
    assert_true(sv.fin);
    assert_false(sv.closed);
    /* The other direction still carries data. */
    assert_int_equal(mux_stream_write(sv.m, sv.id, big, 7), 7);
    assert_int_equal(pump_local_eof(&sv.pump, sv.m), 0);
  } else {
    assert_int_equal(pump_local_eof(&sv.pump, sv.m), 0);
    settle(&cl, &sv);
    assert_true(cl.fin);
    assert_false(cl.closed);
    assert_int_equal(pump_from_local(&cl.pump, cl.m, big + 10, 20), 20);
    assert_int_equal(pump_local_eof(&cl.pump, cl.m), 0);
  }
  /* A second EOF queues no second FIN. */
  assert_int_equal(pump_local_eof(&cl.pump, cl.m), 0);
  settle(&cl, &sv);
  assert_true(cl.closed);
  assert_true(sv.closed);
  assert_false(cl.reset || sv.reset);
  assert_int_equal(sv.got, local_first ? 10 : 30);
  teardown_pair(&cl, &sv);
}

static void test_half_close_local_first(void **state)
{
  (void)state;
  half_close(1);
}

static void test_half_close_peer_first(void **state)
{
  (void)state;
  half_close(0);
}

/* After a reset, or once the adapter lost the mux, the pump's calls
 * fail: the adapter resets its side. */
static void test_reset_and_gone(void **state)
{
  (void)state;
  side_t cl, sv;
  setup_pair(&cl, &sv);
  assert_int_equal(mux_stream_reset(sv.m, sv.id), 0);
  settle(&cl, &sv);
  assert_true(cl.reset);
  assert_true(cl.closed);
  assert_true(pump_from_local(&cl.pump, cl.m, big, 10) < 0);
  assert_true(pump_to_local_done(&cl.pump, cl.m, 10) < 0);
  assert_true(pump_local_eof(&cl.pump, cl.m) < 0);
  assert_int_equal(pump_from_local(&sv.pump, NULL, big, 1), BEACON_ECLOSED);
  assert_int_equal(pump_to_local_done(&sv.pump, NULL, 1), BEACON_ECLOSED);
  assert_int_equal(pump_local_eof(&sv.pump, NULL), BEACON_ECLOSED);
  teardown_pair(&cl, &sv);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_taken),
      cmocka_unit_test(test_stash_and_backpressure),
      cmocka_unit_test(test_eof_after_stash),
      cmocka_unit_test(test_half_close_local_first),
      cmocka_unit_test(test_half_close_peer_first),
      cmocka_unit_test(test_reset_and_gone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
