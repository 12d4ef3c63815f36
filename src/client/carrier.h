/*
 * carrier.h - carrier streams (carrier.c): the stream of hop k's mux
 * whose payload is hop k+1's ciphertext (docs/PROTOCOL.md "Chains of
 * relays"). Their user data in hop k's mux is client_carrier_t, with
 * mux callbacks of their own, so no stream of a chain is told apart by
 * a tag.
 */
#ifndef BEACON_CLIENT_CARRIER_H
#define BEACON_CLIENT_CARRIER_H

#include "client/client_int.h"

/* Opens child's carrier on the previous hop's mux m and writes child's
 * target line into it. 0 or a negative code (the caller fails the
 * chain). */
BEACON_MUST_USE int client_carrier_open(client_hop_t *child, mux_t *m);
/* Frees what a carrier copied (the chain's teardown). */
void client_carrier_free(client_carrier_t *c);

/* The carrier callbacks of a hop's mux (chain_hop.c puts them in the
 * table of every hop but the innermost). on_data only gathers; hop
 * k+1 is fed by client_carrier_deliver(). */
void client_carrier_on_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                            size_t n, void *ud);
void client_carrier_on_fin(mux_t *m, uint32_t id, void *sud, void *ud);
void client_carrier_on_reset(mux_t *m, uint32_t id, void *sud, void *ud);
void client_carrier_on_closed(mux_t *m, uint32_t id, void *sud, void *ud);

/* Hop `outer` finished one mux_recv(): what its carrier gathered goes
 * into the next hop's core, and the window is given back for it. */
void client_carrier_deliver(client_hop_t *outer);
/* Hop h > 0's output: ciphertext from its TLS queue into its carrier,
 * as much as the carrier's window takes; the rest waits for the
 * carrier's on_writable. */
void client_carrier_flush(client_hop_t *h);

#endif
