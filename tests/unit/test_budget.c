/*
 * test_budget.c - the relay-wide ledger (src/relay/budget.c): the hard
 * limit, a quarter at most per tunnel, the reserve past the high water
 * taken only in slices, partial grants for windows, forced charges, stream
 * admission by memory and by descriptors, giving back on leave, and
 * several threads taking at once without overdrawing the pool.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "relay/budget.h"
#include "relay/resources.h"

#define MiB ((size_t)1024 * 1024)
#define IDLE BUDGET_TUNNEL_IDLE_BYTES

static void test_init_checks(void **state)
{
  (void)state;
  budget_t b;
  assert_int_equal(budget_init(&b, 0, 100, 10), BEACON_EINVAL);
  assert_int_equal(budget_init(&b, MiB, 0, 0), BEACON_EINVAL);
  assert_int_equal(budget_init(&b, MiB, 100, 100), BEACON_EINVAL);
  assert_int_equal(budget_init(&b, MiB, 100, 10), 0);
  /* Alone, a tunnel's slice is the whole reserve, 1/8 of the pool. */
  assert_int_equal(budget_fd_slice(&b), 90 / 8);
  assert_int_equal(budget_mem_slice(&b), MiB / 8);
  assert_int_equal(budget_pressure(&b), 0);
}

/* One tunnel alone holds at most a quarter of the pool: the next
 * tunnels to come still find the rest. */
static void test_single_tunnel(void **state)
{
  (void)state;
  budget_t b;
  budget_tunnel_t t;
  assert_int_equal(budget_init(&b, 64 * MiB, 1000, 100), 0);
  budget_tunnel_join(&b, &t);
  assert_int_equal(budget_mem_used(&b), IDLE);
  assert_int_equal(budget_fd_used(&b), 1);
  assert_int_equal(budget_mem_take(&t, 16 * MiB - IDLE + 1), BEACON_ELIMIT);
  assert_int_equal(budget_mem_take(&t, 16 * MiB - IDLE), 0);
  assert_int_equal(budget_mem_take(&t, 1), BEACON_ELIMIT);
  assert_int_equal(budget_pressure(&b), 250);
  budget_mem_give(&t, 8 * MiB);
  assert_int_equal(budget_pressure(&b), 125);
  budget_tunnel_leave(&t);
  assert_int_equal(budget_mem_used(&b), 0);
  assert_int_equal(budget_fd_used(&b), 0);
  assert_int_equal(atomic_load(&b.tunnels), 0);
}

/* Four tunnels flood: each stops at a quarter of the pool, the last at
 * the high water; a fifth that came last still gets its slice of the
 * reserve, and nothing passes the limit. */
static void test_fair_share(void **state)
{
  (void)state;
  budget_t b;
  budget_tunnel_t h[4], good;
  uint64_t limit = 80 * MiB, high = limit - limit / BUDGET_HIGH_WATER_DIV;
  assert_int_equal(budget_init(&b, limit, 1000, 100), 0);
  for(int i = 0; i < 4; i++)
    budget_tunnel_join(&b, &h[i]);
  budget_tunnel_join(&b, &good);
  assert_int_equal(budget_mem_slice(&b), 2 * MiB); /* 10 MiB / 5 */
  for(int i = 0; i < 4; i++) {
    while(budget_mem_take(&h[i], 64 * 1024) == 0)
      ;
    assert_true(atomic_load(&h[i].mem) <= limit / 4);
  }
  assert_true(budget_mem_used(&b) <= high);
  assert_true(budget_mem_used(&b) + 64 * 1024 > high);
  assert_int_equal(budget_mem_take(&h[0], 64 * 1024), BEACON_ELIMIT);
  assert_int_equal(budget_mem_take(&h[3], 64 * 1024), BEACON_ELIMIT);
  /* The last one's slice: 2 MiB with what it holds. */
  assert_int_equal(budget_mem_take(&good, 2 * MiB - IDLE + 1), BEACON_ELIMIT);
  assert_int_equal(budget_mem_take(&good, 2 * MiB - IDLE), 0);
  assert_true(budget_mem_used(&b) <= limit);
  assert_true(atomic_load(&b.mem.refused) >= 7);
  for(int i = 0; i < 4; i++)
    budget_tunnel_leave(&h[i]);
  budget_tunnel_leave(&good);
  assert_int_equal(budget_mem_used(&b), 0);
}

