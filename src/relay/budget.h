/*
 * budget.h - the relay-wide ledger of memory and descriptors that every
 * worker thread charges (docs/SECURITY.md "Budgets"), sans-I/O: it
 * counts, it never allocates, opens or sleeps.
 *
 * Two pools, one rule. Memory: every byte the relay may be made to hold
 * against --memory-limit (receive windows granted, base and grown; the
 * mux output queue; stash and gather buffers; TLS buffers; a tunnel's
 * idle footprint). Descriptors: the process's RLIMIT_NOFILE less a
 * reserve for the listeners, accepting and handshaking that streams can
 * never take; what is left is shared by the tunnels' sockets and their
 * streams' target sockets.
 *
 * Fair shares, without taking back anything granted. Below a pool's
 * high water (7/8 of it) any tunnel may take, up to a quarter of the
 * pool. The last eighth is the reserve: there a tunnel may take only
 * while it holds less than its slice, reserve / tunnels joined. So one
 * controller may use what others leave idle but never all of it, even
 * when it came first and alone; and a controller that comes after a
 * flood still finds its slice. Floods from many tunnels shrink the
 * slices (each takes at most its slice of what is left) until their
 * streams end.
 *
 * Who calls what (each tunnel is charged from its own worker thread; the
 * totals are atomics shared by all workers, so takes never lock):
 *   - budget_tunnel_join() when a tunnel is up (it takes the tunnel's
 *     own socket and BUDGET_TUNNEL_IDLE_BYTES), budget_tunnel_leave()
 *     when it is gone: it gives back whatever the tunnel still holds, so
 *     a leak in a caller's accounting cannot outlive the tunnel;
 *   - budget_admit_stream() before a new stream is acknowledged: it takes
 *     the stream's target socket and BUDGET_STREAM_IDLE_BYTES, and
 *     refuses when the tunnel may not (a refusal is
 *     OUTCOME_REASON_RELAY_LIMIT, "resource" in logs and metrics);
 *     budget_stream_done() gives both back;
 *   - budget_mem_take() for bytes the relay chooses to hold (a buffer it
 *     grows, a copy it keeps): refused bytes are not held;
 *     budget_mem_take_upto() grants part;
 *   - budget_mem_charge() for bytes already held that cannot be refused
 *     (ciphertext that arrived, payload of an accepted stream its target
 *     has not taken yet): counted, possibly past the limit, so the next
 *     takes are refused;
 *   - budget_mem_give() / budget_fd_give() when they are freed.
 *
 * Receive windows are credit, not charged: a controller may send up to
 * its windows at once, and the relay keeps that within the limit by
 * reading at most budget_mem_room() from the tunnel's socket (TCP then
 * holds the rest in the controller's kernel). budget_mem_room() is also
 * how much a stream's window may grow.
 *
 * budget_pressure() says how full the memory pool is (per mille) for
 * callers that scale what they grant; metrics read the totals.
 */
#ifndef BEACON_RELAY_BUDGET_H
#define BEACON_RELAY_BUDGET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* What one idle mTLS tunnel costs the relay (TLS session, mux session,
 * buffers, adapter), measured: docs/OPERATIONS.md "Sizing a relay"
 * (22.4 KiB of RSS; the rest is headroom for allocator fragmentation). */
#define BUDGET_TUNNEL_IDLE_BYTES ((size_t)24 * 1024)
/* What one idle stream costs beyond its target socket (its mux state,
 * core, adapter and libuv handle), measured: docs/OPERATIONS.md "Sizing
 * a relay" (1.9 KiB of RSS). Its receive window is credit, not charged:
 * the bytes sent within it are, when the relay keeps them. */
#define BUDGET_STREAM_IDLE_BYTES ((size_t)2 * 1024)
/* The reserve: the last 1/8 of a pool, taken only within a slice. */
#define BUDGET_HIGH_WATER_DIV 8
/* The most of a pool one tunnel may hold: limit / this. */
#define BUDGET_TUNNEL_MAX_DIV 4

/* One pool: memory bytes or descriptors. */
typedef struct budget_pool {
  atomic_uint_fast64_t used;
  uint64_t limit;
  atomic_uint_fast64_t refused; /* takes refused, for metrics */
} budget_pool_t;

typedef struct budget {
  budget_pool_t mem;
  budget_pool_t fd;  /* fd_limit - fd_reserve */
  uint64_t fd_limit; /* RLIMIT_NOFILE */
  uint64_t fd_reserve;
  atomic_uint_fast64_t tunnels;         /* joined */
  atomic_uint_fast64_t streams_refused; /* by budget_admit_stream */
} budget_t;

/* One tunnel's account, embedded in the tunnel. Only its own worker
 * thread changes it; others may read it. */
typedef struct budget_tunnel {
  budget_t *b; /* NULL until joined */
  atomic_uint_fast64_t mem;
  atomic_uint_fast64_t fds;
} budget_tunnel_t;

/* memory_limit in bytes; fd_limit the process's descriptor limit;
 * fd_reserve of it kept from streams (at most fd_limit). BEACON_EINVAL
 * for a zero limit or a reserve over fd_limit. */
BEACON_MUST_USE int budget_init(budget_t *b, uint64_t memory_limit,
                                uint64_t fd_limit, uint64_t fd_reserve);

/* Joins: takes the tunnel's socket and BUDGET_TUNNEL_IDLE_BYTES (never
 * refused: the tunnel exists; --max-tunnels bounds them). */
void budget_tunnel_join(budget_t *b, budget_tunnel_t *t);
/* Gives back all t holds; t may join again. No-op unless joined. */
void budget_tunnel_leave(budget_tunnel_t *t);

/* 0, or BEACON_ELIMIT when the tunnel may not hold n more bytes. */
BEACON_MUST_USE int budget_mem_take(budget_tunnel_t *t, size_t n);
/* How much of n the rule lets the tunnel take now (0..n), taking
 * nothing; 0 when not joined. */
size_t budget_mem_room(const budget_tunnel_t *t, size_t n);
/* Takes as much of n as the rule allows; returns it (0..n). */
size_t budget_mem_take_upto(budget_tunnel_t *t, size_t n);
/* Counts n bytes already held, whatever the limit. */
void budget_mem_charge(budget_tunnel_t *t, size_t n);
void budget_mem_give(budget_tunnel_t *t, size_t n);

/* One descriptor: 0 or BEACON_ELIMIT. */
BEACON_MUST_USE int budget_fd_take(budget_tunnel_t *t);
void budget_fd_give(budget_tunnel_t *t);

/* A new stream: 0 with its target socket and BUDGET_STREAM_IDLE_BYTES
 * taken, or BEACON_ELIMIT (out of descriptors, or the tunnel may not
 * take the stream's bytes). */
BEACON_MUST_USE int budget_admit_stream(budget_tunnel_t *t);
void budget_stream_done(budget_tunnel_t *t);

/* How full the memory pool is, per mille (1000 at or past the limit). */
unsigned budget_pressure(const budget_t *b);
/* A tunnel's current slice of a pool's reserve: what it may hold and
 * still take once the pool is past its high water. */
uint64_t budget_mem_slice(const budget_t *b);
uint64_t budget_fd_slice(const budget_t *b);

static inline uint64_t budget_mem_used(const budget_t *b)
{
  return atomic_load_explicit(&b->mem.used, memory_order_relaxed);
}

static inline uint64_t budget_fd_used(const budget_t *b)
{
  return atomic_load_explicit(&b->fd.used, memory_order_relaxed);
}

#endif
