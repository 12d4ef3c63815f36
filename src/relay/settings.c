/*
 * settings.c - the relay's reloadable settings as a refcounted snapshot
 * (settings.h).
 */
#include "relay/settings.h"

#include <stdlib.h>

relay_settings_t *relay_settings_new(const relay_config_t *cfg,
                                     const policy_t *policy, void *owner)
{
  relay_settings_t *s = calloc(1, sizeof(*s));
  if(!s)
    return NULL;
  atomic_init(&s->refs, 1);
  s->cfg = *cfg;
  s->policy = policy;
  s->owner = owner;
  return s;
}

relay_settings_t *relay_settings_get(relay_t *r)
{
  uv_mutex_lock(&r->ctx_lock);
  relay_settings_t *s = r->settings;
  atomic_fetch_add(&s->refs, 1);
  uv_mutex_unlock(&r->ctx_lock);
  return s;
}

void relay_settings_put(relay_settings_t *s)
{
  if(!s || atomic_fetch_sub(&s->refs, 1) != 1)
    return;
  if(s->owner && s->cfg.source && s->cfg.source->release)
    s->cfg.source->release(s->owner);
  free(s);
}

relay_settings_t *relay_settings_exchange_locked(relay_t *r,
                                                 relay_settings_t *s)
{
  relay_settings_t *old = r->settings;
  r->settings = s;
  return old;
}
