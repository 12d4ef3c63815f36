/* config.c - beacon_config_t (include/beacon/beacon.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "common/congestion.h"

beacon_config_t *beacon_config_new(void)
{
  beacon_config_t *c = calloc(1, sizeof(*c));
  if(!c)
    return NULL;
  c->dial_ms = 10000;
  c->handshake_ms = 10000;
  c->open_ms = 10000;
  c->keepalive_ms = 20000;
  c->keepalive_timeout_ms = 10000;
  c->window_budget = MUX_DEFAULT_WINDOW_BUDGET;
  return c;
}

void beacon_config_free(beacon_config_t *cfg)
{
  if(!cfg)
    return;
  free(cfg->cert);
  free(cfg->key);
  free(cfg->ca);
  free(cfg->crl);
  free(cfg);
}

int beacon_config_add_relay(beacon_config_t *cfg, const char *host_port)
{
  if(!cfg || !host_port)
    return BEACON_EINVAL;
  if(cfg->nrelays >= CLIENT_MAX_HOPS)
    return BEACON_ELIMIT;
  client_hop_pool_t *p = &cfg->relays[cfg->nrelays];
  int n = pool_parse(host_port, p->members, POOL_MAX_MEMBERS);
  if(n < 0)
    return n;
  /* srv:NAME is looked up by hop 0's pool only (fleet_watch.c): an inner
   * hop is reached through a relay, which resolves nothing for us. */
  for(int i = 0; i < n && cfg->nrelays > 0; i++)
    if(pool_is_srv(&p->members[i]))
      return BEACON_EINVAL;
  p->n = n;
  cfg->nrelays++;
  return 0;
}

int beacon_config_set_identity(beacon_config_t *cfg, const char *cert_path,
                               const char *key_path, const char *ca_path)
{
  if(!cfg || !cert_path || !key_path || !ca_path)
    return BEACON_EINVAL;
  /* All three or none: a failure leaves the earlier identity whole. */
  char *cert = strdup(cert_path), *key = strdup(key_path),
       *ca = strdup(ca_path);
  if(!cert || !key || !ca) {
    free(cert);
    free(key);
    free(ca);
    return BEACON_ENOMEM;
  }
  free(cfg->cert);
  free(cfg->key);
  free(cfg->ca);
  cfg->cert = cert;
  cfg->key = key;
  cfg->ca = ca;
  return 0;
}

int beacon_config_set_dir(beacon_config_t *cfg, const char *dir)
{
  char c[4096], k[4096], a[4096];
  if(!cfg || !dir)
    return BEACON_EINVAL;
  if(snprintf(c, sizeof(c), "%s/controller.crt", dir) >= (int)sizeof(c) ||
     snprintf(k, sizeof(k), "%s/controller.key", dir) >= (int)sizeof(k) ||
     snprintf(a, sizeof(a), "%s/fleet-ca.crt", dir) >= (int)sizeof(a))
    return BEACON_ETOOLONG;
  return beacon_config_set_identity(cfg, c, k, a);
}

void beacon_config_set_timeouts(beacon_config_t *cfg, int dial_ms,
                                int handshake_ms, int open_ms)
{
  if(!cfg)
    return;
  if(dial_ms > 0)
    cfg->dial_ms = dial_ms;
  if(handshake_ms > 0)
    cfg->handshake_ms = handshake_ms;
  if(open_ms > 0)
    cfg->open_ms = open_ms;
}

int beacon_config_set_window_budget(beacon_config_t *cfg, size_t bytes)
{
  if(!cfg)
    return BEACON_EINVAL;
  cfg->window_budget = bytes;
  return 0;
}

int beacon_config_set_log(beacon_config_t *cfg, beacon_log_fn fn, void *ud)
{
  if(!cfg)
    return BEACON_EINVAL;
  cfg->log_fn = fn;
  cfg->log_ud = fn ? ud : NULL;
  return 0;
}

void beacon_config_set_keepalive(beacon_config_t *cfg, int interval_ms,
                                 int timeout_ms)
{
  if(!cfg)
    return;
  cfg->keepalive_ms = interval_ms > 0 ? interval_ms : 0;
  if(timeout_ms > 0)
    cfg->keepalive_timeout_ms = timeout_ms;
}

int beacon_config_set_crl(beacon_config_t *cfg, const char *crl_path)
{
  if(!cfg)
    return BEACON_EINVAL;
  char *crl = NULL;
  if(crl_path && !(crl = strdup(crl_path)))
    return BEACON_ENOMEM;
  free(cfg->crl);
  cfg->crl = crl;
  return 0;
}

int beacon_config_add_relay_spki(beacon_config_t *cfg, const char *hex)
{
  if(!cfg || !hex)
    return BEACON_EINVAL;
  return tls_pins_add(&cfg->pins, hex);
}

int beacon_config_set_congestion(beacon_config_t *cfg, const char *name)
{
  char why[256];
  if(!cfg)
    return BEACON_EINVAL;
  if(!name) {
    cfg->congestion[0] = '\0';
    return 0;
  }
  int rc = congestion_check(name, why, sizeof(why));
  if(rc)
    return rc;
  snprintf(cfg->congestion, sizeof(cfg->congestion), "%s", name);
  return 0;
}
