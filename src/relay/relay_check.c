/*
 * relay_check.c - what the relay checks before it uses a configuration,
 * at start (relay_new), for --check-config and at each reload: the
 * values, the TLS files as a context, the tunnel address.
 */
#include "relay/relay_check.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/congestion.h"
#include "log/log.h"
#include "relay/handshake.h"
#include "relay/listener.h"
#include "relay/resources.h"
#include "tls/config_check.h"
#include "tls/file_checks.h"
#include "tls/tls.h"

/* What expires soon (tls/config_check.h), in the log. */
static void file_warning(const char *file, int64_t end, const char *msg,
                         void *arg)
{
  log_line_t l;
  (void)arg;
  if(log_begin(&l, LOG_WARN, "tls_file_expiring")) {
    log_str(&l, "file", file);
    log_time(&l, "not_after", end);
    log_str(&l, "msg", msg);
    log_end(&l);
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
  if(!rc &&
     ((rc = tls_cert_file_validity(cert, time(NULL), err, errlen)) ||
      (rc = tls_config_check(TLS_SERVER, cert, ca, have_crl ? crl : NULL,
                             time(NULL), file_warning, NULL, err, errlen)))) {
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

/* 0, or BEACON_EINVAL for a zero limit or timeout. */
int relay_check_limits(const relay_config_t *cfg, char *err, size_t errlen)
{
  if(!cfg->max_streams || !cfg->dial_timeout_ms ||
     !cfg->handshake_timeout_ms || !cfg->target_timeout_ms ||
     !cfg->write_timeout_ms) {
    snprintf(err, errlen, "limits and timeouts must be greater than 0");
    return BEACON_EINVAL;
  }
  if(cfg->memory_limit && cfg->memory_limit < RELAY_MEMORY_FLOOR) {
    snprintf(err, errlen, "--memory-limit must be at least 16M");
    return BEACON_EINVAL;
  }
  if(cfg->congestion && congestion_check(cfg->congestion, err, errlen))
    return BEACON_ECONFIG;
  return relay_handshakes_check(cfg, err, errlen);
}

int relay_check(const relay_config_t *cfg, char *err, size_t errlen)
{
  tls_ctx_t *ctx = NULL;
  int rc = relay_check_limits(cfg, err, errlen);
  if(!rc)
    rc = relay_load_tls(cfg, &ctx, err, errlen);
  tls_ctx_unref(ctx);
  if(!rc)
    rc = relay_tunnel_addr_check(cfg->tunnel_addr, err, errlen);
  return rc;
}
