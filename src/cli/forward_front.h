/*
 * forward_front.h - the SOCKS5 and HTTP CONNECT front ends of `beacon
 * forward` for one accepted connection: read the handshake (bounded by
 * FRONT_HEADER_TIMEOUT_MS) with the sans-I/O parsers of src/proxy/, and
 * send the answers once the stream's outcome is known.
 */
#ifndef BEACON_CLI_FORWARD_FRONT_H
#define BEACON_CLI_FORWARD_FRONT_H

#include <stddef.h>
#include <stdint.h>

#include "cli/forward_copy.h"
#include "cli/forward_service.h"
#include "common/outcome.h"
#include "proxy/http_connect.h"
#include "proxy/socks.h"

#define FRONT_HEADER_TIMEOUT_MS 10000
#define FRONT_REST_MAX 4096

/* One connection's handshake state (kind is FRONT_SOCKS or FRONT_HTTP). */
typedef struct front_state {
  enum front kind;
  proxy_socks_t socks;
  proxy_http_t http;
  /* payload the client sent right after the handshake */
  uint8_t rest[FRONT_REST_MAX];
  size_t rest_len;
} front_t;

/* Reads the handshake from fd (SOCKS replies are sent as it goes).
 * Returns 0 when complete (front_target() is set, rest holds what
 * followed), BEACON_EPROTO when the parser failed (front_refuse_request()
 * answers it), or BEACON_ETIMEDOUT, BEACON_ECLOSED (EOF or error) or
 * BEACON_EIO (a SOCKS reply could not be sent). */
int front_read_handshake(front_t *f, int fd);

/* The requested "host:port" after a complete handshake. */
const char *front_target(const front_t *f);

/* After BEACON_EPROTO: HTTP gets its 4xx answer and a lingering close
 * (SOCKS already had its reply from the parser). */
void front_refuse_request(const front_t *f, int fd);

/* The dial failed with this outcome: its SOCKS reply code or HTTP
 * status (common/outcome.h), with detail in the HTTP body. */
void front_answer_failure(const front_t *f, int fd, outcome_t o,
                          const char *detail);

/* The stream is open: SOCKS success or HTTP 200. */
void front_answer_success(const front_t *f, int fd);

/* Sends all n bytes; 0, or BEACON_EIO when the peer is gone. */
int front_send_all(int fd, const void *p, size_t n);

/* front_send_all(), and what was sent counted in h (bytes and its
 * metric) unless h is NULL. */
int front_send_counted(int fd, const void *p, size_t n, half_t *h);

/* Sends an HTTP answer with this status and why as its body (the only
 * writer of HTTP error answers: front ends and the forward proxy),
 * counted in h as front_send_counted(). The forward proxy counts every
 * byte it writes to the client; the SOCKS and CONNECT front ends count
 * only the payload and pass NULL. 0, or BEACON_EIO. */
int front_http_answer(int fd, int status, const char *why, half_t *h);

#endif
