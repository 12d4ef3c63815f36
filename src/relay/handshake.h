/*
 * handshake.h - a tunnel from accept to its tunnel slot (docs/SECURITY.md
 * "Pre-authentication budget"): admission into the relay-wide handshake
 * budget (relay/admission.h, behind a lock the workers share), the
 * handshake deadline it grants, the refusals (counted by reason, logged
 * at most once a second per reason), the --allow-client check, the
 * handshake failure log lines, and the --max-tunnels slot that only a
 * finished mTLS handshake takes.
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

/* Checks the budget options: 0, or BEACON_EINVAL with err. */
int relay_handshakes_check(const relay_config_t *cfg, char *err,
                           size_t errlen);

/* Creates r's budget from r->cfg (relay_new); 0 or BEACON_ENOMEM. */
int relay_handshakes_init(relay_t *r);
void relay_handshakes_free(relay_t *r);

/* May the connection t (from peer) start its handshake? 0 with
 * *timeout_ms its deadline, or -1: refused, counted and logged, and t
 * must be closed. */
int relay_handshake_admit(relay_tunnel_t *t, const struct sockaddr *peer,
                          uint64_t *timeout_ms);

/* t's handshake is over (or t is closing): its place in the budget goes
 * back. Idempotent. */
void relay_handshake_leave(relay_tunnel_t *t);

/* The handshake verified the controller: checks --allow-client and
 * takes a --max-tunnels slot. 0, or -1 when refused (logged, counted). */
int relay_handshake_admit_tunnel(relay_tunnel_t *t);

/* Gives back t's slot and its place in the budget, if held (t freed). */
void relay_handshake_release(relay_tunnel_t *t);

/* Counts and logs a failed handshake: rc as conn_callbacks_t's
 * on_handshake_failed gives it, detail the TLS layer's text. */
void relay_handshake_failed(relay_tunnel_t *t, int rc, const char *detail);

/* Logs a handshake failure the transport saw (EOF, read error). */
void relay_handshake_failed_io(relay_tunnel_t *t, const char *reason,
                               const char *detail);

#endif
