/*
 * tunnel.c - beacon_tunnel_t: the loop thread, the hand-off of
 * beacon_dial() calls to it, and the caller's socket pairs
 * (docs/ARCHITECTURE.md "libbeacon", docs/ARCHITECTURE.md "Threads").
 *
 * A dial runs in the caller's thread until the request is queued: it
 * validates the target, makes a loopback TCP pair (caller end, library
 * end) and wakes the loop with uv_async. The loop opens the stream and
 * completes the request; the caller waits on a condition variable.
 * (socket_pair.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/chain.h"
#include "client/client_stream.h"
#include "client/member_state.h"
#include "client/members.h"
#include "client/own_files.h"
#include "client/req.h"
#include "client/rotation.h"
#include "client/socket_pair.h"
#include "client/dialled_stream.h"

static void err_out(beacon_error_t *out, int code, int hop, const char *msg)
{
  if(out)
    client_error_set(out, code, hop, "%s", msg);
}

/* ---- loop side -------------------------------------------------------- */

static void tunnel_dirty(beacon_tunnel_t *t)
{
  conn_turn_mark(&t->turn, &t->turn_item);
}

/* The end of a turn in which something was marked: every chain flushes,
 * tears down or re-arms (client_chain_service). */
static void on_turn(conn_turn_t *turn, conn_turn_item_t *item)
{
  beacon_tunnel_t *t = turn->ud;
  list_link_t *n = t->chains.next;
  while(n != &t->chains) {
    list_link_t *next = n->next;
    client_chain_service(LIST_CONTAINER(n, client_chain_t, link));
    n = next;
  }
}

/* What chains report to this tunnel handle (chain.c and stream.c call
 * no function of this file). */
static tls_ctx_t *tunnel_ctx_get(beacon_tunnel_t *t)
{
  /* each new connection sees the files as they are now */
  client_rotation_refresh(t);
  pthread_mutex_lock(&t->lock);
  tls_ctx_t *ctx = t->ctx;
  tls_ctx_ref(ctx);
  pthread_mutex_unlock(&t->lock);
  return ctx;
}

static const client_tunnel_host_t tunnel_host = {
    .dirty = tunnel_dirty,
    .dispatch = client_members_dispatch,
    .ctx_get = tunnel_ctx_get,
    .failover = client_members_failover,
    .chain_changed = client_members_chain_changed,
    .reload = beacon_tunnel_reload,
};

static void close_noop(uv_handle_t *h)
{
  (void)h;
}

static void stop_loop(beacon_tunnel_t *t)
{
  t->stopped = 1;
  client_members_stop(t);
  client_rotation_stop(t);
  list_link_t *n = t->chains.next;
  while(n != &t->chains) {
    list_link_t *next = n->next;
    client_chain_t *s = LIST_CONTAINER(n, client_chain_t, link);
    client_chain_fail(s, -1, BEACON_ECLOSED, "tunnel closed");
    client_chain_service(s);
    n = next;
  }
  uv_close((uv_handle_t *)&t->async, close_noop);
  conn_turn_close(&t->turn, close_noop);
}

static void on_async(uv_async_t *h)
{
  beacon_tunnel_t *t = h->data;
  list_link_t todo;
  list_init(&todo);
  pthread_mutex_lock(&t->lock);
  int stopping = t->stopping;
  int want_warm = t->want_warm;
  while(!list_empty(&t->submitted)) {
    list_link_t *n = t->submitted.next;
    list_del(n);
    list_add(&todo, n);
  }
  list_link_t fin;
  list_init(&fin);
  while(!list_empty(&t->finishing)) {
    list_link_t *n = t->finishing.next;
    list_del(n);
    list_add(&fin, n);
  }
  pthread_mutex_unlock(&t->lock);
  while(!list_empty(&fin)) {
    list_link_t *n = fin.next;
    list_del(n);
    client_req_t *req = LIST_CONTAINER(n, client_req_t, finish_link);
    if(req->stream)
      client_stream_finish_local(req->stream);
    client_req_unref(t, req);
  }
  if(t->stopped)
    return;
  if(stopping)
    t->stopped = 1;
  while(!list_empty(&todo)) {
    list_link_t *n = todo.next;
    list_del(n);
    client_members_dispatch(t, LIST_CONTAINER(n, client_req_t, link));
  }
  if(want_warm && !stopping)
    client_members_warm(t);
  if(stopping)
    stop_loop(t);
}

