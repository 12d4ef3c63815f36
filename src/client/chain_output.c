/*
 * chain_output.c - a chain's output (chain_output.h). Each step stops
 * when the next one is full, so a slow relay link fills the mux queues
 * and the streams stop reading their local sockets (docs/PROTOCOL.md
 * "Relaying", on the controller side). Hop 0 goes to its socket by the
 * adapters' one path (conn/conn_uv.h), as the relay's tunnels do.
 */
#include "client/chain_output.h"

#include "client/carrier.h"
#include "client/chain_state.h"

static void on_socket_written(void *owner, size_t len, int status)
{
  client_chain_t *s = owner;
  if(s->hops[0].conn) /* NULL after teardown: the write was cancelled */
    conn_write_done(s->hops[0].conn, len, client_chain_now(s));
  if(status < 0 && status != UV_ECANCELED)
    client_chain_fail(s, 0, BEACON_EIO, "write: %s", uv_strerror(status));
  client_dirty(s->t);
}

void client_chain_write_socket(client_chain_t *s)
{
  if(!s->sock || s->state < CHAIN_HANDSHAKE || !s->hops[0].conn)
    return;
  if(conn_uv_write(s->hops[0].conn, (uv_stream_t *)&s->sock->tcp, &s->wpool,
                   on_socket_written, s))
    return; /* the failure that called this is the one to report */
}

static void flush_outer(client_chain_t *s, client_hop_t *h)
{
  if(!s->sock || s->state < CHAIN_HANDSHAKE)
    return;
  if(conn_uv_flush(h->conn, (uv_stream_t *)&s->sock->tcp, &s->wpool,
                   on_socket_written, s, client_chain_now(s)))
    /* a core that closed itself failed the chain already */
    client_chain_fail(s, 0, BEACON_EIO, "cannot write to the relay");
}

void client_chain_flush(client_chain_t *s)
{
  for(int i = s->nhops - 1; i >= 0 && s->state != CHAIN_FAILED; i--) {
    client_hop_t *h = &s->hops[i];
    if(!h->conn)
      continue;
    if(i == 0)
      flush_outer(s, h);
    else
      client_carrier_flush(h);
  }
}
