/* test_sd_notify.c - beacon_sd_notify() against a real AF_UNIX datagram
 * socket, by path and in the abstract namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "common/sd_notify.h"

/* Binds a datagram socket to name (abstract when it starts with '@'). */
static int bind_dgram(const char *name)
{
  struct sockaddr_un sun;
  size_t len = strlen(name);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, name, len);
  if(name[0] == '@')
    sun.sun_path[0] = '\0';
  assert_int_equal(bind(fd, (struct sockaddr *)&sun,
                        (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                    len + (name[0] != '@'))),
                   0);
  return fd;
}

static void expect_datagram(int fd, const char *want)
{
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
  assert_int_equal(n, (ssize_t)strlen(want));
  buf[n] = '\0';
  assert_string_equal(buf, want);
}

static void test_unset(void **state)
{
  unsetenv("NOTIFY_SOCKET");
  assert_int_equal(beacon_sd_notify("READY=1"), 0);
  setenv("NOTIFY_SOCKET", "", 1);
  assert_int_equal(beacon_sd_notify("READY=1"), 0);
  unsetenv("NOTIFY_SOCKET");
}

static void test_path(void **state)
{
  char dir[] = "/tmp/beacon-sdn-XXXXXX";
  char path[128];

  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/notify", dir);
  int fd = bind_dgram(path);
  setenv("NOTIFY_SOCKET", path, 1);
  assert_int_equal(beacon_sd_notify("READY=1"), 1);
  expect_datagram(fd, "READY=1");
  assert_int_equal(beacon_sd_notify("RELOADING=1\nSTATUS=reloading"), 1);
  expect_datagram(fd, "RELOADING=1\nSTATUS=reloading");
  close(fd);
  unlink(path);
  /* Nobody listens any more: the send fails and says so. */
  assert_int_equal(beacon_sd_notify("READY=1"), BEACON_EIO);
  rmdir(dir);
  unsetenv("NOTIFY_SOCKET");
}

static void test_abstract(void **state)
{
  char name[64];

  snprintf(name, sizeof(name), "@beacon-test-notify-%ld", (long)getpid());
  int fd = bind_dgram(name);
  setenv("NOTIFY_SOCKET", name, 1);
  assert_int_equal(beacon_sd_notify("STOPPING=1"), 1);
  expect_datagram(fd, "STOPPING=1");
  close(fd);
  unsetenv("NOTIFY_SOCKET");
}

static void test_bad_values(void **state)
{
  char longname[200];

  setenv("NOTIFY_SOCKET", "relative/path", 1);
  assert_int_equal(beacon_sd_notify("READY=1"), BEACON_EINVAL);
  memset(longname, 'a', sizeof(longname) - 1);
  longname[0] = '/';
  longname[sizeof(longname) - 1] = '\0';
  setenv("NOTIFY_SOCKET", longname, 1);
  assert_int_equal(beacon_sd_notify("READY=1"), BEACON_EINVAL);
  setenv("NOTIFY_SOCKET", "@x", 1);
  assert_int_equal(beacon_sd_notify(""), BEACON_EINVAL);
  assert_int_equal(beacon_sd_notify(NULL), BEACON_EINVAL);
  unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unset),
      cmocka_unit_test(test_path),
      cmocka_unit_test(test_abstract),
      cmocka_unit_test(test_bad_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
