/*
 * relay_recheck.c - live relay connections re-checked after a reload
 * (relay_recheck.h), with the verification a relay applies to its
 * controllers (tls/peer_cert.h).
 */
#include "client/relay_recheck.h"

#include <stdio.h>

#include "client/chain.h"
#include "client/own_files.h"
#include "tls/peer_cert.h"

static unsigned chain_streams(const client_chain_t *s)
{
  unsigned n = 0;
  for(const list_link_t *l = s->streams.next; l != &s->streams; l = l->next)
    n++;
  return n;
}

static void relay_name(const client_chain_t *s, int hop, char *buf, size_t cap)
{
  const target_t *r = s->relay[hop];
  int v6 = r->kind == TARGET_IPV6;
  if(hop == 0)
    snprintf(buf, cap, "%s", s->t->members[s->member].name);
  else
    snprintf(buf, cap, "%s%s%s:%u", v6 ? "[" : "", r->host, v6 ? "]" : "",
             r->port);
}

/* Hop `hop` of s against ctx: 1 when it ended the chain. */
static int recheck_hop(client_chain_t *s, int hop, const tls_ctx_t *ctx)
{
  const tls_conn_t *c = conn_tls(s->hops[hop].conn);
  if(tls_conn_made_from(c, ctx))
    return 0; /* its handshake already used these files */
  char why[160], name[CLIENT_MEMBER_NAME_MAX], serial[80];
  enum tls_peer_verdict v = tls_conn_peer_recheck(c, ctx, why, sizeof(why));
  if(v == TLS_PEER_OK)
    return 0;
  relay_name(s, hop, name, sizeof(name));
  if(v == TLS_PEER_UNDECIDED) {
    client_own_warn(&s->t->cfg, "relay_recheck_undecided",
                    "relay %s (hop %d/%d): the reloaded CRL cannot decide "
                    "on its certificate (%s): the tunnel is kept",
                    name, hop + 1, s->nhops, why);
    return 0;
  }
  if(tls_conn_peer_serial(c, serial, sizeof(serial)))
    snprintf(serial, sizeof(serial), "?");
  int revoked = v == TLS_PEER_REVOKED;
  client_own_warn(&s->t->cfg, revoked ? "relay_revoked" : "relay_untrusted",
                  "relay %s (hop %d/%d): its certificate (serial %s) is %s "
                  "(%s) after the reload of %s: tunnel closed, %u live "
                  "streams ended",
                  name, hop + 1, s->nhops, serial,
                  revoked ? "revoked" : "no longer trusted", why,
                  revoked ? "the CRL" : "the CA file", chain_streams(s));
  client_chain_fail(s, hop, BEACON_EVERIFY,
                    "relay certificate %s: tunnel closed",
                    revoked ? "revoked (CRL reloaded)"
                            : "no longer trusted (CA file reloaded)");
  return 1;
}

void client_relay_recheck(beacon_tunnel_t *t)
{
  pthread_mutex_lock(&t->lock);
  uint64_t gen = t->ctx_gen;
  pthread_mutex_unlock(&t->lock);
  tls_ctx_t *ctx = NULL;
  list_link_t *n = t->chains.next;
  while(n != &t->chains) {
    client_chain_t *s = LIST_CONTAINER(n, client_chain_t, link);
    n = n->next;
    /* A chain still in its handshake is checked once it is up. */
    if(s->state != CHAIN_UP || s->recheck_gen == gen)
      continue;
    s->recheck_gen = gen;
    if(!ctx)
      ctx = t->host->ctx_get(t);
    for(int i = 0; i < s->nhops; i++)
      if(s->hops[i].conn && s->hops[i].up && recheck_hop(s, i, ctx))
        break;
  }
  tls_ctx_unref(ctx);
}
