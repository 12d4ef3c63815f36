/*
 * members.h - hop 0's relay pool inside a tunnel (members.c): member
 * choice, waiting requests, reconnects and failover
 * (docs/ARCHITECTURE.md "Relay pools"). What the beacon command sets
 * and reads of the pool is in client_pool.h.
 */
#ifndef BEACON_CLIENT_MEMBERS_H
#define BEACON_CLIENT_MEMBERS_H

#include "client/client_int.h"
#include "client/client_pool.h"

/* Loop side (tunnel.c). */
void client_members_init(beacon_tunnel_t *t); /* after uv_loop_init */
void client_members_dispatch(beacon_tunnel_t *t, client_req_t *req);
void client_members_failover(beacon_tunnel_t *t, client_req_t *req,
                             client_chain_t *from, const beacon_error_t *why);
/* The loop stops: pending requests end, the timer closes. */
void client_members_stop(beacon_tunnel_t *t);
/* Called by the loop when another thread asked for a warm pool. */
void client_members_warm(beacon_tunnel_t *t);

/* What the beacon command sets and reads of the pool: client/client_pool.h. */

#endif
