/*
 * outcome.h - the one classification of how a connect or a stream
 * ended (docs/ARCHITECTURE.md "Outcomes"). A BEACON_E* code, the OS
 * error behind it and the side it happened on (the relay's dial of the
 * target, or the controller's tunnel to the relay) become one outcome_t
 * in outcome_classify(); the log word, the metric label, the beacon/1
 * reason code (docs/PROTOCOL.md "Refusal codes"), the SOCKS5 reply,
 * the HTTP status and the code a controller reports are each one lookup
 * in outcome.c's table. No decision compares the words.
 */
#ifndef BEACON_COMMON_OUTCOME_H
#define BEACON_COMMON_OUTCOME_H

#include <stdint.h>

typedef enum outcome {
  OUTCOME_OK = 0, /* also "not decided yet": ok when the stream ends */
  /* The relay's dial of the target: its verdict (beacon/1 codes 1-7). */
  OUTCOME_REFUSED,        /* the target refused the connection */
  OUTCOME_NOT_FOUND,      /* the target's name did not resolve */
  OUTCOME_UNREACHABLE,    /* no route to the target */
  OUTCOME_TARGET_TIMEOUT, /* the connect to the target timed out */
  OUTCOME_POLICY,         /* the relay's destination policy refused it */
  OUTCOME_BAD_TARGET,     /* a malformed or too long target line */
  OUTCOME_RESOURCE,       /* over a relay budget (beacon/1 relay_limit) */
  OUTCOME_DIAL_OTHER,     /* any other failure of the relay's dial */
  OUTCOME_REVOKED, /* the tunnel's controller certificate was revoked (or
                      is no longer allowed) while it was up: every stream
                      is reset with it and the tunnel closes */
  /* (a beacon/1 reason added later gets its row here) */
  /* The controller's side of a connect. */
  OUTCOME_RELAY_RESET, /* the relay reset the fresh stream with no reason
                          (a Go relay's refusal, a mux limit) */
  OUTCOME_TUNNEL,      /* no usable tunnel to the relay: its connect,
                          TLS, certificate, a lost connection, Go Away */
  /* How a stream that got past its connect ended. */
  OUTCOME_LINE_TIMEOUT,    /* relay: no complete target line in time */
  OUTCOME_RESET,           /* relay: either side reset, or its tunnel ended */
  OUTCOME_RESET_BY_TARGET, /* forward: the target (or the relay) reset it */
  OUTCOME_RESET_BY_CLIENT, /* forward: the local client reset it */
  OUTCOME_TUNNEL_LOST,     /* forward: the tunnel ended under the stream */
  OUTCOME_LOCAL_ERROR,     /* forward: a local socket failed */
  OUTCOME_BAD_REQUEST,     /* forward: a malformed SOCKS5 or HTTP request */
  OUTCOME_NO_REQUEST,      /* forward: no complete request in time */
  OUTCOME_BAD_RESPONSE,    /* forward: an origin's HTTP response that
                              cannot be passed on (or none at all) */
  OUTCOME_COUNT
} outcome_t;

/* The beacon/1 reason codes a relay puts in the RST that refuses a
 * stream it has not acknowledged (docs/PROTOCOL.md "Refusal codes"). */
enum outcome_reason {
  OUTCOME_REASON_UNSPECIFIED = 0, /* no reason given (also: Go relays) */
  OUTCOME_REASON_REFUSED = 1,
  OUTCOME_REASON_NOT_FOUND = 2,
  OUTCOME_REASON_UNREACHABLE = 3, /* no route, or another dial error */
  OUTCOME_REASON_TIMED_OUT = 4,
  OUTCOME_REASON_POLICY = 5,
  OUTCOME_REASON_BAD_TARGET = 6,  /* malformed, too long or missing line */
  OUTCOME_REASON_RELAY_LIMIT = 7, /* the relay is out of a resource */
  OUTCOME_REASON_REVOKED = 8      /* the controller's certificate ended */
};

/* Where a failure happened. A controller does not classify the relay's
 * verdict about a target: it reads it from the beacon/1 reason code
 * (outcome_from_reason). */
typedef enum outcome_side {
  OUTCOME_AT_DIAL,  /* the relay's own dial of the target (dial/dial.h) */
  OUTCOME_AT_TUNNEL /* a controller's dial through its tunnel */
} outcome_side_t;

/* The metric label of a connect: the `outcome` of the connect-time
 * histograms and the `reason` of beacon_dial_failures_total
 * (docs/OPERATIONS.md "Outcomes and directions"), in this order. */
typedef enum outcome_label {
  OUTCOME_LABEL_OK = 0,
  OUTCOME_LABEL_REFUSED,
  OUTCOME_LABEL_NOT_FOUND,
  OUTCOME_LABEL_UNREACHABLE,
  OUTCOME_LABEL_TIMEOUT,
  OUTCOME_LABEL_POLICY,
  OUTCOME_LABEL_OTHER,
  OUTCOME_LABEL_TUNNEL, /* a controller's only: a relay has no tunnel */
  OUTCOME_LABEL_COUNT
} outcome_label_t;

/* A family of failures only ("reason" of beacon_dial_failures_total)
 * starts at the first failure: label l is value l - FIRST_FAILURE. */
#define OUTCOME_LABEL_FIRST_FAILURE OUTCOME_LABEL_REFUSED

/* "ok", "refused", ..., "tunnel": index by outcome_label_t. */
extern const char *const outcome_label_names[OUTCOME_LABEL_COUNT];

/* THE classification: code is 0 or a BEACON_E* code, os_err the libuv
 * (negated errno) code behind it or 0, side where it happened. 0 is
 * OUTCOME_OK on either side. On the tunnel's side a target refused
 * before it reached the wire (EINVAL, ETOOLONG) is OUTCOME_BAD_TARGET
 * and every other failure OUTCOME_TUNNEL. */
outcome_t outcome_classify(int code, int os_err, outcome_side_t side);

/* The row a beacon/1 reason code received by a controller stands for
 * (unknown codes: OUTCOME_RELAY_RESET, as code 0). */
outcome_t outcome_from_reason(uint32_t reason);

/* The lookups. Out-of-range values read as OUTCOME_DIAL_OTHER. */
const char *outcome_word(outcome_t o);            /* stream_done/conn_done */
outcome_label_t outcome_label(outcome_t o);       /* the metric label */
uint32_t outcome_reason(outcome_t o);             /* beacon/1 RST code */
const char *outcome_reason_name(uint32_t reason); /* "refused", ... */
uint8_t outcome_socks_reply(outcome_t o);         /* RFC 1928 REP */
int outcome_http_status(outcome_t o);             /* CONNECT answer */
int outcome_code(outcome_t o);                    /* BEACON_E* (0: ok) */

#endif
