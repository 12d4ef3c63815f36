/*
 * dialled_stream.h - one dialled stream of a chain's innermost hop,
 * pumped to the caller's local end (dialled_stream.c). The chain routes its
 * mux callbacks here.
 */
#ifndef BEACON_CLIENT_DIALLED_STREAM_H
#define BEACON_CLIENT_DIALLED_STREAM_H

#include "client/client_int.h"

client_stream_t *client_stream_open(client_chain_t *chain, client_req_t *req);
void client_stream_on_ack(client_stream_t *p);
void client_stream_on_data(client_stream_t *p, const uint8_t *d, size_t n);
void client_stream_on_fin(client_stream_t *p);
void client_stream_on_reset(client_stream_t *p);
void client_stream_on_writable(client_stream_t *p);
void client_stream_on_closed(client_stream_t *p);
/* The chain is gone: detach and reset the caller's socket. */
void client_stream_abort(client_stream_t *p);
/* client_stream_finish(): end the caller's side cleanly (FIN, and stop
 * writing to it). */
void client_stream_finish_local(client_stream_t *p);
/* A stream not yet acknowledged failed: the request gets `err` (or is
 * retried by the caller of this); frees the stream. */
client_req_t *client_stream_take_req(client_stream_t *p);
/* The stream's open deadline passed at now, unacknowledged. A relay
 * that answered a ping since the stream opened (relay_alive) is
 * dialling a slow target: the stream waits for the whole dial, and
 * then fails as the target's timeout, not tried on another relay (it
 * would only dial the target again). A silent one loses the stream to
 * the next member (failover). */
void client_stream_open_expired(client_stream_t *p, uint64_t now,
                                int relay_alive);

#endif
