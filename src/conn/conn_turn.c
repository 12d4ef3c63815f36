/*
 * conn_turn.c - output coalesced to the end of a loop turn
 * (conn_turn.h).
 */
#include "conn/conn_turn.h"

void conn_turn_item_init(conn_turn_item_t *item)
{
  list_init(&item->link);
  item->marked = 0;
}

static void on_idle(uv_idle_t *h)
{
  (void)h; /* only there to keep poll from blocking */
}

void conn_turn_wake(conn_turn_t *turn)
{
  if(!turn->closed && !uv_is_active((uv_handle_t *)&turn->idle))
    uv_idle_start(&turn->idle, on_idle);
}

void conn_turn_mark(conn_turn_t *turn, conn_turn_item_t *item)
{
  if(item->marked)
    return;
  item->marked = 1;
  list_add(&turn->marked, &item->link);
  conn_turn_wake(turn);
}

void conn_turn_unmark(conn_turn_item_t *item)
{
  if(!item->marked)
    return;
  list_del(&item->link);
  item->marked = 0;
}

static void on_check(uv_check_t *h)
{
  conn_turn_t *turn = h->data;
  if(turn->before)
    turn->before(turn);
  /* Only the items marked so far: those marked while flushing wait for
   * the next turn. */
  list_link_t batch;
  list_init(&batch);
  if(!list_empty(&turn->marked)) {
    batch.next = turn->marked.next;
    batch.prev = turn->marked.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    list_init(&turn->marked);
  }
  while(!list_empty(&batch)) {
    conn_turn_item_t *item =
        LIST_CONTAINER(batch.next, conn_turn_item_t, link);
    list_del(&item->link);
    item->marked = 0;
    turn->flush(turn, item);
  }
  if(list_empty(&turn->marked) && !(turn->more && turn->more(turn)))
    uv_idle_stop(&turn->idle);
}

int conn_turn_init(conn_turn_t *turn, uv_loop_t *loop,
                   conn_turn_flush_cb flush, void *ud)
{
  list_init(&turn->marked);
  turn->flush = flush;
  turn->before = NULL;
  turn->more = NULL;
  turn->ud = ud;
  turn->closed = 0;
  int rc = uv_check_init(loop, &turn->check);
  if(rc)
    return rc;
  if((rc = uv_idle_init(loop, &turn->idle))) {
    uv_close((uv_handle_t *)&turn->check, NULL);
    return rc;
  }
  turn->check.data = turn->idle.data = turn;
  uv_check_start(&turn->check, on_check);
  return 0;
}

void conn_turn_close(conn_turn_t *turn, uv_close_cb cb)
{
  turn->closed = 1;
  uv_close((uv_handle_t *)&turn->check, cb);
  uv_close((uv_handle_t *)&turn->idle, cb);
}
