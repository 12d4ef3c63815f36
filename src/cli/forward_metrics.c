/* forward_metrics.c - `beacon forward`'s counters and their endpoint
 * (cli/forward_metrics.h). */
#include "cli/forward_metrics.h"

#include <stdio.h>
#include <uv.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "metrics/http.h"
#include "metrics/process.h"

forward_metrics_t forward_metrics;

static const char *const directions[] = {"up", "down"};
static const char *const dial_reasons[] = {"refused", "timeout", "tls",
                                           "other"};

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
  family(&forward_metrics.dial_failures, METRIC_COUNTER,
         "beacon_dial_failures_total",
         "Streams that could not be opened through the relay.", "reason",
         dial_reasons, 4);
  metrics_process_register(&fm.reg); /* process_*, beacon_build_info */
}

size_t forward_dial_reason(int err)
{
  switch(err) {
  case BEACON_EREFUSED:
  case BEACON_ERESET:
  case BEACON_EPOLICY:
    return DIAL_REFUSED;
  case BEACON_ETIMEDOUT:
    return DIAL_TIMEOUT;
  case BEACON_ETLS:
  case BEACON_EVERIFY:
    return DIAL_TLS;
  default:
    return DIAL_OTHER;
  }
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
