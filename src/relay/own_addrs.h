/*
 * own_addrs.h - the relay's own addresses for the policy's own_address
 * class (policy.h): read at start, on SIGHUP, on rtnetlink address
 * changes and every minute, all on the control loop.
 */
#ifndef BEACON_RELAY_OWN_ADDRS_H
#define BEACON_RELAY_OWN_ADDRS_H

#include "relay/relay_int.h"

/* Reads the interface addresses into the effective policy; why ("start",
 * "reload", ...) is logged when the set changed. 0, or an error (logged)
 * that keeps the previous set. */
int relay_own_addrs_refresh(relay_t *r, const char *why);
/* Starts the netlink watch and the periodic refresh on r->loop, and reads
 * the set once. */
void relay_own_addrs_start(relay_t *r);
/* Gives p, a policy about to replace the live one (a reload), the
 * relay's own addresses now. */
void relay_own_addrs_fill(relay_t *r, const policy_t *p);
/* Closes what relay_own_addrs_start opened. */
void relay_own_addrs_stop(relay_t *r);

#endif
