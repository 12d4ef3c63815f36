/*
 * server.c - the relay process (docs/ARCHITECTURE.md "Threads",
 * docs/ARCHITECTURE.md "Shutdown and reload keep live streams"): the listening
 * sockets (one per worker, same address, SO_REUSEPORT), the worker
 * threads with one libuv loop each, the control loop with the signals
 * (SIGTERM/SIGINT drain and stop, SIGHUP reloads the TLS material), and
 * the shared, reference-counted TLS context.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "common/sd_notify.h"
#include "log/log.h"
#include "relay/relay_int.h"
#include "tls/file_checks.h"

#define LISTEN_BACKLOG 511

void relay_config_default(relay_config_t *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->config_dir = "/etc/beacon";
  cfg->tunnel_addr = ":8456";
  cfg->dial_timeout_ms = 15000;
  cfg->handshake_timeout_ms = 10000;
  cfg->target_timeout_ms = 10000;
  cfg->keepalive_ms = 20000;
  cfg->keepalive_timeout_ms = 10000;
  cfg->write_timeout_ms = 10000;
  cfg->drain_timeout_ms = 30000;
  cfg->max_streams = 4096;
  cfg->max_tunnels = 1024;
  cfg->window_budget = MUX_DEFAULT_WINDOW_BUDGET;
}

void relay_addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
  char ip[INET6_ADDRSTRLEN] = "?";
  if(sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
    snprintf(buf, cap, "%s:%u", ip, ntohs(in->sin_port));
  } else if(sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    snprintf(buf, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
  } else {
    snprintf(buf, cap, "?");
  }
}

int relay_load_tls(const relay_config_t *cfg, struct tls_ctx **out, char *err,
                   size_t errlen)
{
  const char *dir = cfg->config_dir;
  char cert[4096], key[4096], ca[4096], crl[4096];
  snprintf(cert, sizeof(cert), "%s/relay.crt", dir);
  snprintf(key, sizeof(key), "%s/relay.key", dir);
  snprintf(ca, sizeof(ca), "%s/fleet-ca.crt", dir);
  snprintf(crl, sizeof(crl), "%s/crl.pem", dir);
  int have_crl = access(crl, F_OK) == 0;
  /* Refuse what would only fail later, at every controller's handshake,
   * or leak: an open key, a certificate out of its validity period. */
  int rc = tls_key_file_check(key, cfg->allow_group_readable_key, err, errlen);
  if(!rc)
    rc = tls_ctx_new(out, TLS_SERVER, cert, key, ca, have_crl ? crl : NULL,
                     err, errlen);
  if(!rc && (rc = tls_cert_file_validity(cert, time(NULL), err, errlen))) {
    tls_ctx_unref(*out);
    *out = NULL;
  }
  if(!rc && tls_ctx_offer_beacon_alpn(*out)) {
    tls_ctx_unref(*out);
    *out = NULL;
    snprintf(err, errlen, "out of memory");
    rc = BEACON_ENOMEM;
  }
  return rc;
}

struct tls_ctx *relay_ctx_get(relay_t *r)
{
  uv_mutex_lock(&r->ctx_lock);
  struct tls_ctx *c = r->ctx;
  tls_ctx_ref(c);
  uv_mutex_unlock(&r->ctx_lock);
  return c;
}

/* ---- addresses and sockets ---- */

/* Splits ":PORT", "HOST:PORT" or "[V6]:PORT" into a socket address;
 * *any = 1 for an empty host (all addresses, dual stack). */
