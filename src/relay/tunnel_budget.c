/*
 * tunnel_budget.c - a tunnel's account in the relay-wide budgets
 * (budget.h): the mux's ledger, the ciphertext queue, and refusing a
 * stream the budgets cannot take (tunnel_budget.h).
 */
#include "relay/tunnel_budget.h"

#include "beacon/beacon.h"
#include "log/log.h"
#include "target/result.h"

/* The mux's ledger (mux/mux.h) is the tunnel's account. */
static size_t ledger_take(size_t n, int must, void *ud)
{
  if(!must)
    return budget_mem_take_upto(ud, n);
  budget_mem_charge(ud, n);
  return n;
}

static void ledger_give(size_t n, void *ud)
{
  budget_mem_give(ud, n);
}

mux_ledger_t relay_tunnel_ledger(relay_tunnel_t *t)
{
  return (mux_ledger_t){ledger_take, ledger_give, &t->budget};
}

/* The streams' quota (relay/stream_core.h): the mux already charged
 * their windows, so only the downstream stash comes here. A stash is
 * taken when the budget allows and charged anyway when not: the bytes
 * were read; the stream stops reading until the mux took them. */
static int quota_hold(void *ud, size_t n)
{
  if(!budget_mem_take(ud, n))
    return 0;
  budget_mem_charge(ud, n);
  return -1;
}

static void quota_release(void *ud, size_t n)
{
  budget_mem_give(ud, n);
}

stream_quota_t relay_tunnel_quota(relay_tunnel_t *t)
{
  return (stream_quota_t){.hold = quota_hold,
                          .release = quota_release,
                          .ud = &t->budget,
                          .windows_charged = 1};
}

/* The ciphertext queued for the controller (TLS's queue and the writes
 * in flight, bounded by RELAY_TUNNEL_HIGH_WATER, or its NEAR_ mark on a
 * near path) is charged as it changes: it is memory the controller
 * makes the relay hold. */
void relay_tunnel_charge_tls(relay_tunnel_t *t)
{
  if(!t->budget.b)
    return; /* still handshaking: not a tunnel's memory yet */
  size_t now = conn_waiting(t->conn);
  if(now > t->tls_charged)
    budget_mem_charge(&t->budget, now - t->tls_charged);
  else
    budget_mem_give(&t->budget, t->tls_charged - now);
  t->tls_charged = now;
}

/* A stream over the memory or descriptor budget (budget.h) is refused
 * with relay_limit: the mux already counted its base window, and forgets
 * it with the reset. */
int relay_tunnel_refuse_resource(relay_tunnel_t *t, uint32_t id)
{
  mux_t *m = relay_tunnel_mux(t);
  relay_metrics_t *mt = &t->w->r->metrics;
  atomic_fetch_add(&mt->streams_refused[RELAY_REFUSED_RESOURCE], 1);
  /* A failed reset still forgets the stream; the session resets it. */
  int rc = mux_stream_reset_code(
      m, id, t->shared.confirm_connect ? TARGET_RESULT_RELAY_LIMIT : 0);
  return rc ? BEACON_ELIMIT : 0;
}
