/*
 * crl_watch.h - a replaced crl.pem takes effect without a signal
 * (crl_watch.c): the control loop polls the file and reloads as SIGHUP
 * does, which re-checks the live tunnels (revocation.h).
 */
#ifndef BEACON_RELAY_CRL_WATCH_H
#define BEACON_RELAY_CRL_WATCH_H

#include "relay/relay_int.h"

/* How often crl.pem is looked at (stat: mtime, size, inode...). */
#define RELAY_CRL_POLL_MS 1000

/* On r's control loop, from relay_run() until the workers are done. */
void relay_crl_watch_start(relay_t *r);
void relay_crl_watch_stop(relay_t *r);

#endif