static int parse_addr(const char *s, struct sockaddr_storage *ss, int *any,
                      char *err, size_t errlen)
{
  char host[256];
  const char *colon;
  const char *hs = s;
  size_t hl;
  if(s[0] == '[') {
    const char *rb = strchr(s, ']');
    if(!rb || rb[1] != ':')
      goto bad;
    hs = s + 1;
    hl = (size_t)(rb - hs);
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if(!colon)
      goto bad;
    hl = (size_t)(colon - s);
    if(memchr(s, ':', hl))
      goto bad; /* an IPv6 literal needs brackets */
  }
  if(hl >= sizeof(host))
    goto bad;
  memcpy(host, hs, hl);
  host[hl] = 0;
  char *end;
  errno = 0;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if(errno || end == colon + 1 || *end || port > 65535)
    goto bad;
  memset(ss, 0, sizeof(*ss));
  *any = !hl;
  if(!hl) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_any;
    in6->sin6_port = htons((uint16_t)port);
    return 0;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if(rc || !res) {
    snprintf(err, errlen, "--tunnel-addr %s: cannot resolve '%s': %s", s, host,
             gai_strerror(rc));
    return BEACON_EINVAL;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if(ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  return 0;
bad:
  snprintf(err, errlen,
           "--tunnel-addr '%s': expected :PORT, HOST:PORT or "
           "[IPV6]:PORT with a port 0-65535",
           s);
  return BEACON_EINVAL;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
  if(ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* A bound, listening, non-blocking socket with SO_REUSEPORT so every
 * worker can have its own on the same address. -errno on failure. */
static int bind_one(const struct sockaddr_storage *ss, int dual)
{
  int fd =
      socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if(fd < 0)
    return -errno;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
    goto fail;
  if(dual && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)))
    goto fail;
  socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                           : sizeof(struct sockaddr_in6);
  if(bind(fd, (const struct sockaddr *)ss, len))
    goto fail;
  if(listen(fd, LISTEN_BACKLOG))
    goto fail;
  return fd;
fail:;
  int e = errno;
  close(fd);
  return -e;
}

/* SO_REUSEPORT would let us share a port another relay of the same user
 * already serves: probe with a plain bind first. -errno or 0. */
static int probe_free(const struct sockaddr_storage *ss, int dual)
{
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if(fd < 0)
    return -errno;
  int one = 1, zero = 0, rc = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if(dual)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                           : sizeof(struct sockaddr_in6);
  if(bind(fd, (const struct sockaddr *)ss, len))
    rc = -errno;
  close(fd);
  return rc;
}

static int bind_all(relay_t *r, char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  int any;
  int rc = parse_addr(r->tunnel_addr, &ss, &any, err, errlen);
  if(rc)
    return rc;
  int busy = probe_free(&ss, any);
  if(busy == -EADDRINUSE) {
    snprintf(err, errlen, "cannot listen on %s: %s", r->tunnel_addr,
             strerror(-busy));
    return BEACON_EIO;
  }
  for(unsigned i = 0; i < r->nworkers; i++) {
    int fd = bind_one(&ss, any);
    if(fd < 0 && any && i == 0 &&
       (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)) {
      /* No IPv6 here: all IPv4 addresses instead. */
      struct sockaddr_in *in = (struct sockaddr_in *)&ss;
      int port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      memset(&ss, 0, sizeof(ss));
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_ANY);
      in->sin_port = htons((uint16_t)port);
      any = 0;
      fd = bind_one(&ss, 0);
    }
    if(fd < 0) {
      snprintf(err, errlen, "cannot listen on %s: %s", r->tunnel_addr,
               strerror(-fd));
      return BEACON_EIO;
    }
    r->workers[i].fd = fd;
    if(i == 0) {
      /* Port 0: every worker binds the port the first one got. */
      struct sockaddr_storage got;
      socklen_t gl = sizeof(got);
      getsockname(fd, (struct sockaddr *)&got, &gl);
      r->port = ntohs(got.ss_family == AF_INET
                          ? ((struct sockaddr_in *)&got)->sin_port
                          : ((struct sockaddr_in6 *)&got)->sin6_port);
      set_port(&ss, r->port);
      relay_addr_format((struct sockaddr *)&got, r->addr_text,
                        sizeof(r->addr_text));
    }
  }
  return 0;
}

/* ---- workers ---- */

static void worker_check_stop(relay_worker_t *w);

static void on_dirty_check(uv_check_t *h)
{
  relay_worker_t *w = h->data;
  /* Tunnels dirtied while flushing wait for the next turn (the idle
   * handle keeps that turn from blocking). */
  list_link_t batch;
  list_init(&batch);
  if(!list_empty(&w->dirty)) {
    batch.next = w->dirty.next;
    batch.prev = w->dirty.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    list_init(&w->dirty);
  }
  while(!list_empty(&batch)) {
    relay_tunnel_t *t = LIST_CONTAINER(batch.next, relay_tunnel_t, dirty_link);
    relay_tunnel_flush(t); /* unlinks t */
  }
  if(list_empty(&w->dirty))
    uv_idle_stop(&w->idle);
}

static void on_idle(uv_idle_t *h)
{
}

void relay_worker_dirty(relay_worker_t *w)
{
  if(!uv_is_active((uv_handle_t *)&w->idle) && !w->stopping)
    uv_idle_start(&w->idle, on_idle);
}

static void on_connection(uv_stream_t *server, int status)
{
  relay_worker_t *w = server->data;
  if(status < 0) {
    log_line_t l;
    if(log_begin(&l, LOG_WARN, "accept_failed")) {
      log_str(&l, "error", uv_strerror(status));
      log_end(&l);
    }
    return;
  }
  relay_tunnel_accept(w);
}

static void noop_closed(uv_handle_t *h)
{
}

static void refuse_closed(uv_handle_t *h)
{
  relay_worker_t *w = h->data;
  w->refuse_busy = 0;
  /* The connection refused meanwhile is still pending in libuv, which
   * paused the listener until it is accepted. */
  if(w->refuse_waiting && !w->draining) {
    w->refuse_waiting = 0;
    relay_worker_refuse(w);
  }
}

void relay_worker_refuse(relay_worker_t *w)
{
  if(w->refuse_busy) {
    w->refuse_waiting = 1;
    return;
  }
  w->refuse_busy = 1;
  w->refuse.data = w;
  char peer[64] = "?";
  int rc = uv_tcp_init(&w->loop, &w->refuse);
  if(!rc)
    rc = uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&w->refuse);
  if(!rc) {
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if(!uv_tcp_getpeername(&w->refuse, (struct sockaddr *)&ss, &sl))
      relay_addr_format((struct sockaddr *)&ss, peer, sizeof(peer));
  }
  atomic_fetch_add(&w->r->metrics.tunnels_refused_nomem, 1);
  log_line_t l;
  if(log_begin(&l, LOG_WARN, "tunnel_refused")) {
    log_str(&l, "peer", peer);
    log_str(&l, "reason", "out_of_memory");
    if(rc)
      log_str(&l, "error", uv_strerror(rc));
    log_end(&l);
  }
  uv_close((uv_handle_t *)&w->refuse, refuse_closed);
}

