/*
 * chain.h - one chain: a connection through every hop (chain.c),
 * as the tunnel handle drives it. What its parts report to it
 * (client_chain_fail, client_chain_submit) is in chain_state.h.
 */
#ifndef BEACON_CLIENT_CHAIN_H
#define BEACON_CLIENT_CHAIN_H

#include "client/chain_state.h"
#include "client/client_int.h"

/* A chain through hop 0's member `member` (an index in its pool). */
client_chain_t *client_chain_new(beacon_tunnel_t *t, int member);
/* Flushes output, tears down a failed chain, re-arms its timer. */
void client_chain_service(client_chain_t *s);
void client_chain_release(client_chain_t *s);

#endif
