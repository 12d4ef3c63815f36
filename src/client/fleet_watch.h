/*
 * fleet_watch.h - fleet discovery for hop 0's pool (fleet_watch.c,
 * docs/OPERATIONS.md "Fleet discovery"): each pool name ("host:port"
 * or "srv:NAME") is looked up through the shared c-ares resolver, again
 * after its TTL (client/fleet.h), and its members follow the answers.
 */
#ifndef BEACON_CLIENT_FLEET_WATCH_H
#define BEACON_CLIENT_FLEET_WATCH_H

#include "client/client_int.h"

/* The pool's names from hop 0's configuration: literal addresses are
 * members, names are members and sources, srv:NAME only sources.
 * After uv_loop_init; looks every name up at once. */
void client_fleet_init(beacon_tunnel_t *t);
/* The loop stops: lookups cancelled, the timer closed. */
void client_fleet_stop(beacon_tunnel_t *t);
/* 1 when some pool name is an SRV name (the pool is a pool whatever
 * its member count now). */
int client_fleet_has_srv(const beacon_tunnel_t *t);

#endif