/* Window growth asks for more than it may have and takes part. */
static void test_take_upto(void **state)
{
  (void)state;
  budget_t b;
  budget_tunnel_t a, c;
  uint64_t limit = 16 * MiB;
  assert_int_equal(budget_init(&b, limit, 1000, 100), 0);
  budget_tunnel_join(&b, &a);
  budget_tunnel_join(&b, &c);
  assert_int_equal(budget_mem_take_upto(&a, 0), 0);
  assert_int_equal(budget_mem_take_upto(&a, MiB), MiB);
  /* a quarter of the pool at most */
  assert_int_equal(budget_mem_take_upto(&a, 64 * MiB), 3 * MiB - IDLE);
  assert_int_equal(atomic_load(&a.mem), 4 * MiB);
  assert_int_equal(budget_mem_take_upto(&a, MiB), 0);
  assert_int_equal(budget_mem_take_upto(&c, 64 * MiB), 4 * MiB - IDLE);
  assert_int_equal(budget_mem_used(&b), 8 * MiB);
  budget_tunnel_leave(&a);
  budget_tunnel_leave(&c);
  /* Near the limit it grants what is left. */
  budget_tunnel_t t[5];
  for(int i = 0; i < 5; i++)
    budget_tunnel_join(&b, &t[i]);
  for(int i = 0; i < 4; i++)
    while(budget_mem_take_upto(&t[i], MiB))
      ;
  assert_true(budget_mem_used(&b) >= 14 * MiB);
  size_t got = budget_mem_take_upto(&t[4], 64 * MiB);
  assert_true(got > 0);
  assert_true(budget_mem_used(&b) <= limit);
  for(int i = 0; i < 5; i++)
    budget_tunnel_leave(&t[i]);
  assert_int_equal(budget_mem_used(&b), 0);
}

/* Bytes already held are counted past the limit; takes are refused
 * until they are given back; a give never wraps the totals. */
static void test_charge_and_give(void **state)
{
  (void)state;
  budget_t b;
  budget_tunnel_t t;
  assert_int_equal(budget_init(&b, MiB, 1000, 100), 0);
  budget_tunnel_join(&b, &t);
  budget_mem_charge(&t, 2 * MiB);
  assert_int_equal(budget_mem_used(&b), 2 * MiB + IDLE);
  assert_int_equal(budget_pressure(&b), 1000);
  assert_int_equal(budget_mem_take(&t, 1), BEACON_ELIMIT);
  assert_int_equal(budget_mem_take_upto(&t, 100), 0);
  assert_int_equal(budget_admit_stream(&t), BEACON_ELIMIT);
  budget_mem_give(&t, 2 * MiB);
  assert_int_equal(budget_mem_take(&t, 1000), 0);
  budget_mem_give(&t, 100 * MiB); /* more than held */
  assert_int_equal(budget_mem_used(&b), 0);
  budget_tunnel_leave(&t);
  assert_int_equal(budget_mem_used(&b), 0);
  /* Not joined: nothing is taken, nothing breaks. */
  assert_int_equal(budget_mem_take(&t, 1), BEACON_EINVAL);
  assert_int_equal(budget_fd_take(&t), BEACON_EINVAL);
  assert_int_equal(budget_admit_stream(&t), BEACON_EINVAL);
  budget_mem_give(&t, 1);
  budget_fd_give(&t);
  budget_tunnel_leave(&t);
}

/* Descriptors: a tunnel holds at most a quarter of what the reserve
 * leaves, which is never taken; a refused stream takes nothing, and
 * another tunnel is not refused. */
