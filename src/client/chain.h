/*
 * chain.h - one chain: a connection through every hop (chain.c),
 * as the tunnel handle drives it.
 */
#ifndef BEACON_CLIENT_CHAIN_H
#define BEACON_CLIENT_CHAIN_H

#include "client/client_int.h"

/* A chain through hop 0's member `member` (an index in its pool). */
client_chain_t *client_chain_new(beacon_tunnel_t *t, int member);
void client_chain_submit(client_chain_t *s, client_req_t *req);
void client_chain_fail(client_chain_t *s, int hop, int code, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
/* Flushes output, tears down a failed chain, re-arms its timer. */
void client_chain_service(client_chain_t *s);
void client_chain_release(client_chain_t *s);

#endif
