/*
 * fuzz_mux.c - arbitrary bytes into a yamux session (server or client),
 * in chunk sizes taken from the input, with an application that accepts
 * every stream, consumes data, writes some back, closes, resets and
 * ticks time. Must never crash, leak or let the output queue grow past
 * its bound.
 *
 * Input: byte 0 selects the configuration; then records of one control
 * byte followed by data: the low 6 bits + 1 are the number of bytes fed
 * to mux_recv() (taken from the input), the top 2 bits pick an action
 * run after the feed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "mux/mux.h"

#define MAX_IDS 64

typedef struct app {
  uint32_t ids[MAX_IDS];
  size_t held[MAX_IDS];
  int nids;
  uint64_t now;
  uint32_t knob; /* varies the application's behaviour */
  mux_t *m;
} app_t;

/* The fuzzer calls the mux at random: a failing call is one more
 * outcome to survive, not an error to handle. */
static void may_fail(int64_t rc)
{
  (void)rc;
}

static int find(app_t *a, uint32_t id)
{
  int i;
  for(i = 0; i < a->nids; i++) {
    if(a->ids[i] == id)
      return i;
  }
  return -1;
}

static void track(app_t *a, uint32_t id)
{
  if(find(a, id) < 0 && a->nids < MAX_IDS) {
    a->ids[a->nids] = id;
    a->held[a->nids] = 0;
    a->nids++;
  }
}

static int on_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  app_t *a = ud;
  a->knob = a->knob * 1103515245u + 12345u;
  if((a->knob >> 16) % 16 == 0)
    return BEACON_EPOLICY;
  track(a, id);
  if((a->knob >> 16) % 16 == 1)
    return MUX_ACCEPT_DEFER;
  return 0;
}

static void on_ack(mux_t *m, uint32_t id, void *sud, void *ud)
{
  track(ud, id);
}

static void on_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t len, void *ud)
{
  app_t *a = ud;
  int i = find(a, id);
  volatile uint8_t sink = 0;
  size_t k;
  for(k = 0; k < len; k++)
    sink ^= d[k]; /* touch every byte: ASan checks the pointer */
  (void)sink;
  if(i < 0) {
    may_fail(mux_stream_consumed(m, id, len));
    return;
  }
  a->held[i] += len;
  if(len && d[0] == 'R') {
    may_fail(mux_stream_reset(m, id));
    return;
  }
  if(len && d[0] == 'E') {
    may_fail(mux_stream_write(m, id, d, len));
  }
  if(a->held[i] > 4096) {
    if(mux_stream_consumed(m, id, a->held[i]) == 0)
      a->held[i] = 0;
  }
}

static void on_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  app_t *a = ud;
  if(a->knob & 1)
    may_fail(mux_stream_close(m, id));
}

static void on_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  static const uint8_t buf[512];
  may_fail(mux_stream_write(m, id, buf, sizeof(buf)));
}

static void on_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  app_t *a = ud;
  int i = find(a, id);
  if(i >= 0) {
    a->nids--;
    a->ids[i] = a->ids[a->nids];
    a->held[i] = a->held[a->nids];
  }
}

static void on_go_away(mux_t *m, uint32_t code, void *ud)
{
  app_t *a = ud;
  if(code == 0 && a->nids)
    may_fail(mux_stream_close(m, a->ids[0]));
}

static const mux_callbacks_t cbs = {.on_stream_open = on_open,
                                    .on_stream_ack = on_ack,
                                    .on_data = on_data,
                                    .on_fin = on_fin,
                                    .on_writable = on_writable,
                                    .on_stream_closed = on_closed,
                                    .on_go_away = on_go_away};

static void action(app_t *a, int what, uint8_t arg)
{
  static uint8_t out[80000];
  static const uint8_t payload[70000];
  mux_t *m = a->m;
  uint32_t id = a->nids ? a->ids[arg % a->nids] : 0;
  switch(what) {
  case 0: /* drain some output, copying or zero-copy */
    if(arg & 1) {
      (void)mux_send(m, out, (size_t)arg * 300);
    } else {
      const uint8_t *p;
      size_t n = mux_pending(m, &p);
      if(n)
        mux_advance(m, n > arg ? arg : n);
    }
    break;
  case 1: /* the application acts on a stream */
    if(!a->nids) {
      may_fail(mux_open(m, NULL));
      break;
    }
    switch(arg >> 5) {
    case 0:
      may_fail(mux_stream_close(m, id));
      break;
    case 1:
      may_fail(mux_stream_reset(m, id));
      break;
    case 2:
      may_fail(mux_stream_ack(m, id));
      break;
    case 3:
      may_fail(mux_stream_consumed(m, id, a->held[arg % a->nids]));
      a->held[arg % a->nids] = 0;
      break;
    case 4: {
      int64_t o = mux_open(m, NULL);
      if(o > 0)
        track(a, (uint32_t)o);
      break;
    }
    default:
      may_fail(mux_stream_write(m, id, payload, (size_t)arg * 271));
      break;
    }
    break;
  case 2: /* time passes */
    a->now += (uint64_t)arg * 97;
    mux_now(m, a->now);
    may_fail(mux_tick(m, a->now));
    if(arg == 0xff)
      may_fail(mux_ping(m, a->now, NULL));
    if(arg == 0xfe)
      may_fail(mux_go_away(m, 0));
    break;
  default:
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  mux_config_t cfg;
  app_t a;
  size_t off = 1;
  uint8_t c0;
  if(!size)
    return 0;
  c0 = data[0];
  mux_config_default(&cfg);
  cfg.is_client = c0 & 1;
  cfg.max_streams = 32;
  cfg.accept_backlog = 8;
  cfg.max_window = c0 & 2 ? 1024 * 1024 : 256 * 1024;
  /* Auto-tuned windows with a small budget, or fixed ones. */
  cfg.window_budget = c0 & 16 ? 0 : 384 * 1024;
  cfg.max_outbuf = c0 & 4 ? 2048 : 256 * 1024;
  cfg.keepalive_ms = c0 & 8 ? 1000 : 0;
  cfg.keepalive_timeout_ms = 500;
  memset(&a, 0, sizeof(a));
  a.knob = c0;
  a.m = mux_new(&cfg, &cbs, &a, 0);
  if(!a.m)
    return 0;
  while(off < size) {
    uint8_t ctl = data[off++];
    size_t n = (size_t)(ctl & 0x3f) + 1;
    int rc;
    if(n > size - off)
      n = size - off;
    rc = mux_recv(a.m, data + off, n);
    if(rc < 0 && !mux_is_dead(a.m))
      abort(); /* every mux_recv error ends the session */
    if(rc >= 0 && (size_t)rc != n)
      abort();
    off += n;
    action(&a, ctl >> 6, off < size ? data[off] : 0);
    /* The queue stays bounded whatever the peer sends. */
    if(mux_pending_total(a.m) >
       cfg.max_outbuf + 256 * 1024 + 70000 + (size_t)cfg.max_streams * 64)
      abort();
    /* Grown windows stay within the budget. */
    if(mux_window_extra(a.m) > cfg.window_budget)
      abort();
    if(mux_is_dead(a.m))
      break;
  }
  {
    uint8_t sink[4096];
    while(mux_send(a.m, sink, sizeof(sink)))
      ;
  }
  mux_shutdown(a.m);
  if(mux_stream_count(a.m))
    abort();
  mux_free(a.m);
  return 0;
}