static void worker_check_stop(relay_worker_t *w)
{
  if(!w->draining || w->ntunnels || w->stopping)
    return;
  w->stopping = 1;
  uv_close((uv_handle_t *)&w->wake, noop_closed);
  uv_close((uv_handle_t *)&w->drain_timer, noop_closed);
  uv_close((uv_handle_t *)&w->check, noop_closed);
  uv_close((uv_handle_t *)&w->idle, noop_closed);
}

void relay_worker_tunnel_gone(relay_worker_t *w)
{
  w->ntunnels--;
  worker_check_stop(w);
}

static void on_drain_timeout(uv_timer_t *h)
{
  relay_worker_t *w = h->data;
  list_link_t *l = w->tunnels.next;
  while(l != &w->tunnels) {
    relay_tunnel_t *t = LIST_CONTAINER(l, relay_tunnel_t, link);
    l = l->next; /* closing never unlinks synchronously */
    relay_tunnel_close(t, CONN_CLOSE_DRAIN_TIMEOUT);
  }
}

static void worker_drain(relay_worker_t *w)
{
  if(w->draining)
    return;
  w->draining = 1;
  uv_close((uv_handle_t *)&w->listener, noop_closed);
  list_link_t *l = w->tunnels.next;
  while(l != &w->tunnels) {
    relay_tunnel_t *t = LIST_CONTAINER(l, relay_tunnel_t, link);
    l = l->next;
    relay_tunnel_drain(t);
  }
  uv_timer_start(&w->drain_timer, on_drain_timeout, w->r->cfg.drain_timeout_ms,
                 0);
  worker_check_stop(w);
}

static void on_wake(uv_async_t *h)
{
  relay_worker_t *w = h->data;
  if(atomic_load(&w->r->draining))
    worker_drain(w);
}

static void worker_main(void *arg)
{
  relay_worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  relay_tunnel_free_cache(w);
  atomic_fetch_add(&w->r->workers_done, 1);
  uv_async_send(&w->r->done_async);
}

static int worker_init(relay_worker_t *w)
{
  int err = uv_loop_init(&w->loop);
  if(err)
    return err;
  list_init(&w->tunnels);
  relay_tunnel_init_cache(w);
  list_init(&w->dirty);
  uv_tcp_init(&w->loop, &w->listener);
  w->listener.data = w;
  err = uv_tcp_open(&w->listener, w->fd);
  if(!err)
    err =
        uv_listen((uv_stream_t *)&w->listener, LISTEN_BACKLOG, on_connection);
  if(err)
    return err;
  w->fd = -1; /* owned by the handle now */
  uv_async_init(&w->loop, &w->wake, on_wake);
  uv_timer_init(&w->loop, &w->drain_timer);
  uv_check_init(&w->loop, &w->check);
  uv_idle_init(&w->loop, &w->idle);
  w->wake.data = w->drain_timer.data = w->check.data = w->idle.data = w;
  uv_check_start(&w->check, on_dirty_check);
  return 0;
}

