/*
 * test_conn_turn.c - output coalesced to the end of a loop turn
 * (src/conn/conn_turn.c) on a real libuv loop: marks made during a turn
 * are flushed once each at its end, without the loop blocking; a mark
 * made while flushing waits for the next turn; an unmarked item is not
 * flushed; the owner's `before` runs first each turn and `more` keeps
 * the next turn from blocking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conn/conn_turn.h"

typedef struct owner {
  conn_turn_item_t item;
  int flushed;
  int remark; /* mark again from inside its flush, this many times */
  int seen_turn;
} owner_t;

typedef struct rig {
  uv_loop_t loop;
  conn_turn_t turn;
  uv_timer_t blocker; /* far in the future: a loop that blocks hangs */
  int turns;          /* `before` calls */
  int more;
  owner_t a, b;
} rig_t;

static void before(conn_turn_t *turn)
{
  ((rig_t *)turn->ud)->turns++;
}

static int more(conn_turn_t *turn)
{
  return ((rig_t *)turn->ud)->more;
}

static void flush(conn_turn_t *turn, conn_turn_item_t *item)
{
  rig_t *r = turn->ud;
  owner_t *o = LIST_CONTAINER(item, owner_t, item);
  assert_false(item->marked);
  o->flushed++;
  o->seen_turn = r->turns;
  if(o->remark > 0) {
    o->remark--;
    conn_turn_mark(turn, item);
  }
}

static void on_blocker(uv_timer_t *t)
{
  fail_msg("the loop blocked although output was marked");
}

static void rig_open(rig_t *r)
{
  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_int_equal(conn_turn_init(&r->turn, &r->loop, flush, r), 0);
  r->turn.before = before;
  r->turn.more = more;
  conn_turn_item_init(&r->a.item);
  conn_turn_item_init(&r->b.item);
  uv_timer_init(&r->loop, &r->blocker);
  uv_timer_start(&r->blocker, on_blocker, 60000, 0);
}

static void rig_close(rig_t *r)
{
  uv_close((uv_handle_t *)&r->blocker, NULL);
  conn_turn_close(&r->turn, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r->loop), 0);
}

static int idle_active(rig_t *r)
{
  return uv_is_active((uv_handle_t *)&r->turn.idle);
}

static void test_once_per_turn(void **state)
{
  rig_t r;
  rig_open(&r);
  conn_turn_mark(&r.turn, &r.a.item);
  conn_turn_mark(&r.turn, &r.a.item); /* twice: one flush */
  conn_turn_mark(&r.turn, &r.b.item);
  assert_true(idle_active(&r));
  uv_run(&r.loop, UV_RUN_ONCE); /* must not block: the idle handle */
  assert_int_equal(r.a.flushed, 1);
  assert_int_equal(r.b.flushed, 1);
  assert_int_equal(r.turns, 1);
  assert_false(idle_active(&r)); /* nothing left: the next may block */
  rig_close(&r);
}

static void test_mark_while_flushing_waits(void **state)
{
  rig_t r;
  rig_open(&r);
  r.a.remark = 2;
  conn_turn_mark(&r.turn, &r.a.item);
  uv_run(&r.loop, UV_RUN_ONCE);
  assert_int_equal(r.a.flushed, 1); /* not again within the same turn */
  assert_true(idle_active(&r));
  uv_run(&r.loop, UV_RUN_ONCE);
  assert_int_equal(r.a.flushed, 2);
  assert_int_equal(r.a.seen_turn, 2);
  uv_run(&r.loop, UV_RUN_ONCE);
  assert_int_equal(r.a.flushed, 3);
  assert_false(idle_active(&r));
  rig_close(&r);
}

static void test_unmark(void **state)
{
  rig_t r;
  rig_open(&r);
  conn_turn_mark(&r.turn, &r.a.item);
  conn_turn_mark(&r.turn, &r.b.item);
  conn_turn_unmark(&r.a.item);
  conn_turn_unmark(&r.a.item); /* harmless when not marked */
  uv_run(&r.loop, UV_RUN_ONCE);
  assert_int_equal(r.a.flushed, 0);
  assert_int_equal(r.b.flushed, 1);
  rig_close(&r);
}

static void test_more_keeps_turning(void **state)
{
  rig_t r;
  rig_open(&r);
  r.more = 1;
  conn_turn_wake(&r.turn); /* the owner's own work, nothing marked */
  uv_run(&r.loop, UV_RUN_ONCE);
  assert_int_equal(r.turns, 1);
  assert_true(idle_active(&r)); /* `more` said so */
  r.more = 0;
  uv_run(&r.loop, UV_RUN_ONCE);
  assert_int_equal(r.turns, 2);
  assert_false(idle_active(&r));
  rig_close(&r);
}

static void test_no_wake_after_close(void **state)
{
  rig_t r;
  rig_open(&r);
  uv_close((uv_handle_t *)&r.blocker, NULL);
  conn_turn_close(&r.turn, NULL);
  conn_turn_mark(&r.turn, &r.a.item); /* an owner late to notice */
  assert_false(idle_active(&r));
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(r.a.flushed, 0);
  assert_int_equal(uv_loop_close(&r.loop), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_once_per_turn),
      cmocka_unit_test(test_mark_while_flushing_waits),
      cmocka_unit_test(test_unmark),
      cmocka_unit_test(test_more_keeps_turning),
      cmocka_unit_test(test_no_wake_after_close),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
