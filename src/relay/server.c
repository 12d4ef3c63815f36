/*
 * server.c - the relay process (docs/ARCHITECTURE.md "Threads",
 * docs/ARCHITECTURE.md "Shutdown and reload keep live streams"): its
 * defaults, the control loop with the signals (SIGTERM/SIGINT drain and
 * stop, SIGHUP reloads the configuration and the TLS material and
 * rereads the relay's own addresses), the certificate expiry check, the
 * metrics endpoint, and starting and joining the workers. Binding is
 * listener.c, the workers worker.c, the TLS context reload.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "common/sd_notify.h"
#include "log/log.h"
#include "relay/crl_watch.h"
#include "relay/handshake.h"
#include "relay/listener.h"
#include "relay/own_addrs.h"
#include "relay/prom.h"
#include "relay/reload.h"
#include "relay/resources.h"
#include "relay/restart_only.h"
#include "relay/settings.h"
#include "relay/recheck.h"
#include "relay/relay_check.h"
#include "relay/worker.h"

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
  cfg->drain_grace_ms = 30000;
  cfg->max_streams = 4096;
  cfg->max_tunnels = 0; /* derived from the budgets (resources.h) */
  cfg->max_dials_per_tunnel = STREAM_CORE_MAX_DIALS_DEFAULT;
  cfg->max_handshakes_start = 1024;
  cfg->max_handshakes_rate = 30;
  cfg->max_handshakes = 2048;
  cfg->max_handshakes_per_source = 64;
  cfg->window_budget = MUX_DEFAULT_WINDOW_BUDGET;
  cfg->log_level = -1;
}

/* ---- control loop: signals ---- */

static void noop_closed(uv_handle_t *h)
{
}

static void begin_stop(relay_t *r, const char *why)
{
  if(atomic_exchange(&r->draining, 1))
    return;
  beacon_sd_notify("STOPPING=1");
  log_line_t l;
  if(log_begin(&l, LOG_INFO, "draining")) {
    log_str(&l, "reason", why);
    log_ms(&l, "timeout", r->settings->cfg.drain_timeout_ms);
    log_u64(&l, "tunnels", atomic_load(&r->metrics.tunnels_open));
    log_end(&l);
  }
  for(unsigned i = 0; i < r->started; i++)
    uv_async_send(&r->workers[i].wake);
}

static void on_signal(uv_signal_t *h, int signum)
{
  relay_t *r = h->data;
  if(signum == SIGHUP) {
    relay_reload(r);
    relay_own_addrs_refresh(r, "reload");
  } else
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
  relay_resources_stop(r);
  relay_own_addrs_stop(r);
  relay_crl_watch_stop(r);
  metrics_http_stop(r->metrics_http);
  r->metrics_http = NULL;
}

/* ---- public ---- */

int relay_new(relay_t **out, const relay_config_t *cfg, char *err,
              size_t errlen)
{
  *out = NULL;
  int rc = relay_check_limits(cfg, err, errlen);
  if(rc)
    return rc;
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
  rc = BEACON_ENOMEM;
  if(!r->config_dir || !r->tunnel_addr || !r->workers || !r->default_policy)
    goto fail;
  r->cfg.config_dir = r->config_dir;
  r->cfg.tunnel_addr = r->tunnel_addr;
  /* As given, before the budgets derive their figures into r->cfg. */
  r->settings = relay_settings_new(
      &r->cfg, r->cfg.policy ? r->cfg.policy : r->default_policy, NULL);
  if(!r->settings)
    goto fail;
  for(unsigned i = 0; i < r->nworkers; i++) {
    r->workers[i].fd = -1;
    r->workers[i].r = r;
    r->workers[i].index = i;
  }
  rc = relay_resources_init(r, err, errlen);
  if(rc)
    goto fail;
  rc = relay_load_tls(&r->cfg, &r->ctx, err, errlen);
  if(rc)
    goto fail;
  rc = relay_handshakes_init(r);
  if(rc)
    goto fail;
  relay_prom_init(&r->prom, &r->metrics);
  relay_prom_budget(&r->prom, &r->budget);
  relay_prom_policy(&r->prom,
                    r->cfg.policy ? r->cfg.policy : r->default_policy);
  r->expiry_next_ms = relay_cert_check(r, r->ctx); /* armed by relay_run */
  relay_recheck_init(r);
  rc = relay_bind_all(r, err, errlen);
  if(rc)
    goto fail;
  *out = r;
  return 0;
fail:
  relay_free(r);
  return rc;
}

int relay_run(relay_t *r)
{
  signal(SIGPIPE, SIG_IGN);
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
  relay_expiry_arm(r, r->expiry_next_ms);
  relay_resources_start(r);
  relay_own_addrs_start(r); /* before any worker takes a stream */
  relay_restart_only_write(&r->settings->cfg);
  relay_crl_watch_start(r);

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
    err = relay_worker_start(w);
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
  relay_settings_put(r->settings);
  policy_free(r->default_policy);
  uv_mutex_destroy(&r->ctx_lock);
  relay_handshakes_free(r);
  free(r->workers);
  free(r->config_dir);
  free(r->tunnel_addr);
  free(r);
}
