/*
 * members.h - hop 0's relay pool inside a tunnel (members.c): a chain
 * per member, health, reconnects, member choice and failover; and what
 * the beacon command reads of it (docs/ARCHITECTURE.md "Relay pools").
 */
#ifndef BEACON_CLIENT_MEMBERS_H
#define BEACON_CLIENT_MEMBERS_H

#include "client/client_int.h"

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

/* ---- for the beacon command (any thread) ---- */

/* Members of hop 0 kept connected (0: all) and whether member state
 * changes are logged; before beacon_tunnel_new(). */
void client_config_set_pool(beacon_config_t *cfg, int pool_size, int log);
/* Keeps every member connected from now on, a single relay too, and
 * the published counters fresh (beacon forward). */
void client_tunnel_warm(beacon_tunnel_t *t);

typedef struct client_member_info {
  char name[CLIENT_MEMBER_NAME_MAX];
  int state;        /* enum client_member_state */
  unsigned attempt; /* failures since it last stayed up */
  uint64_t rtt_ms;
  uint32_t streams;
  uint64_t failovers, reconnects;
} client_member_info_t;

enum client_pool_health { POOL_OK = 0, POOL_DEGRADED, POOL_DOWN };

/* Copies up to cap members' state (taken under the tunnel's lock);
 * returns how many members hop 0 has. */
int client_pool_snapshot(beacon_tunnel_t *t, client_member_info_t *out,
                         int cap);
/* "idle", "connecting", "up", "stalled", "draining", "down". */
const char *client_member_state_name(int state);
/* ok: some member is up and none is known bad; degraded: some are up,
 * some known bad; down: none is up (not connected yet included). */
int client_pool_health(const client_member_info_t *m, int n);

#endif
