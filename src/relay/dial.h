/*
 * dial.h - resolving a target and connecting to it with Happy
 * Eyeballs, each address judged by the policy (dial.c).
 */
#ifndef BEACON_RELAY_DIAL_H
#define BEACON_RELAY_DIAL_H

#include "relay/relay_int.h"

relay_dial_t *relay_dial_start(uv_loop_t *loop, const target_t *tgt,
                               const policy_t *policy, uint64_t timeout_ms,
                               relay_metrics_t *m, relay_dial_cb cb, void *ud);
/* The callback is not called after this; resources go asynchronously. */
void relay_dial_cancel(relay_dial_t *d);
/* Closes a connection; c->on_closed runs from the close callback. */
void relay_conn_close(relay_conn_t *c);

#endif
