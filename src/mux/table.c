/*
 * table.c - stream id -> stream, open addressing with linear probing and
 * backward-shift deletion (no tombstones), kept at most half full.
 */
#include "mux/table.h"

#include <string.h>

/* The peer picks the ids: a keyed mix (murmur3's finalizer over id ^
 * seed) keeps it from aiming them all at one probe chain. */
static uint32_t home(const mux_t *m, uint32_t id, uint32_t nslots)
{
  uint32_t h = id ^ m->seed;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h & (nslots - 1);
}

mux_stream_t *mux_table_get(const mux_t *m, uint32_t id)
{
  uint32_t i;
  if(!m->nslots)
    return NULL;
  i = home(m, id, m->nslots);
  while(m->slots[i]) {
    if(m->slots[i]->id == id)
      return m->slots[i];
    i = (i + 1) & (m->nslots - 1);
  }
  return NULL;
}

static void insert(const mux_t *m, mux_stream_t **slots, uint32_t nslots,
                   mux_stream_t *s)
{
  uint32_t i = home(m, s->id, nslots);
  while(slots[i])
    i = (i + 1) & (nslots - 1);
  slots[i] = s;
}

int mux_table_put(mux_t *m, mux_stream_t *s)
{
  if((uint64_t)(m->nstreams + 1) * 2 > m->nslots) {
    uint32_t n = m->nslots ? m->nslots * 2 : 16;
    uint32_t i;
    mux_stream_t **slots;
    if(n > (1u << 30))
      return BEACON_ELIMIT;
    slots = mux_alloc(m, (size_t)n * sizeof(*slots));
    if(!slots)
      return BEACON_ENOMEM;
    memset(slots, 0, (size_t)n * sizeof(*slots));
    for(i = 0; i < m->nslots; i++) {
      if(m->slots[i])
        insert(m, slots, n, m->slots[i]);
    }
    mux_dealloc(m, m->slots);
    m->slots = slots;
    m->nslots = n;
  }
  insert(m, m->slots, m->nslots, s);
  m->nstreams++;
  return 0;
}

void mux_table_del(mux_t *m, uint32_t id)
{
  uint32_t mask = m->nslots - 1;
  uint32_t i;
  uint32_t j;
  if(!m->nslots)
    return;
  i = home(m, id, m->nslots);
  while(m->slots[i] && m->slots[i]->id != id)
    i = (i + 1) & mask;
  if(!m->slots[i])
    return;
  m->slots[i] = NULL;
  m->nstreams--;
  /* Shift later members of the cluster back so lookups never stop at
   * the hole before reaching them. */
  j = i;
  for(;;) {
    uint32_t h;
    j = (j + 1) & mask;
    if(!m->slots[j])
      break;
    h = home(m, m->slots[j]->id, m->nslots);
    /* Move slots[j] into the hole at i unless its home lies cyclically
     * in (i, j]. */
    if((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
      m->slots[i] = m->slots[j];
      m->slots[j] = NULL;
      i = j;
    }
  }
}

void mux_table_free(mux_t *m)
{
  mux_dealloc(m, m->slots);
  m->slots = NULL;
  m->nslots = 0;
  m->nstreams = 0;
}
