/*
 * tunnel_budget.h - a tunnel's account in the relay-wide memory and
 * descriptor budgets (budget.h, docs/SECURITY.md "Budgets"). The tunnel
 * joins in its handshake callback, leaves when it is freed; these are
 * the charges in between that relay_tunnel.c makes.
 */
#ifndef BEACON_RELAY_TUNNEL_BUDGET_H
#define BEACON_RELAY_TUNNEL_BUDGET_H

#include "relay/relay_int.h"

/* The mux's ledger (mux/mux.h): windows, stream state and the output
 * queue are charged to t->budget. */
mux_ledger_t relay_tunnel_ledger(relay_tunnel_t *t);
/* The quota t's stream cores charge what they hold to (stream_core.h);
 * admission is budget_admit_stream() in on_stream_open. */
stream_quota_t relay_tunnel_quota(relay_tunnel_t *t);
/* How many bytes t may read from its socket now (0: pause reading, the
 * controller's bytes wait in TCP). At most RELAY_TUNNEL_READ. */
size_t relay_tunnel_read_size(const relay_tunnel_t *t);
/* Charges the change in the ciphertext waiting for the controller. */
void relay_tunnel_charge_tls(relay_tunnel_t *t);
/* Refuses stream id, which budget_admit_stream() did not admit: reset
 * with relay_limit (beacon/1 code 7), counted as "resource" (the caller
 * logs it). What on_stream_open returns then. */
int relay_tunnel_refuse_resource(relay_tunnel_t *t, uint32_t id);
/* Logs stream id's refusal (reason: a budget's, or the session's word),
 * at most a line a second per tunnel with the count so far; budget: add
 * what the budgets hold. */
void relay_tunnel_log_refused(relay_tunnel_t *t, uint32_t id,
                              const char *reason, int budget);

#endif
