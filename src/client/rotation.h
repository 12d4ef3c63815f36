/*
 * rotation.h - a tunnel follows its identity files on disk (rotation.c):
 * reloads them when they change, and moves each relay connection to a
 * renewed certificate before the old one expires, make before break
 * (docs/LIBRARY.md "Certificate renewal"; when: client/renewal.h).
 * Loop thread only.
 */
#ifndef BEACON_CLIENT_ROTATION_H
#define BEACON_CLIENT_ROTATION_H

#include "client/client_int.h"

/* How often the files are looked at and the connections' renewal
 * checked. */
#define CLIENT_ROTATION_TICK_MS 1000

/* Starts the watch (after client_members_init). */
void client_rotation_init(beacon_tunnel_t *t);
/* Stops it: its timer closes with the loop. */
void client_rotation_stop(beacon_tunnel_t *t);
/* Reloads the identity when a watched file changed since it was last
 * loaded (a stat of each); before each new connection to a relay. */
void client_rotation_refresh(beacon_tunnel_t *t);

#endif