static void *loop_main(void *arg)
{
  beacon_tunnel_t *t = arg;
  uv_run(&t->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* ---- public API ------------------------------------------------------ */

static int copy_config(beacon_config_t *dst, const beacon_config_t *src)
{
  *dst = *src;
  dst->cert = strdup(src->cert);
  dst->key = strdup(src->key);
  dst->ca = strdup(src->ca);
  dst->crl = src->crl ? strdup(src->crl) : NULL;
  if(!dst->cert || !dst->key || !dst->ca || (src->crl && !dst->crl))
    return BEACON_ENOMEM;
  return 0;
}

static void tunnel_destroy(beacon_tunnel_t *t)
{
  if(t->listen_fd >= 0)
    close(t->listen_fd);
  tls_ctx_unref(t->ctx);
  free(t->cfg.cert);
  free(t->cfg.key);
  free(t->cfg.ca);
  free(t->cfg.crl);
  pthread_mutex_destroy(&t->lock);
  pthread_mutex_destroy(&t->pair_lock);
  free(t);
}

/* The identity files (and the relay CRL and pins) as a TLS client
 * context offering ALPN beacon/1. */
static int load_ctx(const beacon_config_t *cfg, tls_ctx_t **out, char *msg,
                    size_t cap)
{
  int rc = tls_ctx_new(out, TLS_CLIENT, cfg->cert, cfg->key, cfg->ca, cfg->crl,
                       msg, cap);
  if(!rc &&
     (tls_ctx_offer_beacon_alpn(*out) || tls_ctx_set_pins(*out, &cfg->pins))) {
    tls_ctx_unref(*out);
    *out = NULL;
    snprintf(msg, cap, "out of memory");
    rc = BEACON_ENOMEM;
  }
  return rc;
}

int beacon_tunnel_reload(beacon_tunnel_t *t, beacon_error_t *err)
{
  tls_ctx_t *ctx, *old;
  char msg[256];
  if(!t) {
    err_out(err, BEACON_EINVAL, -1, "invalid argument");
    return BEACON_EINVAL;
  }
  int rc = load_ctx(&t->cfg, &ctx, msg, sizeof(msg));
  if(rc) {
    err_out(err, rc, -1, msg);
    return rc;
  }
  time_t now = time(NULL);
  client_own_files_check(&t->cfg, ctx, now);
  atomic_store(&t->expiry_warned, (int64_t)now);
  pthread_mutex_lock(&t->lock);
  old = t->ctx;
  t->ctx = ctx;
  t->ctx_gen++; /* live relays are re-checked on the loop (relay_recheck.h) */
  pthread_mutex_unlock(&t->lock);
  tls_ctx_unref(old); /* live connections hold their own references */
  return 0;
}

/* The handle, its copy of cfg, its TLS context (a bad file fails here)
 * and its loopback listener; no loop yet. */
static int tunnel_create(beacon_tunnel_t **out, const beacon_config_t *cfg,
                         beacon_error_t *err)
{
  beacon_tunnel_t *t = calloc(1, sizeof(*t));
  if(!t) {
    err_out(err, BEACON_ENOMEM, -1, "out of memory");
    return BEACON_ENOMEM;
  }
  t->host = &tunnel_host;
  t->listen_fd = -1;
  pthread_mutex_init(&t->lock, NULL);
  pthread_mutex_init(&t->pair_lock, NULL);
  list_init(&t->submitted);
  list_init(&t->finishing);
  list_init(&t->chains);
  char msg[256];
  int rc = copy_config(&t->cfg, cfg);
  if(rc) {
    err_out(err, rc, -1, "out of memory");
  } else if((rc = load_ctx(&t->cfg, &t->ctx, msg, sizeof(msg)))) {
    err_out(err, rc, -1, msg);
  } else if((rc = client_pair_listen(t))) {
    if(err)
      client_error_set(err, BEACON_EIO, -1, "loopback listener: %s",
                       strerror(-rc));
    rc = BEACON_EIO;
  }
  if(rc) {
    tunnel_destroy(t);
    return rc;
  }
  time_t now = time(NULL);
  client_own_files_check(&t->cfg, t->ctx, now);
  atomic_init(&t->expiry_warned, (int64_t)now);
  *out = t;
  return 0;
}

/* The loop's handles, then its thread; on failure the loop is closed
 * again (the handle itself is the caller's). */
static int loop_start(beacon_tunnel_t *t, beacon_error_t *err)
{
  if(uv_loop_init(&t->loop)) {
    err_out(err, BEACON_EIO, -1, "cannot create the event loop");
    return BEACON_EIO;
  }
  client_members_init(t);
  client_rotation_init(t);
  uv_async_init(&t->loop, &t->async, on_async);
  t->async.data = t;
  conn_turn_item_init(&t->turn_item);
  (void)conn_turn_init(&t->turn, &t->loop, on_turn, t); /* fails only on
                                                           a bad loop */
  uv_unref((uv_handle_t *)&t->turn.check); /* the loop ends without it */

  /* The loop thread takes no signals: SIGPIPE from a write to a caller
   * socket that was closed must not kill the process, and SIGINT/SIGTERM
   * belong to the application's threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&t->thread, NULL, loop_main, t);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if(rc == 0)
    return 0;
  err_out(err, BEACON_EIO, -1, "cannot start the loop thread");
  uv_close((uv_handle_t *)&t->async, NULL);
  conn_turn_close(&t->turn, NULL);
  uv_close((uv_handle_t *)&t->pool_timer, NULL);
  uv_close((uv_handle_t *)&t->rotation_timer, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  uv_loop_close(&t->loop);
  return BEACON_EIO;
}

int beacon_tunnel_new(beacon_tunnel_t **out, const beacon_config_t *cfg,
                      beacon_error_t *err)
{
  if(!out) {
    err_out(err, BEACON_EINVAL, -1, "invalid argument");
    return BEACON_EINVAL;
  }
  *out = NULL;
  if(!cfg || !cfg->nrelays) {
    err_out(err, BEACON_ECONFIG, -1, "no relay configured");
    return BEACON_ECONFIG;
  }
  if(!cfg->cert || !cfg->key || !cfg->ca) {
    err_out(err, BEACON_ECONFIG, -1,
            "no controller certificate, key and CA configured");
    return BEACON_ECONFIG;
  }
  beacon_tunnel_t *t;
  int rc = tunnel_create(&t, cfg, err);
  if(rc)
    return rc;
  rc = loop_start(t, err);
  if(rc) {
    tunnel_destroy(t);
    return rc;
  }
  *out = t;
  return 0;
}

void beacon_tunnel_free(beacon_tunnel_t *t)
{
  if(!t)
    return;
  pthread_mutex_lock(&t->lock);
  t->stopping = 1;
  pthread_mutex_unlock(&t->lock);
  uv_async_send(&t->async);
  pthread_join(t->thread, NULL);
  uv_loop_close(&t->loop);
  tunnel_destroy(t);
}

static void deadline_after(struct timespec *ts, long ms)
{
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (ms % 1000) * 1000000L;
  if(ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* Validates the target and makes a request for it: one reference for
 * the caller, one for the loop. NULL with *rc and err set on error. */
static client_req_t *req_new(beacon_tunnel_t *t, const char *target,
                             int timeout_ms, int *rc, beacon_error_t *err)
{
  target_t tg;
  if(!t || !target) {
    err_out(err, BEACON_EINVAL, -1, "invalid argument");
    *rc = BEACON_EINVAL;
    return NULL;
  }
  *rc = target_from_string(target, strlen(target), &tg);
  if(*rc) {
    if(err)
      client_error_set(err, *rc, -1, "invalid target '%.200s': %s", target,
                       *rc == BEACON_ETOOLONG ? "too long"
                                              : "expected host:port");
    return NULL;
  }
  client_req_t *req = calloc(1, sizeof(*req));
  if(!req) {
    err_out(err, BEACON_ENOMEM, -1, "out of memory");
    *rc = BEACON_ENOMEM;
    return NULL;
  }
  req->lfd = req->in_fd = req->out_fd = -1;
  int n = target_format(&tg, req->line, sizeof(req->line));
  if(n < 0) {
    free(req);
    err_out(err, n, -1, "target too long");
    *rc = n;
    return NULL;
  }
  req->line_len = (size_t)n;
  req->open_ms = timeout_ms > 0 ? timeout_ms : t->cfg.open_ms;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&req->cond, &ca);
  pthread_condattr_destroy(&ca);
  req->refs = 2;
  list_init(&req->link);
  return req;
}

/* Hands req to the loop and waits until the relay acknowledged the
 * stream or the dial failed. Returns 0 or a negative code (err filled);
 * the caller's reference stays the caller's. */
static int req_run(beacon_tunnel_t *t, client_req_t *req, const char *target,
                   beacon_error_t *err)
{
  /* A safety net only: the loop's own timers (connect, handshake per
   * hop, stream open) end every request well before this. */
  const beacon_config_t *c = &t->cfg;
  long wait_ms =
      2L * (c->dial_ms + (long)c->nrelays * c->handshake_ms + req->open_ms) +
      2000;
  struct timespec ts;
  deadline_after(&ts, wait_ms);

  pthread_mutex_lock(&t->lock);
  if(t->stopping) {
    req->refs--; /* the loop never sees it */
    pthread_mutex_unlock(&t->lock);
    err_out(err, BEACON_ECLOSED, -1, "tunnel is closing");
    return BEACON_ECLOSED;
  }
  list_add(&t->submitted, &req->link);
  uv_async_send(&t->async);
  while(!req->done) {
    if(pthread_cond_timedwait(&req->cond, &t->lock, &ts) == ETIMEDOUT &&
       !req->done) {
      req->abandoned = 1;
      break;
    }
  }
  int done = req->done;
  int rc = done ? req->result : BEACON_ETIMEDOUT;
  if(err) {
    if(done)
      *err = req->err;
    else
      client_error_set(err, BEACON_ETIMEDOUT, -1, "dial of %.200s timed out",
                       target);
  }
  pthread_mutex_unlock(&t->lock);
  return rc;
}

int beacon_dial(beacon_tunnel_t *t, const char *target, int timeout_ms,
                beacon_error_t *err)
{
  return client_dial(t, target, timeout_ms, NULL, err);
}

int client_dial(beacon_tunnel_t *t, const char *target, int timeout_ms,
                client_dial_info_t *info, beacon_error_t *err)
{
  int rc;
  client_req_t *req = req_new(t, target, timeout_ms, &rc, err);
  if(!req) {
    client_req_dial_info(t, NULL, rc, info);
    return rc;
  }
  int cfd = -1;
  rc = client_pair_make(t, &cfd, &req->lfd);
  if(rc) {
    req->refs = 1;
    client_req_unref(t, req);
    if(err)
      client_error_set(err, BEACON_EIO, -1, "local socket pair: %s",
                       strerror(-rc));
    client_req_dial_info(t, NULL, BEACON_EIO, info);
    return BEACON_EIO;
  }
  rc = req_run(t, req, target, err);
  client_req_dial_info(t, req, rc, info);
  client_req_unref(t, req);
  if(rc < 0) {
    close(cfd);
    return rc;
  }
  return cfd;
}

int client_stream_fd_ok(int fd)
{
  uv_handle_type type = uv_guess_handle(fd);
  return type == UV_TCP || type == UV_NAMED_PIPE;
}

client_req_t *client_dial_fds(beacon_tunnel_t *t, const char *target,
                              int in_fd, int out_fd, int timeout_ms, int *code,
                              client_dial_info_t *info, beacon_error_t *err)
{
  client_req_t *req = req_new(t, target, timeout_ms, code, err);
  if(!req) {
    client_req_dial_info(t, NULL, *code, info);
    return NULL;
  }
  /* The loop closes its own copies; the caller closes its originals. */
  req->in_fd = fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
  req->out_fd =
      out_fd == in_fd ? req->in_fd : fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
  req->want_end = 1;
  if(req->in_fd < 0 || req->out_fd < 0) {
    int e = errno;
    req->refs = 1;
    client_req_unref(t, req);
    if(err)
      client_error_set(err, BEACON_EIO, -1, "dup: %s", strerror(e));
    *code = BEACON_EIO;
    client_req_dial_info(t, NULL, *code, info);
    return NULL;
  }
  *code = req_run(t, req, target, err);
  client_req_dial_info(t, req, *code, info);
  if(*code < 0) {
    client_req_unref(t, req);
    return NULL;
  }
  return req;
}

void client_stream_finish(beacon_tunnel_t *t, client_req_t *req)
{
  pthread_mutex_lock(&t->lock);
  if(!req->ended && !req->finish_queued) {
    req->finish_queued = 1;
    req->refs++; /* the loop's, until it handled the request */
    list_add(&t->finishing, &req->finish_link);
  }
  pthread_mutex_unlock(&t->lock);
  uv_async_send(&t->async);
}

int client_stream_wait(beacon_tunnel_t *t, client_req_t *req, int timeout_ms,
                       client_stream_end_t *end)
{
  struct timespec ts;
  deadline_after(&ts, timeout_ms < 0 ? 86400L * 1000 * 365 : timeout_ms);
  pthread_mutex_lock(&t->lock);
  while(!req->ended) {
    if(pthread_cond_timedwait(&req->cond, &t->lock, &ts) == ETIMEDOUT &&
       !req->ended)
      break;
  }
  int ended = req->ended;
  if(ended && end) {
    end->code = req->end_code;
    end->outcome = req->end_outcome;
    end->bytes_up = req->bytes_up;
    end->bytes_down = req->bytes_down;
    end->relay = req->relay;
  }
  pthread_mutex_unlock(&t->lock);
  if(!ended)
    return BEACON_ETIMEDOUT;
  client_req_unref(t, req);
  return 0;
}
