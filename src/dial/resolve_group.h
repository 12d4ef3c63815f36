/*
 * resolve_group.h - a cap on the lookups one caller group (a tunnel)
 * has c-ares hold at once (resolve.h's contract; resolve_group.c).
 */
#ifndef BEACON_RESOLVE_GROUP_H
#define BEACON_RESOLVE_GROUP_H

#include "common/error.h"

/* limit: lookups at once (0: no cap); active: those c-ares holds;
 * refs: the creator's and one per such query. resolve.c counts them. */
typedef struct resolve_group {
  unsigned limit;
  unsigned active;
  unsigned refs;
} resolve_group_t;

/* A group allowing `limit` lookups at once (0: no cap). The creator
 * holds one reference; NULL on out of memory. */
BEACON_MUST_USE resolve_group_t *resolve_group_new(unsigned limit);
/* Drops the creator's reference: the group goes when c-ares lets go of
 * its last query. */
void resolve_group_release(resolve_group_t *g);
/* Lookups counted against the group now. */
unsigned resolve_group_active(const resolve_group_t *g);

/* Drops one reference; the group goes with the last. */
void resolve_group_unref(resolve_group_t *g);

#endif