/* ---- control loop: signals ---- */

static void begin_stop(relay_t *r, const char *why)
{
  if(atomic_exchange(&r->draining, 1))
    return;
  beacon_sd_notify("STOPPING=1");
  log_line_t l;
  if(log_begin(&l, LOG_INFO, "draining")) {
    log_str(&l, "reason", why);
    log_ms(&l, "timeout", r->cfg.drain_timeout_ms);
    log_u64(&l, "tunnels", atomic_load(&r->metrics.tunnels_open));
    log_end(&l);
  }
  for(unsigned i = 0; i < r->started; i++)
    uv_async_send(&r->workers[i].wake);
}

static void reload(relay_t *r)
{
  char err[512];
  struct tls_ctx *ctx = NULL;
  log_line_t l;
  beacon_sd_notify("RELOADING=1");
  int rc = relay_load_tls(&r->cfg, &ctx, err, sizeof(err));
  beacon_sd_notify("READY=1");
  if(rc) {
    if(log_begin(&l, LOG_ERROR, "reload_failed")) {
      log_str(&l, "error", err);
      log_str(&l, "action", "keeping the previous certificates");
      log_end(&l);
    }
    return;
  }
  uv_mutex_lock(&r->ctx_lock);
  struct tls_ctx *old = r->ctx;
  r->ctx = ctx;
  uv_mutex_unlock(&r->ctx_lock);
  tls_ctx_unref(old); /* live tunnels hold their own references */
  relay_cert_check(r, ctx);
  if(log_begin(&l, LOG_INFO, "reload")) {
    log_str(&l, "config_dir", r->config_dir);
    log_i64(&l, "cert_not_after", (int64_t)tls_ctx_cert_not_after(ctx));
    log_end(&l);
  }
}

