/*
 * budget.c - the relay-wide memory and descriptor ledger (budget.h):
 * one compare-and-swap per take on the pool's total, so workers never
 * wait on each other and the pool is never overdrawn by a take.
 */
#include "relay/budget.h"

#include "beacon/beacon.h"

#define RELAXED memory_order_relaxed

static uint64_t load(const atomic_uint_fast64_t *a)
{
  return atomic_load_explicit(a, RELAXED);
}

static uint64_t tunnels_of(const budget_t *b)
{
  uint64_t n = load(&b->tunnels);
  return n ? n : 1;
}

/* Below this, any tunnel may take; above it is the reserve. */
static uint64_t high_water(const budget_pool_t *p)
{
  return p->limit - p->limit / BUDGET_HIGH_WATER_DIV;
}

/* What a tunnel may hold and still take from the reserve. */
static uint64_t slice_of(const budget_pool_t *p, uint64_t ntunnels)
{
  return (p->limit - high_water(p)) / ntunnels;
}

/* The rule of budget.h for a tunnel holding `mine`, asking n more of a
 * pool whose total is `total`. */
static int rule_allows(const budget_pool_t *p, uint64_t ntunnels,
                       uint64_t mine, uint64_t total, uint64_t n)
{
  if(n > p->limit || total > p->limit - n ||
     mine + n > p->limit / BUDGET_TUNNEL_MAX_DIV)
    return 0;
  return total + n <= high_water(p) || mine + n <= slice_of(p, ntunnels);
}

/* Takes n of p for a tunnel holding *mine; 1 when granted. */
static int pool_take(budget_pool_t *p, uint64_t ntunnels,
                     atomic_uint_fast64_t *mine, uint64_t n)
{
  uint64_t total = load(&p->used);
  do {
    if(!rule_allows(p, ntunnels, load(mine), total, n)) {
      atomic_fetch_add_explicit(&p->refused, 1, RELAXED);
      return 0;
    }
  } while(!atomic_compare_exchange_weak_explicit(&p->used, &total, total + n,
                                                 RELAXED, RELAXED));
  atomic_fetch_add_explicit(mine, n, RELAXED);
  return 1;
}

static void pool_charge(budget_pool_t *p, atomic_uint_fast64_t *mine,
                        uint64_t n)
{
  atomic_fetch_add_explicit(&p->used, n, RELAXED);
  atomic_fetch_add_explicit(mine, n, RELAXED);
}

/* Gives back n, but never more than the tunnel holds: a caller's
 * double give cannot wrap the totals. */
static void pool_give(budget_pool_t *p, atomic_uint_fast64_t *mine, uint64_t n)
{
  uint64_t have = load(mine);
  if(n > have)
    n = have;
  atomic_fetch_sub_explicit(mine, n, RELAXED);
  atomic_fetch_sub_explicit(&p->used, n, RELAXED);
}

int budget_init(budget_t *b, uint64_t memory_limit, uint64_t fd_limit,
                uint64_t fd_reserve)
{
  if(!memory_limit || !fd_limit || fd_reserve >= fd_limit)
    return BEACON_EINVAL;
  atomic_init(&b->mem.used, 0);
  atomic_init(&b->mem.refused, 0);
  b->mem.limit = memory_limit;
  atomic_init(&b->fd.used, 0);
  atomic_init(&b->fd.refused, 0);
  b->fd.limit = fd_limit - fd_reserve;
  b->fd_limit = fd_limit;
  b->fd_reserve = fd_reserve;
  atomic_init(&b->tunnels, 0);
  atomic_init(&b->streams_refused, 0);
  return 0;
}

void budget_tunnel_join(budget_t *b, budget_tunnel_t *t)
{
  t->b = b;
  atomic_init(&t->mem, 0);
  atomic_init(&t->fds, 0);
  atomic_fetch_add_explicit(&b->tunnels, 1, RELAXED);
  pool_charge(&b->mem, &t->mem, BUDGET_TUNNEL_IDLE_BYTES);
  pool_charge(&b->fd, &t->fds, 1);
}

