/*
 * members.h - hop 0's relay pool inside a tunnel (members.c): a chain
 * per member, health, reconnects, member choice and failover; and what
 * the beacon command reads of it (docs/ARCHITECTURE.md "Relay pools").
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
void client_members_chain_changed(beacon_tunnel_t *t, client_chain_t *s);
/* The loop stops: pending requests end, the timer closes. */
void client_members_stop(beacon_tunnel_t *t);
/* rotation.c: a second chain to member i, with the certificate loaded
 * now, that takes the member's place once it is up while the current
 * one drains (make before break). 0, or -1 when none was started. */
int client_members_renew(beacon_tunnel_t *t, int i);
/* Called by the loop when another thread asked for a warm pool. */
void client_members_warm(beacon_tunnel_t *t);

/* What the beacon command sets and reads of the pool: client/client_pool.h. */

#endif