static void test_descriptors(void **state)
{
  (void)state;
  budget_t b;
  budget_tunnel_t hostile, good;
  assert_int_equal(budget_init(&b, 1024 * MiB, 1100, 100), 0);
  budget_tunnel_join(&b, &hostile);
  budget_tunnel_join(&b, &good);
  assert_int_equal(budget_fd_used(&b), 2);
  unsigned admitted = 0;
  while(budget_admit_stream(&hostile) == 0)
    admitted++;
  assert_int_equal(admitted, 249); /* 250 with its own socket */
  assert_int_equal(budget_fd_used(&b), 251);
  assert_int_equal(atomic_load(&b.streams_refused), 1);
  unsigned good_admitted = 0;
  while(budget_admit_stream(&good) == 0)
    good_admitted++;
  assert_int_equal(good_admitted, 249);
  assert_int_equal(budget_fd_take(&good), BEACON_ELIMIT);
  budget_stream_done(&good);
  assert_int_equal(budget_fd_take(&good), 0);
  budget_fd_give(&good);
  budget_tunnel_leave(&hostile);
  assert_int_equal(budget_fd_used(&b), good_admitted);
  assert_int_equal(budget_fd_slice(&b), 125);
  budget_tunnel_leave(&good);
  assert_int_equal(budget_fd_used(&b), 0);
  /* Seven tunnels take all they may: the reserve is only sliced. */
  budget_tunnel_t t[7];
  for(int i = 0; i < 7; i++)
    budget_tunnel_join(&b, &t[i]);
  for(int i = 0; i < 7; i++)
    while(budget_fd_take(&t[i]) == 0)
      ;
  /* three quarters, the fourth to the high water, three slices of 125/7 */
  assert_int_equal(budget_fd_used(&b), 875 + 3 * (125 / 7 - 1));
  for(int i = 0; i < 7; i++)
    budget_tunnel_leave(&t[i]);
  assert_int_equal(budget_fd_used(&b), 0);
}

/* Admission by memory: a stream takes BUDGET_STREAM_IDLE_BYTES, its
 * window nothing; a tunnel whose streams hold bytes up to its share
 * (each filled its 256 KiB window, say) gets no more streams while the
 * pool is past its high water; one under its share does. */
static void test_admit_by_memory(void **state)
{
  (void)state;
  budget_t b;
  budget_tunnel_t hostile, good;
  assert_int_equal(budget_init(&b, 8 * MiB, 1000, 100), 0);
  budget_tunnel_join(&b, &hostile);
  budget_tunnel_join(&b, &good);
  assert_int_equal(budget_admit_stream(&good), 0);
  assert_int_equal(budget_mem_used(&b), 2 * IDLE + BUDGET_STREAM_IDLE_BYTES);
  budget_stream_done(&good);
  assert_int_equal(budget_mem_used(&b), 2 * IDLE);
  unsigned admitted = 0;
  while(budget_admit_stream(&hostile) == 0) {
    admitted++;
    budget_mem_charge(&hostile, 256 * 1024); /* its window, filled */
  }
  /* a quarter of 8 MiB: 7 filled windows, their streams, its footprint */
  assert_int_equal(admitted, 8);
  assert_true(atomic_load(&hostile.mem) > 2 * MiB);
  assert_int_equal(budget_mem_room(&hostile, MiB), 0);
  assert_int_equal(budget_admit_stream(&good), 0);
  assert_true(budget_mem_room(&good, MiB) > 0);
  budget_tunnel_leave(&hostile);
  budget_tunnel_leave(&good);
  assert_int_equal(budget_mem_used(&b), 0);
}

/* 100 000 idle streams over 10 000 tunnels fit the default of a 4 GiB
 * host (a quarter of it) when windows are credit: 24 KiB a tunnel and
 * 2 KiB a stream, under the high water. */
static void test_idle_streams_fit(void **state)
{
  (void)state;
  static budget_tunnel_t t[10000];
  budget_t b;
  assert_int_equal(budget_init(&b, (uint64_t)1024 * MiB, 1u << 20, 4096), 0);
  for(int i = 0; i < 10000; i++)
    budget_tunnel_join(&b, &t[i]);
  for(int i = 0; i < 10000; i++)
    for(int k = 0; k < 10; k++)
      assert_int_equal(budget_admit_stream(&t[i]), 0);
  assert_true(budget_mem_used(&b) <= 1024 * MiB - 1024 * MiB / 8);
  for(int i = 0; i < 10000; i++)
    budget_tunnel_leave(&t[i]);
  assert_int_equal(budget_mem_used(&b), 0);
}

