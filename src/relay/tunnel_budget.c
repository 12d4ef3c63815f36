/*
 * tunnel_budget.c - a tunnel's account in the relay-wide budgets
 * (budget.h): the mux's ledger, the ciphertext queue, and refusing a
 * stream the budgets cannot take (tunnel_budget.h).
 */
#include "relay/tunnel_budget.h"

#include "beacon/beacon.h"
#include "log/log.h"
#include "common/outcome.h"

/* The mux's ledger (mux/mux.h) is the tunnel's account: stream state
 * and output chunks are charged; a window grows only by the room the
 * rule leaves (credit, not charged). */
static void ledger_charge(size_t n, void *ud)
{
  budget_mem_charge(ud, n);
}

static void ledger_give(size_t n, void *ud)
{
  budget_mem_give(ud, n);
}

static size_t ledger_room(size_t n, void *ud)
{
  return budget_mem_room(ud, n);
}

mux_ledger_t relay_tunnel_ledger(relay_tunnel_t *t)
{
  return (mux_ledger_t){ledger_charge, ledger_give, ledger_room, &t->budget};
}

/* The streams' quota (relay/stream_core.h): every byte a stream keeps,
 * upstream (copied while dialling, the target's queued writes) and the
 * downstream stash. A hold is taken when the budget allows and charged
 * anyway when not: the bytes were read; a stream not yet acknowledged is
 * then refused, an accepted one keeps them (and its stash stops its
 * reads until the mux took it). */
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
  return (stream_quota_t){
      .hold = quota_hold, .release = quota_release, .ud = &t->budget};
}

/* Windows are credit: N streams may each be sent a full window at once.
 * What bounds the bytes is this: a read from the controller's socket
 * decrypts to at most as many bytes as it read, so a tunnel reads no
 * more than the rule lets it take (budget_mem_room), and past that only
 * while its streams hold little upstream (RELAY_TUNNEL_READ_MIN less
 * what they hold): enough to keep window updates and pings coming,
 * never more than that much per tunnel. The rest waits in TCP, in the
 * controller's kernel: yamux flow control is per stream, but the
 * session's backpressure is its TCP connection. */
size_t relay_tunnel_read_size(const relay_tunnel_t *t)
{
  if(!t->budget.b)
    return RELAY_TUNNEL_READ; /* handshaking: the admission budget's */
  size_t room = budget_mem_room(&t->budget, RELAY_TUNNEL_READ);
  if(room >= RELAY_TUNNEL_READ_MIN)
    return room;
  size_t held = t->shared.held_up;
  return held < RELAY_TUNNEL_READ_MIN ? RELAY_TUNNEL_READ_MIN - held : 0;
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

/* A stream reset on arrival, by the session (over --max-streams, say) or
 * by a budget. A flood must not flood the log: at most one line a second
 * per tunnel, carrying the count so far; tunnel_down has the total. A
 * budget's refusal also says what the budgets hold. */
void relay_tunnel_log_refused(relay_tunnel_t *t, uint32_t id,
                              const char *reason, int budget)
{
  uint64_t now = uv_now(&t->w->loop);
  t->streams_refused++;
  if(t->refused_logged && now - t->refused_log_ms < 1000)
    return;
  log_line_t l;
  if(log_begin(&l, LOG_WARN, "stream_refused")) {
    log_u64(&l, "tunnel", t->id);
    log_u64(&l, "stream", id);
    log_str(&l, "reason", reason);
    log_u64(&l, "count", t->streams_refused);
    if(budget) {
      log_u64(&l, "memory_held", budget_mem_used(t->budget.b));
      log_u64(&l, "fds_held", budget_fd_used(t->budget.b));
    }
    log_end(&l);
  }
  t->refused_logged = t->streams_refused;
  t->refused_log_ms = now;
}

/* A stream over the memory or descriptor budget (budget.h) is refused
 * with relay_limit: the mux already counted its state, and forgets it
 * with the reset. */
int relay_tunnel_refuse_resource(relay_tunnel_t *t, uint32_t id)
{
  mux_t *m = relay_tunnel_mux(t);
  relay_metrics_t *mt = &t->w->r->metrics;
  atomic_fetch_add(&mt->streams_refused[RELAY_REFUSED_RESOURCE], 1);
  /* A failed reset still forgets the stream; the session resets it. */
  int rc = mux_stream_reset_code(
      m, id, t->shared.confirm_connect ? outcome_reason(OUTCOME_RESOURCE) : 0);
  return rc ? BEACON_ELIMIT : 0;
}
