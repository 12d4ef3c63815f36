/*
 * chain_state.h - what every part of a chain reports to it
 * (chain_state.c): a failure, the chain coming up, a request to carry.
 */
#ifndef BEACON_CLIENT_CHAIN_STATE_H
#define BEACON_CLIENT_CHAIN_STATE_H

#include <stddef.h>

#include "client/client_int.h"

/* Marks the chain failed with its error (hop -1: not one hop's) and
 * closes every hop; client_chain_service() tears it down later, outside
 * every mux callback. The first failure stands. */
void client_chain_fail(client_chain_t *s, int hop, int code, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
/* "relay NAME (hop k/n)" for messages. */
const char *client_chain_hop_name(client_chain_t *s, int hop, char *buf,
                                  size_t cap);
/* The innermost hop is up: the waiting requests get their streams. */
void client_chain_ready(client_chain_t *s);
/* Opens req's stream now, or keeps req until the chain is up. */
void client_chain_submit(client_chain_t *s, client_req_t *req);
/* The chain's clock: its tunnel loop's. */
static inline uint64_t client_chain_now(client_chain_t *s)
{
  return uv_now(&s->t->loop);
}

#endif