/* Threads taking and giving at once never overdraw the pool, and the
 * totals come back to zero. */
typedef struct worker_arg {
  budget_tunnel_t *t;
  unsigned rounds;
  uint64_t limit;
  int over; /* the total was seen past the limit */
} worker_arg_t;

static void *worker(void *p)
{
  worker_arg_t *a = p;
  for(unsigned i = 0; i < a->rounds; i++) {
    size_t n = 1000 + (i % 7) * 4096;
    if(budget_mem_take(a->t, n) == 0) {
      if(budget_mem_used(a->t->b) > a->limit)
        a->over = 1;
      budget_mem_give(a->t, n);
    }
    size_t got = budget_mem_take_upto(a->t, n * 3);
    budget_mem_give(a->t, got);
    if(budget_fd_take(a->t) == 0)
      budget_fd_give(a->t);
  }
  return NULL;
}

static void test_threads(void **state)
{
  (void)state;
  enum { N = 4 };
  budget_t b;
  budget_tunnel_t t[N];
  pthread_t th[N];
  worker_arg_t a[N];
  assert_int_equal(budget_init(&b, 200 * 1024, 8, 2), 0);
  for(int i = 0; i < N; i++) {
    budget_tunnel_join(&b, &t[i]);
    a[i] = (worker_arg_t){.t = &t[i], .rounds = 200000, .limit = 200 * 1024};
  }
  for(int i = 0; i < N; i++)
    assert_int_equal(pthread_create(&th[i], NULL, worker, &a[i]), 0);
  for(int i = 0; i < N; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_false(a[i].over);
  }
  assert_int_equal(budget_mem_used(&b), N * IDLE);
  assert_int_equal(budget_fd_used(&b), N);
  for(int i = 0; i < N; i++)
    budget_tunnel_leave(&t[i]);
  assert_int_equal(budget_mem_used(&b), 0);
  assert_int_equal(budget_fd_used(&b), 0);
}

/* The reserve and the derived --max-tunnels of docs/OPERATIONS.md
 * "Sizing a relay". */
static void test_derived_figures(void **state)
{
  (void)state;
  assert_int_equal(relay_fd_reserve(20000), 2500);
  assert_int_equal(relay_fd_reserve(512), 64);
  assert_int_equal(relay_fd_reserve(1 << 20), 4096);
  assert_int_equal(relay_fd_reserve(64), 32); /* never all of it */
  /* 20 000 descriptors: three quarters of 17 500 (the reserve of
   * 2 500 holds the default 1 024 handshakes) */
  assert_int_equal(
      relay_derive_max_tunnels(1024 * MiB, 20000, relay_fd_reserve(20000)),
      13125);
  /* a quarter of 1 GiB of RAM: half of 256 MiB in 24 KiB tunnels */
  assert_int_equal(
      relay_derive_max_tunnels(256 * MiB, 1 << 20, relay_fd_reserve(1 << 20)),
      5461);
  /* what 10 000 tunnels take */
  assert_true(relay_derive_max_tunnels(480 * MiB, 16384,
                                       relay_fd_reserve(16384)) >= 10000);
  /* 8 descriptors: half kept back, three quarters of the other 4 */
  assert_int_equal(relay_derive_max_tunnels(16 * MiB, 8, relay_fd_reserve(8)),
                   3);
  assert_int_equal(relay_derive_max_tunnels(16 * MiB, 2, relay_fd_reserve(2)),
                   1);
  assert_true(relay_default_memory_limit() >= RELAY_MEMORY_MIN);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_checks),
      cmocka_unit_test(test_single_tunnel),
      cmocka_unit_test(test_fair_share),
      cmocka_unit_test(test_take_upto),
      cmocka_unit_test(test_charge_and_give),
      cmocka_unit_test(test_descriptors),
      cmocka_unit_test(test_admit_by_memory),
      cmocka_unit_test(test_idle_streams_fit),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_derived_figures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