void budget_tunnel_leave(budget_tunnel_t *t)
{
  budget_t *b = t->b;
  if(!b)
    return;
  pool_give(&b->mem, &t->mem, load(&t->mem));
  pool_give(&b->fd, &t->fds, load(&t->fds));
  atomic_fetch_sub_explicit(&b->tunnels, 1, RELAXED);
  t->b = NULL;
}

int budget_mem_take(budget_tunnel_t *t, size_t n)
{
  if(!t->b)
    return BEACON_EINVAL;
  return pool_take(&t->b->mem, tunnels_of(t->b), &t->mem, n) ? 0
                                                             : BEACON_ELIMIT;
}

size_t budget_mem_room(const budget_tunnel_t *t, size_t n)
{
  const budget_t *b = t->b;
  if(!b || !n)
    return 0;
  /* The most the rule allows now: beyond the high water only within
   * the tunnel's slice, never past the limit or the tunnel's cap. */
  uint64_t ntunnels = tunnels_of(b), total = load(&b->mem.used);
  uint64_t mine = load(&t->mem), limit = b->mem.limit;
  uint64_t slice = slice_of(&b->mem, ntunnels), high = high_water(&b->mem);
  uint64_t room = total < limit ? limit - total : 0;
  uint64_t cap = limit / BUDGET_TUNNEL_MAX_DIV;
  uint64_t fair = mine < slice ? slice - mine : 0;
  uint64_t spare = total < high ? high - total : 0;
  uint64_t can = fair > spare ? fair : spare;
  if(can > room)
    can = room;
  uint64_t cap_left = mine < cap ? cap - mine : 0;
  if(can > cap_left)
    can = cap_left;
  return (size_t)(can < n ? can : n);
}

size_t budget_mem_take_upto(budget_tunnel_t *t, size_t n)
{
  /* One take of what the rule allows now (which may still lose a race:
   * then nothing, and the caller asks again later). */
  size_t can = budget_mem_room(t, n);
  if(!can || !pool_take(&t->b->mem, tunnels_of(t->b), &t->mem, can))
    return 0;
  return can;
}

void budget_mem_charge(budget_tunnel_t *t, size_t n)
{
  if(t->b)
    pool_charge(&t->b->mem, &t->mem, n);
}

void budget_mem_give(budget_tunnel_t *t, size_t n)
{
  if(t->b)
    pool_give(&t->b->mem, &t->mem, n);
}

int budget_fd_take(budget_tunnel_t *t)
{
  if(!t->b)
    return BEACON_EINVAL;
  return pool_take(&t->b->fd, tunnels_of(t->b), &t->fds, 1) ? 0
                                                            : BEACON_ELIMIT;
}

void budget_fd_give(budget_tunnel_t *t)
{
  if(t->b)
    pool_give(&t->b->fd, &t->fds, 1);
}

int budget_admit_stream(budget_tunnel_t *t)
{
  budget_t *b = t->b;
  if(!b)
    return BEACON_EINVAL;
  uint64_t ntunnels = tunnels_of(b);
  if(!pool_take(&b->mem, ntunnels, &t->mem, BUDGET_STREAM_IDLE_BYTES))
    goto refused;
  if(!pool_take(&b->fd, ntunnels, &t->fds, 1)) {
    pool_give(&b->mem, &t->mem, BUDGET_STREAM_IDLE_BYTES);
    goto refused;
  }
  return 0;
refused:
  atomic_fetch_add_explicit(&b->streams_refused, 1, RELAXED);
  return BEACON_ELIMIT;
}

void budget_stream_done(budget_tunnel_t *t)
{
  budget_mem_give(t, BUDGET_STREAM_IDLE_BYTES);
  budget_fd_give(t);
}

unsigned budget_pressure(const budget_t *b)
{
  uint64_t used = load(&b->mem.used);
  return (unsigned)(used >= b->mem.limit ? 1000 : used * 1000 / b->mem.limit);
}

uint64_t budget_mem_slice(const budget_t *b)
{
  return slice_of(&b->mem, tunnels_of(b));
}

uint64_t budget_fd_slice(const budget_t *b)
{
  return slice_of(&b->fd, tunnels_of(b));
}
