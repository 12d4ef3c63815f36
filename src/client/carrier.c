/*
 * carrier.c - carrier streams: a chain's hop k+1 riding on a stream of
 * hop k's mux (carrier.h).
 *
 * Input: hop k's mux hands the carrier's payload to on_data while it
 * parses; the pieces are only noted (by reference, or copied beyond
 * CLIENT_CARRIER_PIECES) and hop k+1's core is fed after that
 * mux_recv() returned (client_carrier_deliver from hop k's
 * on_recv_done), so no core runs inside another's parse. Output:
 * client_carrier_flush() writes hop k+1's ciphertext into the carrier
 * once per loop turn (chain_output.c).
 */
#include "client/carrier.h"

#include <stdlib.h>
#include <string.h>

#include "client/chain_state.h"

int client_carrier_open(client_hop_t *child, mux_t *m)
{
  client_chain_t *s = child->s;
  client_carrier_t *c = &child->carrier;
  char line[TARGET_MAX_LINE + 4];
  int len = target_format(s->relay[child->index], line, sizeof(line));
  if(len < 0)
    return BEACON_EINVAL;
  c->child = child;
  int64_t id = mux_open(m, c);
  if(id <= 0)
    return id < 0 ? (int)id : BEACON_EINVAL;
  c->sid = (uint32_t)id;
  /* the initial window always takes the target line whole */
  if(mux_stream_write(m, c->sid, (const uint8_t *)line, (size_t)len) != len)
    return BEACON_EIO;
  return 0;
}

void client_carrier_free(client_carrier_t *c)
{
  free(c->spill);
  c->spill = NULL;
  c->spill_len = c->spill_cap = 0;
  c->npieces = 0;
}

/* The carrier of child ended (how); reason is the beacon/1 code of the
 * previous hop's refusal, if it gave one: a relay that confirms
 * connects says why it could not reach the next relay, as it does for
 * a target (docs/PROTOCOL.md "Refusal codes"). */
static void carrier_lost(client_hop_t *child, const char *how, uint32_t reason)
{
  client_chain_t *s = child->s;
  if(s->state == CHAIN_FAILED)
    return;
  char pname[300];
  client_chain_hop_name(s, child->index - 1, pname, sizeof(pname));
  if(!child->up && reason)
    client_chain_fail(
        s, child->index, BEACON_EREFUSED,
        "unreachable through %s, which could not connect to "
        "it: %s (%s)",
        pname, beacon_strerror(outcome_code(outcome_from_reason(reason))),
        outcome_reason_name(reason));
  else if(!child->up)
    client_chain_fail(s, child->index, BEACON_EREFUSED,
                      "unreachable through %s (stream %s: refused, "
                      "unreachable or denied by its policy)",
                      pname, how);
  else
    client_chain_fail(s, child->index, BEACON_ERESET,
                      "connection lost (stream through %s %s)", pname, how);
}

static int spill(client_carrier_t *c, const uint8_t *d, size_t n)
{
  if(c->spill_len + n > c->spill_cap) {
    size_t cap = c->spill_cap ? c->spill_cap : CLIENT_CHUNK;
    while(cap < c->spill_len + n)
      cap *= 2;
    uint8_t *p = realloc(c->spill, cap);
    if(!p)
      return BEACON_ENOMEM;
    c->spill = p;
    c->spill_cap = cap;
  }
  memcpy(c->spill + c->spill_len, d, n);
  c->spill_len += n;
  return 0;
}

void client_carrier_on_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                            size_t n, void *ud)
{
  client_carrier_t *c = sud;
  if(!c || !n || c->child->s->state == CHAIN_FAILED)
    return;
  /* Order holds: once one piece is copied, the rest of this mux_recv()
   * is copied too. */
  if(c->npieces < CLIENT_CARRIER_PIECES && !c->spill_len) {
    c->piece[c->npieces].p = d;
    c->piece[c->npieces].n = n;
    c->npieces++;
    return;
  }
  if(spill(c, d, n))
    client_chain_fail(c->child->s, c->child->index, BEACON_ENOMEM,
                      "out of memory");
}

/* Ciphertext for child, fed after the outer mux_recv() returned. */
static void feed(client_hop_t *child, const uint8_t *p, size_t n)
{
  client_chain_t *s = child->s;
  if(s->state == CHAIN_FAILED || !child->conn)
    return;
  conn_feed(child->conn, p, n, client_chain_now(s));
}

void client_carrier_deliver(client_hop_t *outer)
{
  client_chain_t *s = outer->s;
  if(outer->index + 1 >= s->nhops)
    return;
  client_hop_t *child = &s->hops[outer->index + 1];
  client_carrier_t *c = &child->carrier;
  size_t total = c->spill_len;
  for(unsigned i = 0; i < c->npieces; i++) {
    feed(child, c->piece[i].p, c->piece[i].n);
    total += c->piece[i].n;
  }
  c->npieces = 0;
  if(c->spill_len)
    feed(child, c->spill, c->spill_len);
  c->spill_len = 0;
  if(!total)
    return;
  /* Consumed at once: the next hop's own windows bound what it buffers. */
  mux_t *m = outer->conn ? conn_mux(outer->conn) : NULL;
  if(s->state != CHAIN_FAILED && c->sid && m &&
     mux_stream_consumed(m, c->sid, total))
    carrier_lost(child, "stalled (window update failed)", 0);
  client_dirty(s->t);
}

void client_carrier_on_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(sud)
    carrier_lost(((client_carrier_t *)sud)->child, "closed", 0);
}

void client_carrier_on_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(sud)
    carrier_lost(((client_carrier_t *)sud)->child, "reset", mux_reset_code(m));
}

void client_carrier_on_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(!sud)
    return;
  client_carrier_t *c = sud;
  c->sid = 0;
  carrier_lost(c->child, "closed", 0);
}

void client_carrier_flush(client_hop_t *h)
{
  client_chain_t *s = h->s;
  client_hop_t *outer = &s->hops[h->index - 1];
  mux_t *pm = outer->conn ? conn_mux(outer->conn) : NULL;
  if(!pm || !h->carrier.sid)
    return;
  while(s->state != CHAIN_FAILED) {
    const uint8_t *p;
    size_t n = conn_pending(h->conn, &p);
    if(!n) {
      /* one slice: high_water is CLIENT_CHUNK for inner hops */
      if(conn_flush(h->conn, client_chain_now(s)) ||
         !conn_pending(h->conn, &p))
        return;
      continue;
    }
    if(n > CLIENT_CHUNK)
      n = CLIENT_CHUNK;
    int64_t w = mux_stream_write(pm, h->carrier.sid, p, n);
    if(w < 0) {
      carrier_lost(h, "closed", 0);
      return;
    }
    conn_advance(h->conn, (size_t)w);
    if((size_t)w < n)
      return; /* on_writable of the carrier brings us back */
  }
}
