/*
 * member_addresses.h - each address of a member's host name beyond the
 * first becomes a member of its own (member_addresses.c).
 */
#ifndef BEACON_CLIENT_MEMBER_ADDRESSES_H
#define BEACON_CLIENT_MEMBER_ADDRESSES_H

#include "client/client_int.h"

/* Looks up every member named by a host name (client_members_init). */
void client_member_addresses_start(beacon_tunnel_t *t);
/* The loop stops: lookups in flight are cancelled. */
void client_member_addresses_stop(beacon_tunnel_t *t);

#endif
