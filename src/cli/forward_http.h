/*
 * forward_http.h - the HTTP/1.1 forward proxy of `beacon forward
 * --http-connect`: after the front end read a request with an absolute
 * http:// URI ("GET http://host/path HTTP/1.1", what http_proxy= makes
 * clients send for plain http URLs), it serves that request and the
 * ones that follow on the same client connection. Each origin gets a
 * stream through the tunnel, kept open while the client asks the same
 * origin again (keep-alive) and replaced when it asks another. Heads are
 * rewritten by proxy/http_forward.h; bodies are passed on unchanged,
 * their ends found by proxy/http_body.h. Nothing is cached.
 */
#ifndef BEACON_CLI_FORWARD_HTTP_H
#define BEACON_CLI_FORWARD_HTTP_H

#include "beacon/beacon.h"
#include "common/outcome.h"
#include "cli/forward_service.h"
#include "cli/forward_copy.h"
#include "cli/forward_front.h"

/* How the connection ended, for its conn_done line. */
typedef struct forward_http_end {
  char target[TARGET_MAX_LINE + 1]; /* the last origin asked for */
  outcome_t outcome; /* OK, BAD_REQUEST, BAD_RESPONSE, LOCAL_ERROR, or a
                        failed dial's */
  const char *detail;
  const char *reason; /* a failed dial's BEACON_E* name, or NULL */
  const char *relay;  /* the relay of the last stream */
  beacon_error_t err;
  uint64_t requests;
} forward_http_end_t;

/* Serves the client on fd, whose first request front has read; up and
 * down count the bytes sent to the origins and to the client. Returns
 * when the connection is done with (the caller closes fd). */
void forward_http_serve(forward_service_t *svc, int fd, const front_t *front,
                        half_t *up, half_t *down, forward_http_end_t *end);

#endif
