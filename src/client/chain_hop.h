/*
 * chain_hop.h - one hop of a chain: its connection core (conn/conn.h)
 * and the callbacks of its core and mux (chain_hop.c).
 */
#ifndef BEACON_CLIENT_CHAIN_HOP_H
#define BEACON_CLIENT_CHAIN_HOP_H

#include <stddef.h>
#include <stdint.h>

#include "client/client_int.h"

/* Starts hop h's TLS in a new connection core. 0 or BEACON_ENOMEM (the
 * chain failed). */
int client_hop_start(client_hop_t *h);
/* Ciphertext from hop 0's socket. */
void client_hop_input(client_hop_t *h, const uint8_t *in, size_t len);

#endif
