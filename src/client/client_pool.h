/*
 * client_pool.h - an internal libbeacon call for the CLI: hop 0's relay
 * pool as the beacon command sets it up and reads it (beacon forward's
 * per-relay metrics and /healthz, --pool-size). Implemented by
 * pool_status.c; the CLI includes this and client_stream.h from client/,
 * never client_int.h (tests/check_includes.py).
 */
#ifndef BEACON_CLIENT_POOL_VIEW_H
#define BEACON_CLIENT_POOL_VIEW_H

#include <stdint.h>

#include "beacon/beacon.h"
#include "client/pool.h"
#include "target/target.h"

enum client_member_state {
  MEMBER_IDLE = 0,   /* never connected, or down with no retry planned */
  MEMBER_CONNECTING, /* a chain is being set up */
  MEMBER_UP,
  MEMBER_STALLED,  /* up, but a stream open went unanswered */
  MEMBER_DRAINING, /* Go Away: live streams finish, no new ones */
  MEMBER_DOWN      /* failed; retry_at says when it reconnects */
};

/* "host:port", or "host:port/address" for the second and later
 * addresses of a name (members.c). */
#define CLIENT_MEMBER_NAME_MAX (TARGET_MAX_LINE + 4 + 48)

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
 * returns how many members hop 0 has. Members fleet discovery removed
 * are left out. */
int client_pool_snapshot(beacon_tunnel_t *t, client_member_info_t *out,
                         int cap);
/* "idle", "connecting", "up", "stalled", "draining", "down". */
const char *client_member_state_name(int state);
/* ok: some member is up and none is known bad; degraded: some are up,
 * some known bad; down: none is up (not connected yet included). */
int client_pool_health(const client_member_info_t *m, int n);

#endif
