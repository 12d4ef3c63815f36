/*
 * test_congestion.c - congestion_check() and congestion_apply(): the
 * names --congestion and beacon_config_set_congestion() accept, and what
 * lands on a socket. reno is built into every Linux kernel and always
 * allowed, so it stands for "a name the kernel offers".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "common/congestion.h"

static void test_check_names(void **state)
{
  (void)state;
  char why[256];
  assert_int_equal(congestion_check("system", why, sizeof(why)), 0);
  assert_int_equal(congestion_check("reno", why, sizeof(why)), 0);
  const char *bad[] = {"", "BBR", "a b", "bbr;", "../x", "sixteen-chars-xx"};
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    why[0] = '\0';
    assert_int_equal(congestion_check(bad[i], why, sizeof(why)),
                     BEACON_EINVAL);
    assert_non_null(strstr(why, "expected"));
  }
  assert_int_equal(congestion_check(NULL, why, sizeof(why)), BEACON_EINVAL);
  /* Well formed, but no kernel has it: the message names it and the
   * kernel's list. */
  assert_int_equal(congestion_check("nosuchcc", why, sizeof(why)),
                   BEACON_ECONFIG);
  assert_non_null(strstr(why, "\"nosuchcc\""));
  assert_non_null(strstr(why, "reno"));
}

static void sock_cc(int fd, char *out, size_t cap)
{
  socklen_t len = (socklen_t)cap;
  memset(out, 0, cap);
  assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, out, &len), 0);
}

static void test_apply(void **state)
{
  (void)state;
  char before[16], after[16];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  assert_int_equal(congestion_apply(fd, "reno"), 0);
  sock_cc(fd, after, sizeof(after));
  assert_string_equal(after, "reno");
  /* "system" leaves the socket as it is. */
  assert_int_equal(congestion_apply(fd, "system"), 0);
  sock_cc(fd, after, sizeof(after));
  assert_string_equal(after, "reno");
  assert_int_equal(congestion_apply(fd, "nosuchcc"), BEACON_EIO);
  close(fd);
  /* The default is best effort: bbr when allowed, otherwise unchanged. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  sock_cc(fd, before, sizeof(before));
  assert_int_equal(congestion_apply(fd, NULL), 0);
  sock_cc(fd, after, sizeof(after));
  assert_true(!strcmp(after, CONGESTION_DEFAULT) || !strcmp(after, before));
  close(fd);
}

static void test_config_api(void **state)
{
  (void)state;
  beacon_config_t *cfg = beacon_config_new();
  assert_non_null(cfg);
  assert_int_equal(beacon_config_set_congestion(cfg, "reno"), 0);
  assert_int_equal(beacon_config_set_congestion(cfg, "system"), 0);
  assert_int_equal(beacon_config_set_congestion(cfg, NULL), 0);
  assert_int_equal(beacon_config_set_congestion(cfg, "Bad Name"),
                   BEACON_EINVAL);
  assert_int_equal(beacon_config_set_congestion(cfg, "nosuchcc"),
                   BEACON_ECONFIG);
  assert_int_equal(beacon_config_set_congestion(NULL, "reno"), BEACON_EINVAL);
  beacon_config_free(cfg);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_names),
      cmocka_unit_test(test_apply),
      cmocka_unit_test(test_config_api),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
