/*
 * relay_tunnel.h - one tunnel: a TCP connection and its connection
 * core (relay_tunnel.c), as its worker drives it.
 */
#ifndef BEACON_RELAY_TUNNEL_H
#define BEACON_RELAY_TUNNEL_H

#include "relay/relay_int.h"

/* Accepts the pending connection of w's listener as a new tunnel. */
void relay_tunnel_accept(relay_worker_t *w);
void relay_tunnel_close(relay_tunnel_t *t, enum conn_close_reason why);
/* Sends t's pending output (the worker's check handle, once a turn). */
void relay_tunnel_flush(relay_tunnel_t *t);
/* Go Away; closes once the last stream ended. */
void relay_tunnel_drain(relay_tunnel_t *t);
/* A new loop turn (the check handle): the handshake-work budget is
 * full again, and tunnels that waited for it read again. */
void relay_tunnel_new_turn(relay_worker_t *w);
/* Frees the finished streams of w's tunnels (the check handle). */
void relay_tunnel_reap_streams(relay_worker_t *w);
/* The worker's cached write buffers: set up before its loop runs,
 * freed after it ended. */
void relay_tunnel_init_cache(relay_worker_t *w);
void relay_tunnel_free_cache(relay_worker_t *w);

#endif
