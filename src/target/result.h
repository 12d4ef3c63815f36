/*
 * result.h - why a relay refused a stream, as a code on the wire
 * (docs/PROTOCOL.md "Connect results (ALPN beacon/1)"): the relay puts
 * it in the length of the RST that refuses a stream it has not
 * acknowledged; the controller turns it back into a BEACON_E* code.
 */
#ifndef BEACON_TARGET_RESULT_H
#define BEACON_TARGET_RESULT_H

#include <stdint.h>

enum target_result {
  TARGET_RESULT_UNSPECIFIED = 0, /* no reason given (also: Go relays) */
  TARGET_RESULT_REFUSED = 1,     /* the target refused the connection */
  TARGET_RESULT_NOT_FOUND = 2,   /* the name did not resolve */
  TARGET_RESULT_UNREACHABLE = 3, /* no route, or another dial error */
  TARGET_RESULT_TIMED_OUT = 4,   /* the dial timed out */
  TARGET_RESULT_POLICY = 5,      /* the relay's policy refuses it */
  TARGET_RESULT_BAD_TARGET = 6,  /* a malformed or missing target line */
  TARGET_RESULT_RELAY_LIMIT = 7, /* the relay is out of a resource */
  /* The controller's certificate was revoked (or is no longer allowed)
   * while its tunnel was up: every stream is reset with it, acknowledged
   * or not, and the tunnel closes. */
  TARGET_RESULT_REVOKED = 8
};

/* The code for a relay-side BEACON_E* dial error. */
uint32_t target_result_from_error(int err);
/* The BEACON_E* code a controller reports for a received code. */
int target_result_to_error(uint32_t code);
/* "refused", "not_found", ...; "unspecified" for unknown codes. */
const char *target_result_name(uint32_t code);

#endif
