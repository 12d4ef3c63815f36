/*
 * test_mux_pair.c - a client core and a server core talking through
 * memory: 64 streams moving megabytes each way with every byte checked,
 * half-closes both ways and random resets, under random interleavings
 * and chunkings from a seeded PRNG (several seeds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "mux/mux.h"

#define NSTREAMS 64
#define PATLEN (1u << 20)
#define MAXIO (96 * 1024)

static uint8_t pat[PATLEN];
/* Small-I/O mode: tiny transport writes and reads, smaller streams. */
static int small_io;

static uint64_t rng_state;

static uint32_t rnd(void)
{
  /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static uint32_t rnd_below(uint32_t n)
{
  return n ? rnd() % n : 0;
}

typedef struct pipe_buf {
  uint8_t *buf;
  size_t len;
  size_t cap;
} pipe_buf_t;

/* One direction of one stream, as one side sees it. */
typedef struct sst {
  uint32_t id;
  int opened;
  int closed;
  int reset;   /* either side reset it */
  int blocked; /* waiting for on_writable */
  int fin_sent;
  int fin_recvd;
  uint64_t sent;
  uint64_t recvd;
  uint64_t held;
} sst_t;

typedef struct side {
  mux_t *m;
  int dir; /* 0 client->server, 1 server->client: what this side sends */
  sst_t st[NSTREAMS];
  pipe_buf_t out;
  struct side *peer;
  uint64_t closed_count;
  uint64_t total_recvd;
  int writable_calls;
  int resets_seen;
} side_t;

static uint64_t size_of[NSTREAMS][2];
static uint64_t reset_at[NSTREAMS]; /* client resets after this; ~0 no */

static size_t pat_off(uint32_t idx, int dir, uint64_t off)
{
  return (size_t)((off + idx * 977u + (unsigned)dir * 123457u) % PATLEN);
}

static uint32_t idx_of(void *sud)
{
  uintptr_t v = (uintptr_t)sud;
  assert_true(v >= 1 && v <= NSTREAMS);
  return (uint32_t)(v - 1);
}

static int on_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  side_t *s = ud;
  uint32_t idx = (id - 1) / 2;
  assert_true(id & 1);
  assert_true(idx < NSTREAMS);
  assert_false(s->st[idx].opened);
  s->st[idx].opened = 1;
  s->st[idx].id = id;
  *sud = (void *)(uintptr_t)(idx + 1);
  return 0;
}

static void on_ack(mux_t *m, uint32_t id, void *sud, void *ud)
{
  (void)idx_of(sud);
}

static void on_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t len, void *ud)
{
  side_t *s = ud;
  uint32_t idx = idx_of(sud);
  sst_t *t = &s->st[idx];
  int pdir = !s->dir;
  size_t done = 0;
  assert_int_equal(t->id, id);
  assert_false(t->fin_recvd);
  assert_true(t->recvd + len <= size_of[idx][pdir]);
  while(done < len) {
    size_t o = pat_off(idx, pdir, t->recvd + done);
    size_t n = len - done;
    if(n > PATLEN - o)
      n = PATLEN - o;
    assert_memory_equal(d + done, pat + o, n);
    done += n;
  }
  t->recvd += len;
  t->held += len;
  s->total_recvd += len;
  /* Sometimes consume at once, from inside the callback. */
  if(rnd_below(4) == 0) {
    assert_int_equal(mux_stream_consumed(m, id, t->held), 0);
    t->held = 0;
  }
}

static void on_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  side_t *s = ud;
  uint32_t idx = idx_of(sud);
  sst_t *t = &s->st[idx];
  assert_false(t->fin_recvd);
  t->fin_recvd = 1;
  if(reset_at[idx] == UINT64_MAX)
    assert_int_equal(t->recvd, size_of[idx][!s->dir]);
}

static void on_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  side_t *s = ud;
  uint32_t idx = idx_of(sud);
  assert_true(reset_at[idx] != UINT64_MAX);
  s->st[idx].reset = 1;
  s->resets_seen++;
}

static void on_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  side_t *s = ud;
  s->st[idx_of(sud)].blocked = 0;
  s->writable_calls++;
}

