/*
 * dial.h - resolving a host and connecting to it with Happy Eyeballs
 * (RFC 8305): the relay dials targets with it, libbeacon its first relay
 * hop. Each address may be judged by the caller (the relay's destination
 * policy) before it is dialled.
 */
#ifndef BEACON_DIAL_H
#define BEACON_DIAL_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/error.h"
#include "dial/resolve.h"
#include "target/target.h"

/* A connected (or connecting) socket; heap-allocated so Happy Eyeballs
 * can hand the winner to the caller. It lives as long as the caller
 * uses it, so what only a connection attempt needs (the connect
 * request, the address) stays in the dial. */
typedef struct dial_conn {
  uv_tcp_t tcp;
  void *owner;
  void (*on_closed)(struct dial_conn *c);
} dial_conn_t;

typedef struct dial dial_t;

/* 1 when addr:port may be dialled; 0 with *why (static or the
 * judge's own text) when not. */
typedef int (*dial_allow_fn)(void *ud, const struct sockaddr *addr,
                             uint16_t port, const char **why);

/* status 0: conn is connected to peer (valid during the call) and now
 * owned by the callee. Otherwise a BEACON_E* code with a short reason
 * ("refused", "timeout", "policy: loopback", "resolve: ...") and the
 * last operating-system error of an attempt (a libuv code, 0 for none).
 * Never called from inside dial_start(). */
typedef void (*dial_cb)(void *ud, int status, int os_err, dial_conn_t *conn,
                        const struct sockaddr *peer, const char *why);

/* Resolves tgt (IP literals without the resolver, names with
 * resolve.h) and connects to the allowed addresses, interleaved by
 * family, a new attempt every 250 ms or at once when one fails, the
 * first connection wins; the whole dial, lookup included, ends after
 * timeout_ms ("timeout"). allow may be NULL (every address). NULL on out
 * of memory. */
BEACON_MUST_USE dial_t *dial_start(uv_loop_t *loop, const target_t *tgt,
                                   uint64_t timeout_ms, dial_allow_fn allow,
                                   void *allow_ud, dial_cb cb, void *ud);
/* dial_start() with the lookup counted against group (resolve.h; one
 * per tunnel, say, NULL for no cap): over the group's cap the dial
 * fails with BEACON_ELIMIT ("resolve: too many lookups") without a
 * lookup, on the next loop turn. */
BEACON_MUST_USE dial_t *
dial_start_group(uv_loop_t *loop, resolve_group_t *group, const target_t *tgt,
                 uint64_t timeout_ms, dial_allow_fn allow, void *allow_ud,
                 dial_cb cb, void *ud);
/* The callback is not called after this, and the lookup is cancelled
 * (resolve_cancel()); resources go asynchronously. */
void dial_cancel(dial_t *d);
/* Closes a connection; c->on_closed runs from the close callback. */
void dial_conn_close(dial_conn_t *c);

#endif
