/*
 * conn_turn.h - output coalesced to the end of a loop turn, the same for
 * both adapters: an event only marks its owner (a relay tunnel, a
 * libbeacon tunnel) with conn_turn_mark(), and the turn's check handle
 * flushes every marked owner once, after all of the turn's reads, so
 * many small events become one TLS record and one write.
 *
 * An active idle handle keeps the loop from blocking in poll while
 * owners are marked, so the check runs at the end of this very turn.
 * Owners marked while flushing wait for the next turn (the idle handle
 * keeps that one from blocking too).
 */
#ifndef BEACON_CONN_TURN_H
#define BEACON_CONN_TURN_H

#include <uv.h>

#include "common/list.h"

/* Embedded in the owner; blank (conn_turn_item_init) before first use. */
typedef struct conn_turn_item {
  list_link_t link; /* in the turn's marked list while marked */
  int marked;
} conn_turn_item_t;

typedef struct conn_turn conn_turn_t;
/* One marked item's flush; the item is already unmarked, so the
 * callback may mark it again (it then waits for the next turn) or free
 * its owner. */
typedef void (*conn_turn_flush_cb)(conn_turn_t *turn, conn_turn_item_t *item);

struct conn_turn {
  uv_check_t check;
  uv_idle_t idle;
  list_link_t marked;
  conn_turn_flush_cb flush;
  /* Optional: the owner's other end-of-turn work, run before the
   * flushes (accepting, reaping). */
  void (*before)(conn_turn_t *turn);
  /* Optional: 1 when that work has more for the next turn, which must
   * then not block either. */
  int (*more)(conn_turn_t *turn);
  void *ud;
  int closed; /* no more wakes */
};

void conn_turn_item_init(conn_turn_item_t *item);
/* Starts the check handle on loop (active: an owner whose loop may end
 * while the check runs unrefs it). 0 or a libuv code. */
int conn_turn_init(conn_turn_t *turn, uv_loop_t *loop,
                   conn_turn_flush_cb flush, void *ud);
/* item has output: flushed at the end of this turn. */
void conn_turn_mark(conn_turn_t *turn, conn_turn_item_t *item);
/* Forgets a mark (the owner flushed by itself, or is going away). */
void conn_turn_unmark(conn_turn_item_t *item);
/* The owner's own work waits (see `more`): this turn must not block. */
void conn_turn_wake(conn_turn_t *turn);
/* Closes both handles (cb for each, may be NULL); no wakes after. */
void conn_turn_close(conn_turn_t *turn, uv_close_cb cb);

#endif
