/*
 * relay_check.h - checking a configuration before it is used
 * (relay_check.c); relay_check() and relay_load_tls() are in relay.h.
 */
#ifndef BEACON_RELAY_RELAY_CHECK_H
#define BEACON_RELAY_RELAY_CHECK_H

#include <stddef.h>

#include "relay/relay.h"

/* 0, or BEACON_EINVAL for a zero limit or timeout (err set). */
int relay_check_limits(const relay_config_t *cfg, char *err, size_t errlen);

#endif
