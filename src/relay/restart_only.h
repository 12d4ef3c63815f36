/*
 * restart_only.h - the options a reload cannot change in place
 * (docs/OPERATIONS.md "Reloading"): comparing two configurations
 * (relay_config_restart_only in relay.h), keeping the running value of
 * each in a reloaded one, and writing them for --check-config.
 */
#ifndef BEACON_RELAY_RESTART_ONLY_H
#define BEACON_RELAY_RESTART_ONLY_H

#include "relay/relay.h"

/* Copies every restart-only option of running into next. */
void relay_restart_only_keep(const relay_config_t *running,
                             relay_config_t *next);

/* Writes cfg's restart-only options to cfg->running_config (when set)
 * as config-file lines, through a temporary file and a rename: a
 * reader sees the old file or the new one. Logs a failure. */
void relay_restart_only_write(const relay_config_t *cfg);

#endif
