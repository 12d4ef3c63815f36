/*
 * http_forward.h - the heads of an HTTP/1.1 forward proxy (RFC 9112,
 * RFC 9110 §7.6) for `beacon forward --http-connect`: a client's
 * absolute-form request ("GET http://host/path HTTP/1.1") becomes an
 * origin-form request for that origin, and the origin's response head is
 * passed back; both lose their hop-by-hop fields (Connection and what it
 * names, Keep-Alive, Proxy-*, TE, Trailer, Upgrade) and gain Via. Each
 * call also says how the message's body is framed (proxy/http_body.h)
 * and whether the connection may carry another message after it.
 * Sans-I/O: whole heads in, whole heads out, no allocation.
 */
#ifndef BEACON_PROXY_HTTP_FORWARD_H
#define BEACON_PROXY_HTTP_FORWARD_H

#include <stddef.h>

#include "common/error.h"
#include "proxy/http_body.h"
#include "target/target.h"

/* The longest response head accepted from an origin. */
#define HTTP_FORWARD_MAX_HEAD 16384
/* What a rewrite may add to a head: out needs len + this. */
#define HTTP_FORWARD_HEAD_SLACK 512

typedef struct http_fwd_request {
  char target[TARGET_MAX_LINE + 1]; /* the origin, "host:port" */
  int is_head;    /* HEAD: the response has no body whatever it says */
  int keep_alive; /* the client wants the connection kept open */
  http_body_t body;
} http_fwd_request_t;

typedef struct http_fwd_response {
  int status;
  int interim;     /* 1xx: another head follows on the same request */
  int keep_alive;  /* the origin keeps the connection after the body */
  int client_keep; /* so does the client's: what the rewritten head says */
  http_body_t body;
} http_fwd_response_t;

/* Rewrites the absolute-form request head (len bytes: request line
 * through the empty line) into out (cap >= len + HTTP_FORWARD_HEAD_SLACK)
 * for its origin. 0 with *outlen and *r set, or the HTTP status to answer
 * the client with (400 malformed or ambiguous framing, 501 a transfer
 * coding other than chunked); *why then names the problem. */
BEACON_MUST_USE int http_fwd_request(const char *head, size_t len,
                                     http_fwd_request_t *r, char *out,
                                     size_t cap, size_t *outlen,
                                     const char **why);

/* Rewrites the origin's response head for the client (same cap rule).
 * is_head: the request was HEAD; client_keep_alive: whether the client
 * connection stays open after this response, which the rewritten head
 * says (Connection: close otherwise). 0 with *outlen and *r set, or
 * BEACON_EINVAL with *why for a head that cannot be forwarded (the
 * client gets 502). */
BEACON_MUST_USE int http_fwd_response(const char *head, size_t len,
                                      int is_head, int client_keep_alive,
                                      http_fwd_response_t *r, char *out,
                                      size_t cap, size_t *outlen,
                                      const char **why);

/* The length of the head at the start of buf (through the empty line
 * that ends it), or 0 while it is incomplete. */
size_t http_head_length(const char *buf, size_t len);

#endif
