/*
 * pump.c - the stream pump's sans-I/O core (pump.h).
 */
#include "conn/pump.h"

#include <stdlib.h>
#include <string.h>

void pump_init(pump_t *p, uint32_t id)
{
  memset(p, 0, sizeof(*p));
  p->id = id;
}

void pump_free(pump_t *p)
{
  free(p->stash);
  p->stash = NULL;
  p->stash_off = p->stash_len = 0;
}

static int send_fin(pump_t *p, mux_t *m)
{
  if(p->fin_sent)
    return 0;
  if(!m)
    return BEACON_ECLOSED;
  p->fin_sent = 1;
  /* May end the stream in the mux (both FINs): on_stream_closed. */
  return mux_stream_close(m, p->id);
}

int64_t pump_from_local(pump_t *p, mux_t *m, const uint8_t *d, size_t n)
{
  if(!m)
    return BEACON_ECLOSED;
  if(p->stash_len)
    return BEACON_EINVAL; /* reading was to stop */
  int64_t took = mux_stream_write(m, p->id, d, n);
  if(took < 0 || (size_t)took == n)
    return took;
  size_t rest = n - (size_t)took;
  /* A copy: the adapter's read buffer is often shared. Kept until the
   * mux takes it, at most what one read brought. */
  p->stash = malloc(rest);
  if(!p->stash)
    return BEACON_ENOMEM;
  memcpy(p->stash, d + took, rest);
  p->stash_off = 0;
  p->stash_len = rest;
  return took;
}

int64_t pump_on_writable(pump_t *p, mux_t *m)
{
  int64_t took = 0;
  if(p->stash_len) {
    if(!m)
      return BEACON_ECLOSED;
    took = mux_stream_write(m, p->id, p->stash + p->stash_off, p->stash_len);
    if(took < 0)
      return took;
    p->stash_off += (size_t)took;
    p->stash_len -= (size_t)took;
    if(p->stash_len)
      return took;
    pump_free(p);
  }
  if(p->local_eof) {
    int rc = send_fin(p, m);
    if(rc < 0)
      return rc;
  }
  return took;
}

int pump_local_eof(pump_t *p, mux_t *m)
{
  p->local_eof = 1;
  return p->stash_len ? 0 : send_fin(p, m);
}

int pump_want_read(const pump_t *p)
{
  return !p->local_eof && !p->stash_len;
}

size_t pump_stashed(const pump_t *p)
{
  return p->stash_len;
}

int pump_to_local_done(pump_t *p, mux_t *m, size_t n)
{
  if(!m)
    return BEACON_ECLOSED;
  return mux_stream_consumed(m, p->id, n);
}
