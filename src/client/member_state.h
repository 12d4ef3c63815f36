/*
 * member_state.h - one member of hop 0's pool and its chain
 * (member_state.c): state changes, starting a chain, and what the
 * chain's changes do to the member.
 */
#ifndef BEACON_CLIENT_MEMBER_STATE_H
#define BEACON_CLIENT_MEMBER_STATE_H

#include "client/client_int.h"

static inline uint64_t client_member_now(beacon_tunnel_t *t)
{
  return uv_now(&t->loop);
}

/* Runs the pool's service (members.c) after delay ms. */
void client_members_arm(beacon_tunnel_t *t, uint64_t delay);
/* Members a warm pool keeps connected, and whether member i is one. */
int client_warm_set_size(const beacon_tunnel_t *t);
int client_in_warm_set(const beacon_tunnel_t *t, int i);
/* Sets the state (and its reason, when why is not NULL) under the
 * tunnel's lock; a change is logged when the pool logs. */
void client_member_set_state(beacon_tunnel_t *t, client_member_t *m, int state,
                             const char *why);
/* The request failed on member: not tried there again this round. */
void client_member_note_failure(beacon_tunnel_t *t, client_req_t *req,
                                int member, const beacon_error_t *why);
/* A chain to member i, unless it has one. */
void client_member_start(beacon_tunnel_t *t, int i);
/* A chain came up, got Go Away, stalled or recovered, failed, or was
 * torn down. */
void client_members_chain_changed(beacon_tunnel_t *t, client_chain_t *s);
/* rotation.c: a second chain to member i, with the certificate loaded
 * now, that takes the member's place once it is up while the current
 * one drains (make before break). 0, or -1 when none was started. */
int client_members_renew(beacon_tunnel_t *t, int i);

#endif