static void on_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  side_t *s = ud;
  uint32_t idx = idx_of(sud);
  sst_t *t = &s->st[idx];
  assert_false(t->closed);
  t->closed = 1;
  s->closed_count++;
  if(reset_at[idx] == UINT64_MAX) {
    /* A clean close: both directions complete. */
    assert_true(t->fin_recvd);
    assert_true(t->fin_sent);
    assert_int_equal(t->sent, size_of[idx][s->dir]);
    assert_int_equal(t->recvd, size_of[idx][!s->dir]);
  }
}

static const mux_callbacks_t cbs = {.on_stream_open = on_open,
                                    .on_stream_ack = on_ack,
                                    .on_data = on_data,
                                    .on_fin = on_fin,
                                    .on_reset = on_reset,
                                    .on_writable = on_writable,
                                    .on_stream_closed = on_closed};

static void pipe_put(pipe_buf_t *p, const uint8_t *d, size_t n)
{
  if(!n)
    return;
  if(p->len + n > p->cap) {
    size_t cap = p->cap ? p->cap : 65536;
    while(cap < p->len + n)
      cap *= 2;
    p->buf = realloc(p->buf, cap);
    assert_non_null(p->buf);
    p->cap = cap;
  }
  memcpy(p->buf + p->len, d, n);
  p->len += n;
}

/* Moves output of s into its pipe: copy-out or zero-copy, random sizes. */
static void take_output(side_t *s)
{
  static uint8_t tmp[MAXIO];
  uint32_t cap = small_io ? 700 : MAXIO;
  if(rnd_below(2)) {
    size_t n = mux_send(s->m, tmp, 1 + rnd_below(cap));
    pipe_put(&s->out, tmp, n);
  } else {
    const uint8_t *p;
    size_t n = mux_pending(s->m, &p);
    if(n) {
      n = 1 + rnd_below((uint32_t)(n < cap ? n : cap));
      pipe_put(&s->out, p, n);
      mux_advance(s->m, n);
    }
  }
}

/* Feeds the peer part of the pipe, in random pieces. */
static void deliver(side_t *s)
{
  pipe_buf_t *p = &s->out;
  size_t n = p->len ? 1 + rnd_below((uint32_t)p->len) : 0;
  size_t off = 0;
  if(!n)
    return;
  while(off < n) {
    size_t k = 1 + rnd_below((uint32_t)(n - off));
    if((small_io || rnd_below(3) == 0) && k > 16)
      k = 1 + rnd_below(16); /* tiny pieces split headers */
    assert_int_equal(mux_recv(s->peer->m, p->buf + off, k), (int)k);
    off += k;
  }
  memmove(p->buf, p->buf + n, p->len - n);
  p->len -= n;
}

static void app_step(side_t *s)
{
  uint32_t idx = rnd_below(NSTREAMS);
  int round;
  for(round = 0; round < 8; round++, idx = (idx + 1) % NSTREAMS) {
    sst_t *t = &s->st[idx];
    uint64_t want = size_of[idx][s->dir];
    if(!t->opened || t->closed)
      continue;
    if(t->held && rnd_below(2)) {
      size_t n = t->held > 1 ? 1 + rnd_below((uint32_t)t->held) : 1;
      assert_int_equal(mux_stream_consumed(s->m, t->id, n), 0);
      t->held -= n;
    }
    if(s->dir == 0 && reset_at[idx] != UINT64_MAX &&
       t->sent >= reset_at[idx]) {
      assert_int_equal(mux_stream_reset(s->m, t->id), 0);
      t->reset = 1;
      continue;
    }
    if(!t->blocked && t->sent < want) {
      size_t o = pat_off(idx, s->dir, t->sent);
      size_t n = 1 + rnd_below(64 * 1024);
      int64_t w;
      if(n > want - t->sent)
        n = (size_t)(want - t->sent);
      if(n > PATLEN - o)
        n = PATLEN - o;
      w = mux_stream_write(s->m, t->id, pat + o, n);
      assert_true(w >= 0);
      t->sent += (uint64_t)w;
      if((size_t)w < n)
        t->blocked = 1;
    }
    if(t->sent == want && !t->fin_sent) {
      t->fin_sent = 1;
      assert_int_equal(mux_stream_close(s->m, t->id), 0);
    }
  }
}

