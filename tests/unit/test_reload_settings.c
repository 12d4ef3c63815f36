/*
 * test_reload_settings.c - what a reload keeps and what it swaps
 * (src/relay/restart_only.c, src/relay/settings.c): the restart-only
 * options are found by name and kept at their running values, the
 * reloadable ones are not flagged; the settings snapshot frees its owner
 * with its last reference, not at the swap, while a holder (a stream)
 * still reads it; the running-config file reads back as config lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "relay/relay_int.h"
#include "relay/restart_only.h"
#include "relay/settings.h"

static void test_restart_only_names(void **state)
{
  (void)state;
  relay_config_t a, b;
  const char *names[16];
  relay_config_default(&a);
  relay_config_default(&b);
  assert_int_equal(relay_config_restart_only(&a, &b, names, 16), 0);
  /* What a reload applies is not flagged. */
  b.dial_timeout_ms = 1;
  b.max_tunnels = 7;
  b.log_level = 0;
  b.max_streams = 3;
  b.n_allow_clients = 2;
  assert_int_equal(relay_config_restart_only(&a, &b, names, 16), 0);
  b.tunnel_addr = "127.0.0.1:1";
  b.workers = 4;
  b.max_handshakes_rate = 50;
  b.metrics_addr = ":9456";
  assert_int_equal(relay_config_restart_only(&a, &b, names, 16), 4);
  assert_string_equal(names[0], "tunnel-addr");
  assert_string_equal(names[1], "workers");
  assert_string_equal(names[2], "metrics-addr");
  assert_string_equal(names[3], "max-handshakes");
  /* Counted past cap, written up to it. */
  assert_int_equal(relay_config_restart_only(&a, &b, names, 1), 4);
  assert_int_equal(relay_config_restart_only(&a, &b, NULL, 0), 4);
  /* Kept: the running values come back, the reloadable ones stay. */
  relay_restart_only_keep(&a, &b);
  assert_int_equal(relay_config_restart_only(&a, &b, names, 16), 0);
  assert_string_equal(b.tunnel_addr, ":8456");
  assert_int_equal(b.dial_timeout_ms, 1);
  assert_int_equal(b.max_tunnels, 7);
}

static int released;

static void release(void *owner)
{
  released++;
  free(owner);
}

static const relay_config_source_t source = {.release = release};

static void test_snapshot_lifetime(void **state)
{
  (void)state;
  relay_t *r = calloc(1, sizeof(*r));
  assert_non_null(r);
  uv_mutex_init(&r->ctx_lock);
  relay_config_t cfg;
  relay_config_default(&cfg);
  cfg.source = &source;
  cfg.dial_timeout_ms = 1000;
  r->settings = relay_settings_new(&cfg, NULL, NULL); /* borrowed */
  assert_non_null(r->settings);
  relay_settings_t *held = relay_settings_get(r); /* a stream's */

  cfg.dial_timeout_ms = 2000;
  released = 0;
  relay_settings_t *next = relay_settings_new(&cfg, NULL, malloc(8));
  uv_mutex_lock(&r->ctx_lock);
  relay_settings_put(relay_settings_exchange_locked(r, next));
  uv_mutex_unlock(&r->ctx_lock);
  /* The holder reads what it took; a new get sees the new snapshot. */
  assert_int_equal(held->cfg.dial_timeout_ms, 1000);
  relay_settings_t *now = relay_settings_get(r);
  assert_ptr_equal(now, next);
  assert_int_equal(now->cfg.dial_timeout_ms, 2000);
  relay_settings_put(now);
  relay_settings_put(held); /* borrowed: no release */
  assert_int_equal(released, 0);

  relay_settings_t *third = relay_settings_new(&cfg, NULL, malloc(8));
  relay_settings_t *old = relay_settings_get(r);
  uv_mutex_lock(&r->ctx_lock);
  relay_settings_t *prev = relay_settings_exchange_locked(r, third);
  uv_mutex_unlock(&r->ctx_lock);
  assert_ptr_equal(prev, next);
  relay_settings_put(prev);
  assert_int_equal(released, 0); /* old still held */
  relay_settings_put(old);
  assert_int_equal(released, 1); /* its last reference */
  relay_settings_put(r->settings);
  assert_int_equal(released, 2);
  uv_mutex_destroy(&r->ctx_lock);
  free(r);
}

static void test_running_file(void **state)
{
  (void)state;
  char path[] = "/tmp/test_reload_settings_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  relay_config_t cfg;
  relay_config_default(&cfg);
  cfg.running_config = path;
  cfg.tunnel_addr = "127.0.0.1:8456";
  cfg.workers = 3;
  relay_restart_only_write(&cfg);
  char text[2048] = "";
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  text[n] = 0;
  fclose(f);
  unlink(path);
  assert_non_null(strstr(text, "\ntunnel-addr 127.0.0.1:8456\n"));
  assert_non_null(strstr(text, "\nworkers 3\n"));
  assert_non_null(strstr(text, "\nmax-handshakes 1024:30:2048\n"));
  assert_non_null(strstr(text, "\nhandshake-timeout 10.000\n"));
  assert_null(strstr(text, "metrics-addr")); /* off: left out */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_restart_only_names),
      cmocka_unit_test(test_snapshot_lifetime),
      cmocka_unit_test(test_running_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
