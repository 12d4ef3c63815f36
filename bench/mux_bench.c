/*
 * mux_bench.c - throughput of the yamux core: a client and a server
 * session joined in memory (zero-copy output straight into the peer's
 * mux_recv()), bulk and small writes, plus heap bytes per open stream.
 * Prints a table; never pass/fail.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beacon/beacon.h"
#include "mux/mux.h"

typedef struct counter {
  uint64_t frames;
  uint64_t bytes;
} counter_t;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int srv_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  return 0;
}

static void srv_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                     size_t len, void *ud)
{
  counter_t *c = ud;
  c->frames++;
  c->bytes += len;
  if(mux_stream_consumed(m, id, len))
    abort(); /* the bench measures the happy path only */
}

/* Moves everything pending from one session into the other. */
static void pump(mux_t *from, mux_t *to)
{
  const uint8_t *p;
  size_t n;
  while((n = mux_pending(from, &p)) > 0) {
    if(mux_recv(to, p, n) != (int)n) {
      fprintf(stderr, "mux_recv failed\n");
      exit(1);
    }
    mux_advance(from, n);
  }
}

static void bulk(const char *name, int nstreams, size_t wsize, double seconds)
{
  static const mux_callbacks_t ccb = {0};
  mux_callbacks_t scb = {0};
  mux_config_t cfg;
  counter_t cnt = {0, 0};
  mux_t *c;
  mux_t *s;
  uint8_t *buf = calloc(1, wsize);
  uint32_t ids[64];
  double t0;
  double t;
  uint64_t writes = 0;
  int i;
  scb.on_stream_open = srv_open;
  scb.on_data = srv_data;
  mux_config_default(&cfg);
  cfg.is_client = 1;
  c = mux_new(&cfg, &ccb, NULL, 0);
  cfg.is_client = 0;
  s = mux_new(&cfg, &scb, &cnt, 0);
  if(!buf || !c || !s)
    exit(1);
  for(i = 0; i < nstreams; i++)
    ids[i] = (uint32_t)mux_open(c, NULL);
  pump(c, s);
  pump(s, c);
  t0 = now_s();
  do {
    int k;
    for(k = 0; k < 256; k++) {
      for(i = 0; i < nstreams; i++) {
        int64_t w = mux_stream_write(c, ids[i], buf, wsize);
        if(w < 0)
          exit(1);
        writes += w > 0;
      }
      pump(c, s);
      pump(s, c);
    }
    t = now_s() - t0;
  } while(t < seconds);
  printf("%-28s %8d %8zu %12.0f %10.1f %12.0f\n", name, nstreams, wsize,
         (double)cnt.frames / t, (double)cnt.bytes / t / 1e6,
         (double)writes / t);
  mux_free(c);
  mux_free(s);
  free(buf);
}

/* ---- heap per open stream ------------------------------------------ */

typedef struct count_alloc {
  size_t live;
} count_alloc_t;

typedef struct hdr {
  size_t n;
  size_t pad;
} hdr_t;

static void *ca_malloc(size_t n, void *ud)
{
  count_alloc_t *a = ud;
  hdr_t *h = malloc(sizeof(*h) + n);
  if(!h)
    return NULL;
  h->n = n;
  a->live += n;
  return h + 1;
}

static void ca_free(void *p, void *ud)
{
  count_alloc_t *a = ud;
  hdr_t *h = (hdr_t *)p - 1;
  a->live -= h->n;
  free(h);
}

static void per_stream(uint32_t n)
{
  static const mux_callbacks_t ccb = {0};
  count_alloc_t ca = {0};
  mux_allocator_t al = {ca_malloc, ca_free, NULL, &ca};
  mux_config_t cfg;
  mux_t *c;
  size_t base;
  uint32_t i;
  mux_config_default(&cfg);
  cfg.is_client = 1;
  cfg.max_streams = n;
  cfg.alloc = &al;
  c = mux_new(&cfg, &ccb, NULL, 0);
  if(!c)
    exit(1);
  base = ca.live;
  for(i = 0; i < n; i++) {
    uint8_t sink[65536];
    if(mux_open(c, NULL) <= 0)
      exit(1);
    /* Flush the SYNs so only stream state is counted. */
    while(mux_send(c, sink, sizeof(sink)))
      ;
  }
  printf("\nheap per open stream: %.1f bytes (%u streams, stream state "
         "%zu bytes, id table and spare output chunks included; session "
         "%zu bytes)\n",
         (double)(ca.live - base) / n, n, mux_stream_state_size(), base);
  mux_free(c);
}

int main(int argc, char **argv)
{
  double secs = argc > 1 ? atof(argv[1]) : 0.5;
  printf("%-28s %8s %8s %12s %10s %12s\n", "case", "streams", "write",
         "frames/s", "MB/s", "writes/s");
  bulk("bulk 64 KiB, 1 stream", 1, 65536, secs);
  bulk("bulk 64 KiB, 8 streams", 8, 65536, secs);
  bulk("small 64 B, 1 stream", 1, 64, secs);
  bulk("small 64 B, 8 streams", 8, 64, secs);
  per_stream(100000);
  return 0;
}