static void run_seed(uint64_t seed, int small)
{
  side_t c;
  side_t s;
  mux_config_t cfg;
  uint64_t iter = 0;
  uint32_t i;
  int resets = 0;
  small_io = small;
  rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
  for(i = 0; i < PATLEN; i++)
    pat[i] = (uint8_t)rnd();
  for(i = 0; i < NSTREAMS; i++) {
    int d;
    for(d = 0; d < 2; d++) {
      uint32_t r = rnd_below(16);
      /* Mostly up to 256 KiB, some empty, a few of 1-2 MiB. */
      size_of[i][d] = r == 0   ? 0
                      : r < 14 ? rnd_below(256 * 1024)
                               : 1024 * 1024 + rnd_below(1024 * 1024);
      if(small_io)
        size_of[i][d] /= 16;
    }
    reset_at[i] = rnd_below(8) == 0 ? rnd_below(64 * 1024) : UINT64_MAX;
    resets += reset_at[i] != UINT64_MAX;
  }
  memset(&c, 0, sizeof(c));
  memset(&s, 0, sizeof(s));
  c.dir = 0;
  s.dir = 1;
  c.peer = &s;
  s.peer = &c;
  mux_config_default(&cfg);
  cfg.is_client = 1;
  cfg.max_outbuf = 64 * 1024 + rnd_below(512 * 1024);
  c.m = mux_new(&cfg, &cbs, &c, 0);
  cfg.is_client = 0;
  cfg.max_outbuf = 64 * 1024 + rnd_below(512 * 1024);
  if(seed & 1)
    cfg.max_window = 1024 * 1024; /* the server grants bigger windows */
  s.m = mux_new(&cfg, &cbs, &s, 0);
  assert_non_null(c.m);
  assert_non_null(s.m);
  for(i = 0; i < NSTREAMS; i++) {
    int64_t id = mux_open(c.m, (void *)(uintptr_t)(i + 1));
    assert_int_equal(id, 2 * i + 1);
    c.st[i].id = (uint32_t)id;
    c.st[i].opened = 1;
  }
  while(c.closed_count < NSTREAMS || s.closed_count < NSTREAMS ||
        mux_pending_total(c.m) || mux_pending_total(s.m) || c.out.len ||
        s.out.len) {
    assert_true(++iter < 5000000);
    switch(rnd_below(6)) {
    case 0:
      take_output(&c);
      break;
    case 1:
      take_output(&s);
      break;
    case 2:
      deliver(&c);
      break;
    case 3:
      deliver(&s);
      break;
    case 4:
      app_step(&c);
      break;
    default:
      app_step(&s);
      break;
    }
    assert_false(mux_is_dead(c.m));
    assert_false(mux_is_dead(s.m));
  }
  assert_int_equal(mux_stream_count(c.m), 0);
  assert_int_equal(mux_stream_count(s.m), 0);
  assert_true(c.writable_calls + s.writable_calls > 0);
  /* Megabytes each way, and resets that met a sending peer. */
  assert_true(c.total_recvd > (small_io ? 256 : 4096) * 1024u);
  assert_true(s.total_recvd > (small_io ? 256 : 4096) * 1024u);
  assert_true(resets > 0);
  assert_true(s.resets_seen > 0);
  print_message("seed %llu: %llu bytes c->s, %llu s->c, %d resets "
                "(%d seen by the server), %llu steps\n",
                (unsigned long long)seed, (unsigned long long)s.total_recvd,
                (unsigned long long)c.total_recvd, resets, s.resets_seen,
                (unsigned long long)iter);
  mux_free(c.m);
  mux_free(s.m);
  free(c.out.buf);
  free(s.out.buf);
}

static void test_pair_seed1(void **state)
{
  run_seed(1, 0);
}

static void test_pair_seed2(void **state)
{
  run_seed(2, 0);
}

static void test_pair_seed3(void **state)
{
  run_seed(3, 0);
}

static void test_pair_seed4(void **state)
{
  run_seed(0x5eed, 0);
}

static void test_pair_small_io1(void **state)
{
  run_seed(11, 1);
}

static void test_pair_small_io2(void **state)
{
  run_seed(12, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pair_seed1),
      cmocka_unit_test(test_pair_seed2),
      cmocka_unit_test(test_pair_seed3),
      cmocka_unit_test(test_pair_seed4),
      cmocka_unit_test(test_pair_small_io1),
      cmocka_unit_test(test_pair_small_io2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
