/*
 * test_resolve.c - c-ares on a libuv loop (src/dial/resolve.c) without
 * a name server: a hosts-file name answers on the next loop turn, never
 * from inside resolve_start(); a cancelled lookup never calls back; and
 * the loop is left with no resolver handle, so it can close. Lookups
 * that reach a name server are tested in a private network namespace
 * (tests/integration/test_resolve.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <uv.h>

#include "beacon/beacon.h"
#include "dial/resolve.h"

typedef struct seen {
  int calls;
  int status;
  size_t n;
  int loopback;
} seen_t;

static void on_done(void *ud, int status, const resolve_ip_t *ips, size_t n,
                    const char *why)
{
  seen_t *s = ud;
  s->calls++;
  s->status = status;
  s->n = n;
  for(size_t i = 0; i < n; i++)
    if((ips[i].family == AF_INET && ips[i].addr[0] == 127) ||
       (ips[i].family == AF_INET6 && ips[i].addr[15] == 1))
      s->loopback++;
}

static void test_hosts_name_next_turn(void **state)
{
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  resolve_group_t *g = resolve_group_new(1);
  assert_non_null(g);
  seen_t a = {0}, b = {0};
  resolve_query_t *qa, *qb;
  assert_int_equal(resolve_start(&loop, "localhost", g, on_done, &a, &qa), 0);
  /* answered from the hosts file inside start: the slot is free */
  assert_int_equal(resolve_group_active(g), 0);
  assert_int_equal(resolve_start(&loop, "LOCALHOST", g, on_done, &b, &qb), 0);
  assert_int_equal(a.calls + b.calls, 0); /* never from inside start */
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(a.calls, 1);
  assert_int_equal(a.status, 0);
  assert_true(a.n >= 1);
  assert_int_equal(a.loopback, (int)a.n);
  assert_int_equal(b.calls, 1);
  assert_int_equal(b.status, 0);
  resolve_group_release(g);
  /* nothing of the resolver is left on the loop */
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_cancel_never_calls_back(void **state)
{
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  seen_t a = {0}, b = {0};
  resolve_query_t *qa, *qb;
  assert_int_equal(resolve_start(&loop, "localhost", NULL, on_done, &a, &qa),
                   0);
  assert_int_equal(resolve_start(&loop, "localhost", NULL, on_done, &b, &qb),
                   0);
  resolve_cancel(qa);
  resolve_cancel(NULL);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(a.calls, 0);
  assert_int_equal(b.calls, 1);
  assert_int_equal(uv_loop_close(&loop), 0);
  /* every lookup cancelled at once: the loop still ends */
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(resolve_start(&loop, "localhost", NULL, on_done, &a, &qa),
                   0);
  resolve_cancel(qa);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(a.calls, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hosts_name_next_turn),
      cmocka_unit_test(test_cancel_never_calls_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
