/*
 * req.h - a beacon_dial() in flight (client_req_t): its result
 * handed to the waiting caller under the tunnel's lock, and its
 * references (req.c).
 */
#ifndef BEACON_CLIENT_REQ_H
#define BEACON_CLIENT_REQ_H

#include "client/client_int.h"
#include "client/client_stream.h"
#include "common/error.h"

/* Sets e to code, hop and a formatted message. */
void client_error_set(beacon_error_t *e, int code, int hop, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
/* Completes a request; returns 1 when the caller still waits for it (it
 * now owns the result), 0 when it gave up (the loop must undo what it
 * handed over). */
BEACON_MUST_USE int client_req_finish(beacon_tunnel_t *t, client_req_t *req,
                                      int code, const beacon_error_t *err);
/* Completes a request with a failure (code < 0): nothing was handed
 * over, so there is nothing to undo whether the caller still waits. */
void client_req_fail(beacon_tunnel_t *t, client_req_t *req, int code,
                     const beacon_error_t *err);
void client_req_ref(beacon_tunnel_t *t, client_req_t *req);
void client_req_unref(beacon_tunnel_t *t, client_req_t *req);
/* client_dial_fds(): the stream ended; wakes client_stream_wait(). */
void client_req_end(beacon_tunnel_t *t, client_req_t *req, int code,
                    outcome_t outcome, uint64_t up, uint64_t down);
/* Fills *info (may be NULL) for the caller of a dial that returned rc,
 * from the finished request (NULL: it never reached the loop). */
void client_req_dial_info(beacon_tunnel_t *t, client_req_t *req, int rc,
                          client_dial_info_t *info);

#endif
