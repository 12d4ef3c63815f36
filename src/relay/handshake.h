/*
 * handshake.h - a tunnel from accept to its tunnel slot (docs/SECURITY.md
 * "Pre-authentication budget"): admission into the relay-wide handshake
 * budget (relay/admission.h, behind a lock the workers share), the
 * handshake deadline it grants, the worker's oldest handshake evicted
 * where the budget says drop, the refusals (counted by reason, logged
 * at most once a second per reason), the handshake work per loop turn, the
 * --allow-client check, the handshake failure log lines, and the --max-tunnels
 * slot that only a finished mTLS handshake takes.
 */
#ifndef BEACON_RELAY_HANDSHAKE_H
#define BEACON_RELAY_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "relay/relay_int.h"

/* The shortest handshake deadline under pressure (at --max-handshakes
 * FULL), unless --handshake-timeout is shorter still. */
#define RELAY_HANDSHAKE_FLOOR_MS 2000

/* A handshake that has spoken is evicted for a newcomer only once it
 * is this old (handshake.c victim), or RELAY_HANDSHAKE_EVICT_TYPICAL times as
 * old as the worker's recent handshakes took, if that is more: a real
 * one finishes within milliseconds on a quiet relay, but a reconnect
 * storm on a busy host makes every handshake, and every controller's
 * first bytes, take seconds, and evicting those only makes the
 * controllers start over. */
#define RELAY_HANDSHAKE_EVICT_AGE_MS 1000
#define RELAY_HANDSHAKE_EVICT_TYPICAL 4
/* One that has sent nothing yet goes once it is this old (or the
 * typical multiple): an idle flood's cost nothing, and a controller's
 * first bytes follow its connect at once unless its host is busy. */
#define RELAY_HANDSHAKE_SILENT_AGE_MS 100

/* Past --max-handshakes START a worker that has no handshake to evict
 * (relay_handshake_room) stops accepting: newcomers wait in the listen
 * backlog, where they cost nothing, instead of being refused and coming
 * back after their back-off, and the worker looks again this often
 * (another worker's handshakes may be the ones finishing). */
#define RELAY_ACCEPT_RETRY_MS 5

/* Checks the budget options: 0, or BEACON_EINVAL with err. */
int relay_handshakes_check(const relay_config_t *cfg, char *err,
                           size_t errlen);

/* Creates r's budget from r->cfg (relay_new); 0 or BEACON_ENOMEM. */
int relay_handshakes_init(relay_t *r);
void relay_handshakes_free(relay_t *r);

/* May the connection t, just accepted, start its handshake? Sets
 * t->peer. 0 with *timeout_ms its deadline, or -1: refused (draining or
 * over the budget), counted and logged, and t must be closed. */
int relay_handshake_admit(relay_tunnel_t *t, uint64_t *timeout_ms);

/* 1 when w may accept a connection now: the relay-wide handshakes in
 * progress are below --max-handshakes START, or w has a handshake the
 * budget would evict for it (relay_handshake_admit). 0: the newcomer
 * would only be refused, so it waits in the listen backlog. */
int relay_handshake_room(relay_worker_t *w);

/* The connection core's settings for a tunnel of w: the relay's
 * options, and the deadline relay_handshake_admit() granted. */
void relay_handshake_conn_config(relay_worker_t *w, uint64_t timeout_ms,
                                 conn_config_t *cc);

/* t's handshake is over (or t is closing): its place in the budget goes
 * back. Idempotent. */
void relay_handshake_leave(relay_tunnel_t *t);

/* 1 when cfg's --allow-client lets t's controller in (or is not set):
 * at the handshake, and again for live tunnels after a reload
 * (revocation.h), each with the settings in place then. */
int relay_client_allowed(relay_tunnel_t *t, const relay_config_t *cfg);

/* The handshake verified the controller: checks --allow-client and
 * takes a --max-tunnels slot. 0, or -1 when refused (logged, counted). */
int relay_handshake_admit_tunnel(relay_tunnel_t *t);

/* Handshake work per loop turn (docs/SECURITY.md "Pre-authentication
 * budget"): at most RELAY_HANDSHAKE_BURST reads fed to handshakes per
 * worker per turn, since each may cost a key exchange and a signature
 * (about a millisecond) and established tunnels must get their turn
 * between. Past that a handshaking tunnel stops reading (its bytes wait
 * in the kernel) until a later turn. */
#define RELAY_HANDSHAKE_BURST 16

/* At t's first read, before its ClientHello is fed (later ones say 0:
 * a client may close right after its last flight): 1 when t's peer has
 * closed or reset its connection, although bytes of it still wait
 * unread: a controller whose own handshake
 * deadline passed while its connection waited in the listen backlog or
 * for its turn. In a reconnect storm on a busy relay most of the queue
 * can be such; feeding their ClientHellos would spend a key exchange
 * and a signature on each. */
int relay_handshake_peer_gone(relay_tunnel_t *t);

/* May t read now? (called by its alloc callback) */
int relay_handshake_may_read(const relay_tunnel_t *t);
/* t read something: counts it if it was handshake work. */
void relay_handshake_read(relay_tunnel_t *t);
/* t stopped reading as relay_handshake_may_read() said: it waits. */
void relay_handshake_wait(relay_tunnel_t *t);
/* A new turn (the worker's check): the budget is full again, and the
 * tunnels that waited longest read again first, through read_start. */
void relay_handshake_new_turn(relay_worker_t *w,
                              int (*read_start)(relay_tunnel_t *t));

/* Gives back t's slot and its place in the budget, if held (t freed). */
void relay_handshake_release(relay_tunnel_t *t);

/* Counts and logs a failed handshake: rc as conn_callbacks_t's
 * on_handshake_failed gives it, detail the TLS layer's text. */
void relay_handshake_failed(relay_tunnel_t *t, int rc, const char *detail);

/* Logs a handshake failure the transport saw (EOF, read error). */
void relay_handshake_failed_io(relay_tunnel_t *t, const char *reason,
                               const char *detail);

#endif