static void on_signal(uv_signal_t *h, int signum)
{
  relay_t *r = h->data;
  if(signum == SIGHUP)
    reload(r);
  else
    begin_stop(r, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_stop_async(uv_async_t *h)
{
  begin_stop(h->data, "stop");
}

static void on_worker_done(uv_async_t *h)
{
  relay_t *r = h->data;
  if(r->closing || atomic_load(&r->workers_done) < (int)r->nworkers)
    return;
  r->closing = 1;
  uv_close((uv_handle_t *)&r->sig_term, noop_closed);
  uv_close((uv_handle_t *)&r->sig_int, noop_closed);
  uv_close((uv_handle_t *)&r->sig_hup, noop_closed);
  uv_close((uv_handle_t *)&r->stop_async, noop_closed);
  uv_close((uv_handle_t *)&r->done_async, noop_closed);
  uv_close((uv_handle_t *)&r->expiry_timer, noop_closed);
  metrics_http_stop(r->metrics_http);
  r->metrics_http = NULL;
}

/* Daily: the warning repeats while the certificate stays unrenewed. */
static void on_expiry_timer(uv_timer_t *t)
{
  relay_t *r = t->data;
  uv_mutex_lock(&r->ctx_lock);
  relay_cert_check(r, r->ctx);
  uv_mutex_unlock(&r->ctx_lock);
}

/* ---- public ---- */

int relay_new(relay_t **out, const relay_config_t *cfg, char *err,
              size_t errlen)
{
  *out = NULL;
  if(!cfg->max_streams || !cfg->max_tunnels || !cfg->dial_timeout_ms ||
     !cfg->handshake_timeout_ms || !cfg->target_timeout_ms ||
     !cfg->write_timeout_ms) {
    snprintf(err, errlen, "limits and timeouts must be greater than 0");
    return BEACON_EINVAL;
  }
  relay_t *r = calloc(1, sizeof(*r));
  if(!r)
    return BEACON_ENOMEM;
  r->cfg = *cfg;
  r->config_dir = strdup(cfg->config_dir);
  r->tunnel_addr = strdup(cfg->tunnel_addr);
  r->nworkers = cfg->workers ? cfg->workers : uv_available_parallelism();
  if(!r->nworkers)
    r->nworkers = 1;
  r->workers = calloc(r->nworkers, sizeof(*r->workers));
  r->default_policy = policy_new();
  uv_mutex_init(&r->ctx_lock);
  int rc = BEACON_ENOMEM;
  if(!r->config_dir || !r->tunnel_addr || !r->workers || !r->default_policy)
    goto fail;
  r->cfg.config_dir = r->config_dir;
  r->cfg.tunnel_addr = r->tunnel_addr;
  for(unsigned i = 0; i < r->nworkers; i++) {
    r->workers[i].fd = -1;
    r->workers[i].r = r;
    r->workers[i].index = i;
  }
  rc = relay_load_tls(&r->cfg, &r->ctx, err, errlen);
  if(rc)
    goto fail;
  relay_prom_init(&r->prom, &r->metrics);
  relay_cert_check(r, r->ctx);
  rc = bind_all(r, err, errlen);
  if(rc)
    goto fail;
  *out = r;
  return 0;
fail:
  relay_free(r);
  return rc;
}

static void raise_nofile(void)
{
  struct rlimit rl;
  if(!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int relay_run(relay_t *r)
{
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  int err = uv_loop_init(&r->loop);
  if(err)
    return BEACON_EIO;
  uv_signal_init(&r->loop, &r->sig_term);
  uv_signal_init(&r->loop, &r->sig_int);
  uv_signal_init(&r->loop, &r->sig_hup);
  uv_async_init(&r->loop, &r->stop_async, on_stop_async);
  uv_async_init(&r->loop, &r->done_async, on_worker_done);
  r->sig_term.data = r->sig_int.data = r->sig_hup.data = r;
  r->stop_async.data = r->done_async.data = r;
  uv_signal_start(&r->sig_term, on_signal, SIGTERM);
  uv_signal_start(&r->sig_int, on_signal, SIGINT);
  uv_signal_start(&r->sig_hup, on_signal, SIGHUP);

  uv_timer_init(&r->loop, &r->expiry_timer);
  r->expiry_timer.data = r;
  uv_timer_start(&r->expiry_timer, on_expiry_timer, 86400000, 86400000);

  unsigned started = 0;
  int rc = 0;
  if(r->cfg.metrics_addr) {
    char merr[256];
    r->metrics_http = metrics_http_start(&r->loop, r->cfg.metrics_addr,
                                         metrics_registry_render, &r->prom.reg,
                                         merr, sizeof(merr));
    if(!r->metrics_http) {
      log_msg(LOG_ERROR, "metrics_failed", "%s", merr);
      rc = BEACON_EIO;
    }
  }
  for(unsigned i = 0; !rc && i < r->nworkers; i++) {
    relay_worker_t *w = &r->workers[i];
    err = worker_init(w);
    if(!err)
      err = uv_thread_create(&w->thread, worker_main, w);
    if(err) {
      log_msg(LOG_ERROR, "worker_failed", "worker %u: %s", i,
              uv_strerror(err));
      rc = BEACON_EIO;
      break;
    }
    r->started = ++started;
  }
  if(started) {
    log_line_t l;
    if(log_begin(&l, LOG_INFO, "listening")) {
      log_str(&l, "address", r->addr_text);
      log_u64(&l, "port", (uint64_t)r->port);
      log_u64(&l, "workers", started);
      log_end(&l);
    }
    char st[128];
    snprintf(st, sizeof(st), "READY=1\nSTATUS=listening on %s", r->addr_text);
    beacon_sd_notify(st);
  }
  if(rc) {
    /* Workers that never started count as done. */
    atomic_fetch_add(&r->workers_done, (int)(r->nworkers - started));
    begin_stop(r, "startup failure");
    /* No worker may be left to report done: check from the loop. */
    uv_async_send(&r->done_async);
  }
  uv_run(&r->loop, UV_RUN_DEFAULT);
  for(unsigned i = 0; i < started; i++) {
    uv_thread_join(&r->workers[i].thread);
    uv_loop_close(&r->workers[i].loop);
  }
  uv_loop_close(&r->loop);
  if(!rc)
    log_msg(LOG_INFO, "stopped", "drained");
  return rc;
}

void relay_stop(relay_t *r)
{
  uv_async_send(&r->stop_async);
}

const relay_metrics_t *relay_metrics(const relay_t *r)
{
  return &r->metrics;
}

int relay_port(const relay_t *r)
{
  return r->port;
}

void relay_free(relay_t *r)
{
  if(!r)
    return;
  if(r->workers)
    for(unsigned i = 0; i < r->nworkers; i++)
      if(r->workers[i].fd >= 0)
        close(r->workers[i].fd);
  tls_ctx_unref(r->ctx);
  policy_free(r->default_policy);
  uv_mutex_destroy(&r->ctx_lock);
  free(r->workers);
  free(r->config_dir);
  free(r->tunnel_addr);
  free(r);
}
