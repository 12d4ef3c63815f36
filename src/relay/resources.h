/*
 * resources.h - what the relay takes from the machine at start and
 * gives back while it runs (docs/SECURITY.md "Budgets",
 * docs/OPERATIONS.md "Sizing a relay"): RLIMIT_NOFILE raised to its hard
 * limit, the memory and descriptor budgets (budget.h) with their
 * defaults, --max-tunnels derived from them, and the allocator set up so
 * that memory freed after a burst goes back to the system.
 */
#ifndef BEACON_RELAY_RESOURCES_H
#define BEACON_RELAY_RESOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "relay/relay_int.h"

/* The default --memory-limit: a quarter of the physical memory, or of
 * the cgroup's memory.max when that is lower, at least RELAY_MEMORY_MIN.
 * A quarter leaves the rest to the kernel's socket buffers (which the
 * budget does not see) and the system. */
#define RELAY_MEMORY_MIN ((uint64_t)64 << 20)
/* The smallest --memory-limit accepted: a few tunnels' windows. */
#define RELAY_MEMORY_FLOOR ((uint64_t)16 << 20)
uint64_t relay_default_memory_limit(void);

/* Descriptors kept from streams and tunnels for the listeners, the
 * loops, accepting and handshaking: an eighth of the limit, at least 64
 * and at most 4096 (relay_resources_init() raises it to hold
 * --max-handshakes and 64 more, up to half the limit). */
uint64_t relay_fd_reserve(uint64_t fd_limit);

/* The default --max-tunnels for these budgets: half the memory limit in
 * idle tunnels (the rest for their streams), three quarters of the
 * descriptors left after the reserve (the rest for streams); at least 1. */
uint32_t relay_derive_max_tunnels(uint64_t memory_limit, uint64_t fd_limit,
                                  uint64_t fd_reserve);

/* Raises RLIMIT_NOFILE to its hard limit, sets up r->budget and, when
 * r->cfg.max_tunnels is 0, derives it; logs the figures ("budgets").
 * 0 or BEACON_EINVAL with err. */
BEACON_MUST_USE int relay_resources_init(relay_t *r, char *err, size_t errlen);

/* On the control loop: a timer that returns freed memory to the system
 * once the held bytes fell after a burst; stop before the loop ends. */
void relay_resources_start(relay_t *r);
void relay_resources_stop(relay_t *r);

#endif
