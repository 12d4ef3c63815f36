/*
 * reload.c - loading, sharing and reloading the relay's TLS context
 * (reload.h).
 */
#include "relay/reload.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/sd_notify.h"
#include "log/log.h"
#include "relay/prom.h"
#include "relay/recheck.h"
#include "tls/file_checks.h"

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

void relay_reload(relay_t *r)
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
  /* Revocations reach live tunnels: keep this after everything a reload
   * replaces (the workers re-check against what is in place then). */
  relay_recheck_tunnels(r);
  relay_cert_check(r, ctx);
  if(log_begin(&l, LOG_INFO, "reload")) {
    log_str(&l, "config_dir", r->config_dir);
    log_time(&l, "cert_not_after", (int64_t)tls_ctx_cert_not_after(ctx));
    log_end(&l);
  }
}

void relay_check_expiry(relay_t *r)
{
  uv_mutex_lock(&r->ctx_lock);
  relay_cert_check(r, r->ctx);
  uv_mutex_unlock(&r->ctx_lock);
}
