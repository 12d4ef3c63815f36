/*
 * http.h - the metrics endpoint: a minimal HTTP/1.1 server on a libuv
 * loop. GET (or HEAD) /metrics answers the render callback's text as
 * "text/plain; version=0.0.4", /healthz answers "ok\n", other paths 404,
 * other methods 405, malformed requests 400, heads over 8 KiB 431. Each
 * connection gets one response and is closed. A connection must send its
 * whole request within METRICS_HTTP_HEADER_TIMEOUT_MS, and its response
 * must be written within METRICS_HTTP_TIMEOUT_MS after that. At most
 * METRICS_HTTP_MAX_CONNS are open at once: a new connection past that
 * closes the oldest one still without a whole request, so idle sockets
 * can never hold the endpoint shut (it is closed itself only when every
 * other connection is already being answered).
 */
#ifndef BEACON_METRICS_HTTP_H
#define BEACON_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "metrics/metrics.h"
#include "common/error.h"

#define METRICS_HTTP_HEADER_TIMEOUT_MS 2000
#define METRICS_HTTP_TIMEOUT_MS 5000
#define METRICS_HTTP_MAX_CONNS 32

/* Writes the exposition text into buf; returns its full length even when
 * it does not fit (snprintf style), so the server can retry larger.
 * Called on the server's loop thread for each scrape. */
typedef size_t (*metrics_render_fn)(void *ud, char *buf, size_t cap);

/* A metrics_render_fn whose ud is a metrics_registry_t *. */
size_t metrics_registry_render(void *ud, char *buf, size_t cap);

typedef struct metrics_http metrics_http_t;

/* Parses a listen address: "HOST:PORT" (IPv4 literal), "[V6]:PORT",
 * ":PORT" or "PORT" (both loopback 127.0.0.1: an endpoint is exposed
 * beyond the host only when asked for by address). PORT 0 picks a free
 * port. 0, or BEACON_EINVAL with a message in err. */
BEACON_MUST_USE int metrics_parse_addr(const char *s,
                                       struct sockaddr_storage *out, char *err,
                                       size_t errlen);

/* Binds and listens on addr, logs "metrics_listening address=IP:PORT" and
 * serves on loop. Returns the server, or NULL with a message in err
 * (bad address, address in use, out of memory). Must be called, like
 * metrics_http_stop(), on the loop's thread. */
metrics_http_t *metrics_http_start(uv_loop_t *loop, const char *addr,
                                   metrics_render_fn render, void *ud,
                                   char *err, size_t errlen);

/* /healthz: the HTTP status to answer (200, 503...) and its body text
 * ("ok\n"); called on the server's loop thread. Without one, /healthz
 * always answers 200 "ok". */
typedef int (*metrics_health_fn)(void *ud, const char **body);
void metrics_http_set_health(metrics_http_t *s, metrics_health_fn fn,
                             void *ud);

/* The bound port (useful with port 0). */
int metrics_http_port(const metrics_http_t *s);

/* Stops listening and closes every connection. Closing is asynchronous:
 * the memory is released from close callbacks, so the loop must run
 * (uv_run) after this for the handles to go. NULL is a no-op. */
void metrics_http_stop(metrics_http_t *s);

#endif
