/*
 * reload.c - loading, sharing and reloading the relay's TLS context and
 * its settings (reload.h, settings.h, docs/OPERATIONS.md "Reloading").
 */
#include "relay/reload.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/sd_notify.h"
#include "log/log.h"
#include "relay/own_addrs.h"
#include "relay/prom.h"
#include "relay/recheck.h"
#include "relay/relay_check.h"
#include "relay/resources.h"
#include "relay/restart_only.h"
#include "relay/settings.h"
#include "tls/tls.h"

struct tls_ctx *relay_ctx_get(relay_t *r)
{
  uv_mutex_lock(&r->ctx_lock);
  struct tls_ctx *c = r->ctx;
  tls_ctx_ref(c);
  uv_mutex_unlock(&r->ctx_lock);
  return c;
}

/* What a reload builds before anything changes: the configuration, its
 * TLS context and its settings snapshot. */
typedef struct reload_next {
  relay_config_t cfg;
  void *owner; /* the source's, until the snapshot holds it */
  struct tls_ctx *ctx;
  relay_settings_t *settings;
  relay_config_t wanted;   /* cfg as configured, before the kept values */
  const char *restart[16]; /* restart-only options that differ */
  size_t nrestart;
} reload_next_t;

/* The configuration again: from the source, or (without one) the
 * running one, so that only the TLS files are read again. */
static int load_config(relay_t *r, const relay_settings_t *cur,
                       reload_next_t *n, char *err, size_t errlen)
{
  const relay_config_source_t *src = r->cfg.source;
  n->cfg = cur->cfg;
  if(!src)
    return 0;
  int rc = src->load(src->ctx, &n->cfg, &n->owner, err, errlen);
  if(rc)
    return rc;
  n->cfg.source = src;
  /* Checked as given, so that a bad value fails the reload even where it
   * would only apply at a restart. */
  return relay_check(&n->cfg, err, errlen);
}

/* Builds n, touching nothing that runs. 0, or nonzero with err set. */
static int reload_prepare(relay_t *r, reload_next_t *n, char *err,
                          size_t errlen)
{
  relay_settings_t *cur = relay_settings_get(r);
  int rc = load_config(r, cur, n, err, errlen);
  if(!rc) {
    n->nrestart =
        relay_config_restart_only(&cur->cfg, &n->cfg, n->restart,
                                  sizeof(n->restart) / sizeof(n->restart[0]));
    n->wanted = n->cfg;
    relay_restart_only_keep(&cur->cfg, &n->cfg);
    rc = relay_load_tls(&n->cfg, &n->ctx, err, errlen);
  }
  relay_settings_put(cur);
  if(rc)
    return rc;
  /* max-tunnels left out: what the budgets of the start allow. */
  if(!n->cfg.max_tunnels)
    n->cfg.max_tunnels = relay_derive_max_tunnels(
        r->budget.mem.limit, r->budget.fd_limit, r->budget.fd_reserve);
  const policy_t *pol = n->cfg.policy ? n->cfg.policy : r->default_policy;
  /* Its own addresses before it is published: a stream must never see
   * a policy without them. */
  relay_own_addrs_fill(r, pol);
  n->settings = relay_settings_new(&n->cfg, pol, n->owner);
  if(!n->settings) {
    snprintf(err, errlen, "out of memory");
    return BEACON_ENOMEM;
  }
  n->owner = NULL; /* the snapshot's now */
  return 0;
}

static void log_restart_needed(const relay_config_t *running,
                               const reload_next_t *n)
{
  log_line_t l;
  char was[512], wanted[512];
  for(size_t i = 0; i < n->nrestart && i < 16; i++)
    if(log_begin(&l, LOG_WARN, "reload_needs_restart")) {
      relay_config_option_text(running, n->restart[i], was, sizeof(was));
      relay_config_option_text(&n->wanted, n->restart[i], wanted,
                               sizeof(wanted));
      log_str(&l, "option", n->restart[i]);
      log_str(&l, "running", was);
      log_str(&l, "configured", wanted);
      log_str(&l, "action",
              "keeping the running value: a restart is needed to change it");
      log_end(&l);
    }
}

/* The swap, in one hold of ctx_lock: no read under the lock finds the
 * new TLS context with the old settings, or the reverse. New tunnels
 * and every call after it take the new ones; what runs keeps what it
 * took. */
static void reload_apply(relay_t *r, reload_next_t *n)
{
  uv_mutex_lock(&r->ctx_lock);
  struct tls_ctx *old = r->ctx;
  r->ctx = n->ctx;
  relay_settings_t *old_settings =
      relay_settings_exchange_locked(r, n->settings);
  uv_mutex_unlock(&r->ctx_lock);
  tls_ctx_unref(old); /* live tunnels hold their own references */
  relay_settings_put(old_settings);
  /* The control loop renders the metrics: rebinding here, before the
   * old policy can go, leaves no scrape reading a freed counter. */
  relay_prom_policy_rebind(&r->prom, n->settings->policy);
  if(n->cfg.log_level >= 0)
    log_set_level((log_level_t)n->cfg.log_level);
  relay_restart_only_write(&n->cfg);
}

void relay_reload(relay_t *r)
{
  char err[1024];
  reload_next_t n;
  memset(&n, 0, sizeof(n));
  log_line_t l;
  beacon_sd_notify("RELOADING=1");
  int rc = reload_prepare(r, &n, err, sizeof(err));
  beacon_sd_notify("READY=1");
  if(rc) {
    if(n.owner && r->cfg.source->release)
      r->cfg.source->release(n.owner);
    tls_ctx_unref(n.ctx);
    if(log_begin(&l, LOG_ERROR, "reload_failed")) {
      log_str(&l, "error", err);
      log_str(&l, "action", "keeping the previous configuration");
      log_end(&l);
    }
    return;
  }
  log_restart_needed(&n.cfg, &n);
  reload_apply(r, &n);
  /* Revocations and --allow-client changes reach live tunnels: after
   * the swap, so the workers re-check against r->ctx and r->settings
   * as they are now. */
  relay_recheck_tunnels(r);
  relay_check_expiry(r);
  if(log_begin(&l, LOG_INFO, "reload")) {
    log_str(&l, "config_dir", r->config_dir);
    log_str(&l, "applied",
            r->cfg.source ? "configuration and certificates" : "certificates");
    log_u64(&l, "restart_needed", n.nrestart);
    log_time(&l, "cert_not_after", (int64_t)tls_ctx_cert_not_after(n.ctx));
    log_end(&l);
  }
}

static void on_expiry_timer(uv_timer_t *t)
{
  relay_check_expiry(t->data);
}

void relay_check_expiry(relay_t *r)
{
  uv_mutex_lock(&r->ctx_lock);
  uint64_t next_ms = relay_cert_check(r, r->ctx);
  uv_mutex_unlock(&r->ctx_lock);
  relay_expiry_arm(r, next_ms);
}

void relay_expiry_arm(relay_t *r, uint64_t ms)
{
  uv_timer_start(&r->expiry_timer, on_expiry_timer, ms, 0);
}
