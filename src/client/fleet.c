/*
 * fleet.c - the sans-I/O decisions of fleet discovery (fleet.h).
 */
#include "client/fleet.h"

#include <string.h>
#include <strings.h>

uint64_t fleet_next_lookup_ms(int ok, uint32_t ttl_s, uint32_t floor_s,
                              uint32_t ceiling_s)
{
  if(ceiling_s < floor_s)
    ceiling_s = floor_s;
  if(!ok)
    return (uint64_t)(FLEET_RETRY_S < floor_s ? FLEET_RETRY_S : floor_s) *
           1000u;
  uint32_t s = ttl_s < floor_s ? floor_s : ttl_s;
  if(s > ceiling_s)
    s = ceiling_s;
  return (uint64_t)s * 1000u;
}

/* Host names match without regard to ASCII case, as DNS names do. */
static int same(const fleet_addr_t *a, const fleet_addr_t *b)
{
  return a->port == b->port && !strcasecmp(a->host, b->host);
}

int fleet_compare(const fleet_addr_t *cur, int ncur, const fleet_addr_t *ans,
                  int nans, int *keep, int *fresh)
{
  int changes = 0;
  for(int i = 0; i < ncur; i++)
    keep[i] = nans <= 0;
  for(int j = 0; j < nans; j++) {
    fresh[j] = 1;
    for(int i = 0; i < ncur && fresh[j]; i++)
      if(same(&cur[i], &ans[j])) {
        keep[i] = 1;
        fresh[j] = 0;
      }
    for(int k = 0; k < j && fresh[j]; k++)
      if(same(&ans[k], &ans[j]))
        fresh[j] = 0; /* a duplicate: the first one is added */
    changes += fresh[j];
  }
  for(int i = 0; i < ncur; i++)
    changes += !keep[i];
  return changes;
}
