/* own_files.c - warnings about our own identity files (own_files.h). */
#include "client/own_files.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/expiry_window.h"
#include "tls/file_checks.h"

#define warn client_own_warn

void client_own_warn(const beacon_config_t *cfg, const char *event,
                     const char *fmt, ...)
{
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if(cfg->log_fn)
    cfg->log_fn(BEACON_LOG_WARN, event, msg, cfg->log_ud);
  else
    fprintf(stderr, "libbeacon: warning: %s\n", msg);
}

int client_own_cert_expiring(const beacon_config_t *cfg, const tls_ctx_t *ctx,
                             time_t now)
{
  time_t na = tls_ctx_cert_not_after(ctx);
  if(now > na ||
     !expiry_window_due((int64_t)tls_ctx_cert_not_before(ctx), (int64_t)na,
                        CLIENT_CERT_WARN_SECONDS, (int64_t)now))
    return 0;
  char date[32];
  struct tm tm;
  gmtime_r(&na, &tm);
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
  long long left = (long long)(na - now);
  warn(cfg, "cert_expiring",
       "our own certificate %s expires on %s (%lld %s left): renew it",
       cfg->cert, date, left >= 86400 ? left / 86400 : left / 3600,
       left >= 86400 ? "days" : "hours");
  return 1;
}

void client_own_files_check(const beacon_config_t *cfg, const tls_ctx_t *ctx,
                            time_t now)
{
  char msg[512];
  /* As OpenSSH would, but a warning: the key is the application's. */
  if(tls_key_file_check(cfg->key, 0, msg, sizeof(msg)))
    warn(cfg, "key_permissions", "%s", msg);
  client_own_cert_expiring(cfg, ctx, now);
}
