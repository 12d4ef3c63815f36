/*
 * chain_output.h - a chain's output, once per loop turn
 * (chain_output.c): from the innermost hop outwards, each hop's mux
 * output through its TLS into its carrier, hop 0's to the socket.
 */
#ifndef BEACON_CLIENT_CHAIN_OUTPUT_H
#define BEACON_CLIENT_CHAIN_OUTPUT_H

#include "client/client_int.h"

/* Moves every hop's output one step outwards, as far as each next step
 * takes it. */
void client_chain_flush(client_chain_t *s);
/* Hands hop 0's pending ciphertext to the socket, best effort (an alert
 * before the socket closes, say): the chain is failing anyway. */
void client_chain_write_socket(client_chain_t *s);

#endif
