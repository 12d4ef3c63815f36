/*
 * resolve_group.c - a cap on the lookups one caller group has c-ares
 * hold (resolve_group.h).
 */
#include "dial/resolve_group.h"

#include <stdlib.h>

resolve_group_t *resolve_group_new(unsigned limit)
{
  resolve_group_t *g = calloc(1, sizeof(*g));
  if(g) {
    g->limit = limit;
    g->refs = 1;
  }
  return g;
}

void resolve_group_unref(resolve_group_t *g)
{
  if(g && --g->refs == 0)
    free(g);
}

void resolve_group_release(resolve_group_t *g)
{
  resolve_group_unref(g);
}

unsigned resolve_group_active(const resolve_group_t *g)
{
  return g ? g->active : 0;
}
