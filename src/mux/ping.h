/*
 * ping.h - pings we send (ping.c). mux_ping() and mux_measure_rtt() are
 * in mux.h.
 */
#ifndef BEACON_MUX_PING_H
#define BEACON_MUX_PING_H

#include "mux/mux_int.h"

/* A ping for a round-trip estimate (no keep-alive deadline unless
 * keep-alive is on). No-op while a ping is out. */
void mux_probe_rtt(mux_t *m);

#endif
