/*
 * worker.h - the relay's worker threads (worker.c).
 */
#ifndef BEACON_RELAY_WORKER_H
#define BEACON_RELAY_WORKER_H

#include "relay/relay_int.h"

/* Sets up w's loop on its bound socket (w->fd) and starts its thread.
 * A libuv error code on failure. The thread drains when r->draining is
 * set and w->wake is sent, and reports through r->done_async. */
BEACON_MUST_USE int relay_worker_start(relay_worker_t *w);

#endif
