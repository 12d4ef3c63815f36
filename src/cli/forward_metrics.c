/* forward_metrics.c - `beacon forward`'s counters and their endpoint
 * (cli/forward_metrics.h). */
#include "cli/forward_metrics.h"

#include <stdio.h>
#include <time.h>
#include <uv.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "metrics/http.h"
#include "metrics/connect_seconds.h"
#include "metrics/process.h"
#include "tls/file_checks.h"

forward_metrics_t forward_metrics;

static const char *const directions[] = {"up", "down"};

/* The registry and the endpoint's loop, owned by the metrics thread once
 * it runs. */
static struct {
  metrics_registry_t reg;
  uv_loop_t loop;
  uv_async_t stop;
  uv_thread_t thread;
  metrics_http_t *http;
  metrics_health_fn health;
  void *health_ud;
} fm;

/* Names and sizes are constants: a failure is a programming error. */
static void register_stream_open(void);
static void register_cert_expiry(void);

static void family(metric_t *f, metric_type_t type, const char *name,
                   const char *help, const char *label,
                   const char *const *values, size_t n)
{
  metric_init(f, type, name, help, label, values, n);
  metrics_register(&fm.reg, f);
}

void forward_metrics_setup(void)
{
  metrics_registry_init(&fm.reg);
  family(&forward_metrics.conns_open, METRIC_GAUGE,
         "beacon_forward_connections_open",
         "Client connections open now, on every front end.", NULL, NULL, 0);
  family(&forward_metrics.streams_open, METRIC_GAUGE, "beacon_streams_open",
         "Relay streams open now.", NULL, NULL, 0);
  family(&forward_metrics.streams_total, METRIC_COUNTER,
         "beacon_streams_total", "Relay streams opened.", NULL, NULL, 0);
  family(&forward_metrics.bytes, METRIC_COUNTER, "beacon_bytes_total",
         "Payload bytes forwarded (up: client to target).", "direction",
         directions, 2);
  /* The failure labels of common/outcome.h: every one but "ok". */
  family(&forward_metrics.dial_failures, METRIC_COUNTER,
         "beacon_dial_failures_total",
         "Streams that could not be opened through the relay.", "reason",
         outcome_label_names + OUTCOME_LABEL_FIRST_FAILURE,
         OUTCOME_LABEL_COUNT - OUTCOME_LABEL_FIRST_FAILURE);
  register_stream_open();
  register_cert_expiry();
  metrics_process_register(&fm.reg); /* process_*, beacon_build_info */
}

void forward_metrics_dial_failed(outcome_t o)
{
  outcome_label_t l = outcome_label(o);
  if(l >= OUTCOME_LABEL_FIRST_FAILURE)
    metric_inc(&forward_metrics.dial_failures,
               (size_t)(l - OUTCOME_LABEL_FIRST_FAILURE));
}

/* ---- the controller certificate's expiry ---- */

static metric_t cert_expiry;
static char cert_path[4096];

static void register_cert_expiry(void)
{
  family(&cert_expiry, METRIC_GAUGE,
         "beacon_forward_cert_expiry_timestamp_seconds",
         "notAfter of the controller certificate for new tunnels, Unix "
         "time.",
         NULL, NULL, 0);
}

void forward_metrics_cert_expiry(const char *path)
{
  if(path)
    snprintf(cert_path, sizeof(cert_path), "%s", path);
  metric_set(&cert_expiry, 0, tls_cert_file_not_after(cert_path));
}

/* ---- stream open latency ---- */

static metric_histogram_t stream_open;

static void register_stream_open(void)
{
  metric_histogram_init(
      &stream_open, "beacon_forward_stream_open_seconds",
      "Time to open a stream through the relay, until it was acknowledged "
      "(against a beacon relay: until the target connected), by outcome.",
      "outcome", outcome_label_names, OUTCOME_LABEL_COUNT,
      connect_seconds_bounds_us, connect_seconds_nbounds, 6);
  metrics_register(&fm.reg, &stream_open.base);
}

uint64_t forward_metrics_now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void forward_metrics_stream_open(outcome_t o, uint64_t started_us)
{
  metric_observe(&stream_open, outcome_label(o),
                 forward_metrics_now_us() - started_us);
}

void forward_metrics_register(metric_t *family)
{
  metrics_register(&fm.reg, family);
}

void forward_metrics_set_health(metrics_health_fn fn, void *ud)
{
  fm.health = fn;
  fm.health_ud = ud;
}

static void metrics_thread(void *arg)
{
  (void)arg;
  uv_run(&fm.loop, UV_RUN_DEFAULT);
}

static void on_metrics_stop(uv_async_t *a)
{
  metrics_http_stop(fm.http);
  fm.http = NULL;
  uv_close((uv_handle_t *)a, NULL);
}

/* Thread creation orders the bind before the loop thread's use of it. */
int forward_metrics_start(const char *addr)
{
  char err[256];
  int rc = uv_loop_init(&fm.loop);
  if(rc) {
    fprintf(stderr, "beacon forward: metrics loop: %s\n", uv_strerror(rc));
    return CLI_EXIT_FAILURE;
  }
  fm.http = metrics_http_start(&fm.loop, addr, metrics_registry_render,
                               &fm.reg, err, sizeof(err));
  if(!fm.http) {
    fprintf(stderr, "beacon forward: --metrics-addr: %s\n", err);
    uv_run(&fm.loop, UV_RUN_DEFAULT); /* the listener's close callback */
    uv_loop_close(&fm.loop);
    return CLI_EXIT_FAILURE;
  }
  if(fm.health)
    metrics_http_set_health(fm.http, fm.health, fm.health_ud);
  rc = uv_async_init(&fm.loop, &fm.stop, on_metrics_stop);
  if(!rc) {
    rc = uv_thread_create(&fm.thread, metrics_thread, NULL);
    if(rc)
      uv_close((uv_handle_t *)&fm.stop, NULL);
  }
  if(rc) {
    fprintf(stderr, "beacon forward: metrics thread: %s\n", uv_strerror(rc));
    metrics_http_stop(fm.http);
    fm.http = NULL;
    uv_run(&fm.loop, UV_RUN_DEFAULT);
    uv_loop_close(&fm.loop);
    return CLI_EXIT_FAILURE;
  }
  return 0;
}

/* Wakes the loop thread, which closes everything so uv_run returns. */
void forward_metrics_stop(void)
{
  uv_async_send(&fm.stop);
  uv_thread_join(&fm.thread);
  uv_loop_close(&fm.loop);
}
