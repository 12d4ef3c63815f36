/* test_metrics.c - the metric registry and its exposition text, lock-free
 * updates from threads, the HTTP request parser on split and bad input,
 * listen-address parsing, and the endpoint itself on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "metrics/http.h"
#include "metrics/http_request.h"
#include "metrics/metrics.h"
#include "metrics/process.h"

static const char *const dirs[] = {"up", "down"};
static const char *const odd[] = {"a\"b\\c\nd"};

static void test_render_exact(void **state)
{
  metrics_registry_t reg;
  metric_t tun, bytes, open_, odd_m;
  char buf[1024];

  metrics_registry_init(&reg);
  assert_int_equal(metric_init(&tun, METRIC_COUNTER, "beacon_tunnels_total",
                               "Tunnels accepted.", NULL, NULL, 0),
                   0);
  assert_int_equal(metric_init(&bytes, METRIC_COUNTER, "beacon_bytes_total",
                               "Payload bytes relayed.", "direction", dirs, 2),
                   0);
  assert_int_equal(metric_init(&open_, METRIC_GAUGE, "beacon_streams_open",
                               "Open streams.\nNow.", NULL, NULL, 0),
                   0);
  assert_int_equal(
      metric_init(&odd_m, METRIC_GAUGE, "x:y", "h\\", "l", odd, 1), 0);
  assert_int_equal(metrics_register(&reg, &tun), 0);
  assert_int_equal(metrics_register(&reg, &bytes), 0);
  assert_int_equal(metrics_register(&reg, &open_), 0);
  assert_int_equal(metrics_register(&reg, &odd_m), 0);
  assert_int_equal(metrics_register(&reg, &tun), BEACON_EINVAL);

  metric_inc(&tun, 0);
  metric_inc(&tun, 0);
  metric_add(&bytes, 1, 12345678901ull);
  metric_add(&bytes, 2, 7); /* out of range: ignored */
  metric_dec(&open_, 0);
  metric_dec(&open_, 0);
  metric_inc(&open_, 0);
  metric_set(&odd_m, 0, 1767225600);

  const char *want = "# HELP beacon_tunnels_total Tunnels accepted.\n"
                     "# TYPE beacon_tunnels_total counter\n"
                     "beacon_tunnels_total 2\n"
                     "# HELP beacon_bytes_total Payload bytes relayed.\n"
                     "# TYPE beacon_bytes_total counter\n"
                     "beacon_bytes_total{direction=\"up\"} 0\n"
                     "beacon_bytes_total{direction=\"down\"} 12345678901\n"
                     "# HELP beacon_streams_open Open streams.\\nNow.\n"
                     "# TYPE beacon_streams_open gauge\n"
                     "beacon_streams_open -1\n"
                     "# HELP x:y h\\\\\n"
                     "# TYPE x:y gauge\n"
                     "x:y{l=\"a\\\"b\\\\c\\nd\"} 1767225600\n";
  size_t n = metrics_render(&reg, buf, sizeof(buf));
  assert_int_equal(n, strlen(want));
  assert_string_equal(buf, want);
  assert_int_equal(metric_get(&bytes, 1), 12345678901ull);

  /* snprintf semantics: truncated, terminated, full length returned. */
  char small[20];
  memset(small, 'Z', sizeof(small));
  assert_int_equal(metrics_render(&reg, small, sizeof(small)), n);
  assert_int_equal(strlen(small), sizeof(small) - 1);
  assert_memory_equal(small, want, sizeof(small) - 1);
  assert_int_equal(metrics_render(&reg, NULL, 0), n);
}

/* Buckets are cumulative with a +Inf one, _count is their total, and
 * the fixed-point bounds and sum render as short decimals. */
static void test_histogram(void **state)
{
  static const uint64_t bounds[] = {1000, 2500, 1000000}; /* microseconds */
  static const char *const outcomes[] = {"ok", "refused"};
  metrics_registry_t reg;
  metric_histogram_t h, plain;
  char buf[2048];

  metrics_registry_init(&reg);
  assert_int_equal(metric_histogram_init(&h, "t_seconds", "Latency.",
                                         "outcome", outcomes, 2, bounds, 3, 6),
                   0);
  assert_int_equal(
      metric_histogram_init(&plain, "u", "", NULL, NULL, 0, bounds, 1, 0), 0);
  assert_int_equal(metrics_register(&reg, &h.base), 0);
  assert_int_equal(metrics_register(&reg, &plain.base), 0);
  metric_observe(&h, 0, 1000);    /* on a bound: that bucket */
  metric_observe(&h, 0, 1001);    /* the next */
  metric_observe(&h, 0, 2000000); /* past every bound */
  metric_observe(&h, 1, 5);
  metric_observe(&h, 2, 5);        /* out of range: ignored */
  metric_observe(&plain, 0, 1000); /* decimals 0: le="1000" */
  assert_int_equal(metric_histogram_count(&h, 0), 3);

  const char *want = "# HELP t_seconds Latency.\n"
                     "# TYPE t_seconds histogram\n"
                     "t_seconds_bucket{outcome=\"ok\",le=\"0.001\"} 1\n"
                     "t_seconds_bucket{outcome=\"ok\",le=\"0.0025\"} 2\n"
                     "t_seconds_bucket{outcome=\"ok\",le=\"1\"} 2\n"
                     "t_seconds_bucket{outcome=\"ok\",le=\"+Inf\"} 3\n"
                     "t_seconds_sum{outcome=\"ok\"} 2.002001\n"
                     "t_seconds_count{outcome=\"ok\"} 3\n"
                     "t_seconds_bucket{outcome=\"refused\",le=\"0.001\"} 1\n"
                     "t_seconds_bucket{outcome=\"refused\",le=\"0.0025\"} 1\n"
                     "t_seconds_bucket{outcome=\"refused\",le=\"1\"} 1\n"
                     "t_seconds_bucket{outcome=\"refused\",le=\"+Inf\"} 1\n"
                     "t_seconds_sum{outcome=\"refused\"} 0.000005\n"
                     "t_seconds_count{outcome=\"refused\"} 1\n"
                     "# HELP u \n"
                     "# TYPE u histogram\n"
                     "u_bucket{le=\"1000\"} 1\n"
                     "u_bucket{le=\"+Inf\"} 1\n"
                     "u_sum 1000\n"
                     "u_count 1\n";
  size_t n = metrics_render(&reg, buf, sizeof(buf));
  assert_string_equal(buf, want);
  assert_int_equal(n, strlen(want));

  static const uint64_t down[] = {2, 1};
  assert_int_equal(
      metric_histogram_init(&h, "t", "", NULL, NULL, 0, down, 2, 0),
      BEACON_EINVAL);
  assert_int_equal(metric_histogram_init(&h, "t", "", NULL, NULL, 0, bounds,
                                         METRICS_MAX_BUCKETS + 1, 0),
                   BEACON_ELIMIT);
}

/* The value of the unlabelled sample name in rendered text. */
static double sample(const char *text, const char *name)
{
  char key[128];
  snprintf(key, sizeof(key), "\n%s ", name);
  const char *l = strstr(text, key);
  if(!l)
    fail_msg("no %s", name);
  return strtod(l + strlen(key), NULL);
}

static void set_to_42(metric_t *m)
{
  metric_set(m, 0, 42123456);
}

/* Decimal cells, a collect hook run at each render, and the process
 * families with values that make sense for this very process. */
static void test_decimals_collect_process(void **state)
{
  (void)state;
  metrics_registry_t reg;
  metric_t cpu, gauge;
  char buf[4096];
  metrics_registry_init(&reg);
  assert_int_equal(
      metric_init(&cpu, METRIC_COUNTER, "t_seconds_total", "h", NULL, NULL, 0),
      0);
  cpu.decimals = 6;
  cpu.collect = set_to_42;
  assert_int_equal(
      metric_init(&gauge, METRIC_GAUGE, "t_delta", "h", NULL, NULL, 0), 0);
  gauge.decimals = 3;
  metric_set(&gauge, 0, -1500);
  metrics_register(&reg, &cpu);
  metrics_register(&reg, &gauge);
  metrics_render(&reg, buf, sizeof(buf));
  assert_non_null(strstr(buf, "\nt_seconds_total 42.123456\n"));
  assert_non_null(strstr(buf, "\nt_delta -1.500\n"));

  metrics_registry_init(&reg);
  assert_int_equal(metrics_process_register(&reg), 0);
  /* shared families: a second registry gets the same ones */
  metrics_registry_t reg2;
  metrics_registry_init(&reg2);
  assert_int_equal(metrics_process_register(&reg2), 0);
  for(volatile int i = 0; i < 20000000; i++) /* some CPU time to show */
    ;
  metrics_render(&reg, buf, sizeof(buf));
  print_message("%s", buf);
  double cpu_s = sample(buf, "process_cpu_seconds_total");
  double rss = sample(buf, "process_resident_memory_bytes");
  double fds = sample(buf, "process_open_fds");
  double start = sample(buf, "process_start_time_seconds");
  assert_non_null(strstr(buf, "\nprocess_max_fds "));
  assert_non_null(
      strstr(buf, "\nbeacon_build_info{version=\"" BEACON_VERSION "\"} 1\n"));
  assert_true(cpu_s > 0 && cpu_s < 3600);
  assert_true(rss > 100000 && rss < 1e10);
  assert_true(fds >= 3 && fds < 10000);
  double now = (double)metrics_now_unix();
  assert_true(start <= now + 1 && start > now - 3600);
}

static void test_init_rejects(void **state)
{
  metric_t m;
  const char *const many[METRICS_MAX_VALUES + 1] = {
      "a", "b", "c", "d", "e", "f", "g", "h", "i",
      "j", "k", "l", "m", "n", "o", "p", "q"};
  const char *const withnull[] = {"a", NULL};

  assert_int_equal(metric_init(&m, METRIC_COUNTER, "", "", NULL, NULL, 0),
                   BEACON_EINVAL);
  assert_int_equal(metric_init(&m, METRIC_COUNTER, "1x", "", NULL, NULL, 0),
                   BEACON_EINVAL);
  assert_int_equal(metric_init(&m, METRIC_COUNTER, "a-b", "", NULL, NULL, 0),
                   BEACON_EINVAL);
  assert_int_equal(metric_init(&m, (metric_type_t)7, "a", "", NULL, NULL, 0),
                   BEACON_EINVAL);
  assert_int_equal(metric_init(&m, METRIC_COUNTER, "a", "", "l:x", dirs, 2),
                   BEACON_EINVAL);
  assert_int_equal(metric_init(&m, METRIC_COUNTER, "a", "", "__l", dirs, 2),
                   BEACON_EINVAL);
  assert_int_equal(metric_init(&m, METRIC_COUNTER, "a", "", "l", dirs, 0),
                   BEACON_EINVAL);
  assert_int_equal(metric_init(&m, METRIC_COUNTER, "a", "", "l", withnull, 2),
                   BEACON_EINVAL);
  assert_int_equal(metric_init(&m, METRIC_COUNTER, "a", "", "l", many,
                               METRICS_MAX_VALUES + 1),
                   BEACON_ELIMIT);
  assert_int_equal(
      metric_init(&m, METRIC_COUNTER, "a", "", "l", many, METRICS_MAX_VALUES),
      0);
}

static void test_bind(void **state)
{
  atomic_uint_fast64_t ext[2];
  metrics_registry_t reg;
  metric_t m;
  char buf[256];

  atomic_init(&ext[0], 5);
  atomic_init(&ext[1], 0);
  metrics_registry_init(&reg);
  assert_int_equal(
      metric_init(&m, METRIC_GAUGE, "open", "Open.", "dir", dirs, 2), 0);
  assert_int_equal(metric_bind(&m, 2, &ext[0]), BEACON_EINVAL);
  assert_int_equal(metric_bind(&m, 0, NULL), BEACON_EINVAL);
  assert_int_equal(metric_bind(&m, 0, &ext[0]), 0);
  assert_int_equal(metric_bind(&m, 1, &ext[1]), 0);
  metrics_register(&reg, &m);
  metric_add(&m, 0, 100);       /* the bound source wins */
  atomic_fetch_sub(&ext[1], 2); /* a gauge kept as unsigned goes -2 */
  metrics_render(&reg, buf, sizeof(buf));
  assert_string_equal(buf, "# HELP open Open.\n# TYPE open gauge\n"
                           "open{dir=\"up\"} 5\nopen{dir=\"down\"} -2\n");
  atomic_fetch_add(&ext[0], 1);
  assert_int_equal(metric_get(&m, 0), 6);
}

#define THREADS 4
#define ROUNDS 200000

static metric_t conc_counter, conc_gauge;

static void *hammer(void *arg)
{
  size_t idx = (size_t)(uintptr_t)arg % 2;
  for(int i = 0; i < ROUNDS; i++) {
    metric_inc(&conc_counter, idx);
    metric_add(&conc_counter, 1 - idx, 3);
    metric_inc(&conc_gauge, 0);
    metric_dec(&conc_gauge, 0);
    metric_inc(&conc_gauge, 0);
  }
  return NULL;
}

static void test_concurrent(void **state)
{
  pthread_t t[THREADS];
  metrics_registry_t reg;
  char buf[512];
  char want[512];

  assert_int_equal(metric_init(&conc_counter, METRIC_COUNTER, "c", "",
                               "direction", dirs, 2),
                   0);
  assert_int_equal(
      metric_init(&conc_gauge, METRIC_GAUGE, "g", "", NULL, NULL, 0), 0);
  metrics_registry_init(&reg);
  metrics_register(&reg, &conc_counter);
  metrics_register(&reg, &conc_gauge);
  for(uintptr_t i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
  /* Rendering while others update must be safe (TSan checks this). */
  for(int i = 0; i < 100; i++)
    metrics_render(&reg, buf, sizeof(buf));
  for(int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);

  /* Each index gets ROUNDS*1 from half the threads, ROUNDS*3 from the
   * other half. */
  uint64_t per = (uint64_t)ROUNDS * (THREADS / 2) * 4;
  assert_int_equal(metric_get(&conc_counter, 0), per);
  assert_int_equal(metric_get(&conc_counter, 1), per);
  assert_int_equal(metric_get(&conc_gauge, 0), (uint64_t)ROUNDS * THREADS);
  snprintf(want, sizeof(want),
           "# HELP c \n# TYPE c counter\nc{direction=\"up\"} %llu\n"
           "c{direction=\"down\"} %llu\n# HELP g \n# TYPE g gauge\n"
           "g %llu\n",
           (unsigned long long)per, (unsigned long long)per,
           (unsigned long long)ROUNDS * THREADS);
  metrics_render(&reg, buf, sizeof(buf));
  assert_string_equal(buf, want);
}

/* Parses in chunks of `step` bytes (0: all at once). */
static int parse_in_steps(http_req_t *r, const char *s, size_t step,
                          size_t *consumed)
{
  size_t len = strlen(s), off = 0;
  int rc = BEACON_EAGAIN;

  http_req_init(r);
  while(off < len) {
    size_t n = step && step < len - off ? step : len - off;
    size_t used = n;
    rc = http_req_parse(r, (const uint8_t *)s + off, &used);
    assert_true(used <= n);
    off += used;
    if(rc != BEACON_EAGAIN)
      break;
    assert_int_equal(used, n);
  }
  *consumed = off;
  return rc;
}

static void test_http_parse_split(void **state)
{
  const char *req = "\r\nGET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "User-Agent: Prometheus/2.45\r\nAccept: */*\r\n\r\n"
                    "trailing body bytes";
  size_t head = strlen(req) - strlen("trailing body bytes");
  http_req_t r;

  for(size_t step = 0; step <= head + 1; step++) {
    size_t used;
    assert_int_equal(parse_in_steps(&r, req, step, &used), 0);
    assert_int_equal(used, head);
    assert_int_equal(r.method, HTTP_GET);
    assert_int_equal(r.minor, 1);
    assert_string_equal(r.path, "/metrics");
  }
  /* A finished parser takes nothing more. */
  size_t one = 1;
  assert_int_equal(http_req_parse(&r, (const uint8_t *)"x", &one),
                   BEACON_EINVAL);
  assert_int_equal(one, 0);

  size_t used;
  assert_int_equal(parse_in_steps(&r, "HEAD /healthz HTTP/1.0\n\n", 1, &used),
                   0);
  assert_int_equal(r.method, HTTP_HEAD);
  assert_int_equal(r.minor, 0);
  assert_string_equal(r.path, "/healthz");
  assert_int_equal(parse_in_steps(&r,
                                  "POST /metrics HTTP/1.1\r\n"
                                  "Content-Length: 3\r\n\r\nabc",
                                  5, &used),
                   0);
  assert_int_equal(r.method, HTTP_OTHER);
  /* Incomplete: everything consumed, more wanted. */
  assert_int_equal(
      parse_in_steps(&r, "GET / HTTP/1.1\r\nHost: x\r\n", 3, &used),
      BEACON_EAGAIN);
  assert_int_equal(used, strlen("GET / HTTP/1.1\r\nHost: x\r\n"));
}

static void test_http_parse_bad(void **state)
{
  static const char *const bad[] = {
      "GET\r\n\r\n",
      "GET  /metrics HTTP/1.1\r\n\r\n",
      "GET /metrics  HTTP/1.1\r\n\r\n",
      "GET metrics HTTP/1.1\r\n\r\n",
      "GET * HTTP/1.1\r\n\r\n",
      "GET http://h/metrics HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/2.0\r\n\r\n",
      "GET /metrics HTTP/1.1 \r\n\r\n",
      "GET /metrics HTTP/1.10\r\n\r\n",
      "G(T /metrics HTTP/1.1\r\n\r\n",
      "GET /met\x01rics HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n",
      "GET /metrics HTTP/1.1\r\n: x\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nA: b\x7f\r\n\r\n",
  };
  http_req_t r;

  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t used;
    int rc = parse_in_steps(&r, bad[i], 0, &used);
    if(rc != BEACON_EINVAL)
      fail_msg("case %zu (%s): rc %d", i, bad[i], rc);
  }

  /* A NUL inside a header value. */
  static const char nul[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
  size_t len = sizeof(nul) - 1;
  http_req_init(&r);
  assert_int_equal(http_req_parse(&r, (const uint8_t *)nul, &len),
                   BEACON_EINVAL);

  /* Over the head limit, with and without line breaks. */
  char *big = malloc(HTTP_REQ_MAX + 64);
  assert_non_null(big);
  memset(big, 'a', HTTP_REQ_MAX + 63);
  big[HTTP_REQ_MAX + 63] = '\0';
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  size_t used;
  assert_int_equal(parse_in_steps(&r, big, 1000, &used), BEACON_ETOOLONG);
  assert_int_equal(used, HTTP_REQ_MAX);
  /* Exactly at the limit is fine. */
  memcpy(big + HTTP_REQ_MAX - 4, "\r\n\r\n", 5);
  assert_int_equal(parse_in_steps(&r, big, 0, &used), 0);
  assert_int_equal(used, HTTP_REQ_MAX);
  free(big);

  /* A path over HTTP_REQ_MAX_PATH. */
  char line[HTTP_REQ_MAX_PATH + 64];
  memset(line, 'p', sizeof(line));
  memcpy(line, "GET /", 5);
  strcpy(line + 5 + HTTP_REQ_MAX_PATH, " HTTP/1.1\r\n\r\n");
  assert_int_equal(parse_in_steps(&r, line, 0, &used), BEACON_ETOOLONG);
  line[4 + HTTP_REQ_MAX_PATH] = ' ';
  strcpy(line + 5 + HTTP_REQ_MAX_PATH, "HTTP/1.1\r\n\r\n");
  assert_int_equal(parse_in_steps(&r, line, 0, &used), 0);
  assert_int_equal(strlen(r.path), HTTP_REQ_MAX_PATH);
}

static void test_parse_addr(void **state)
{
  struct sockaddr_storage ss;
  char err[200];
  char ip[64];

  assert_int_equal(metrics_parse_addr(":9100", &ss, err, sizeof(err)), 0);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(ntohs(a4->sin_port), 9100);
  inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
  assert_string_equal(ip, "127.0.0.1");

  assert_int_equal(metrics_parse_addr("9101", &ss, err, sizeof(err)), 0);
  inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
  assert_string_equal(ip, "127.0.0.1");
  assert_int_equal(ntohs(a4->sin_port), 9101);

  assert_int_equal(metrics_parse_addr("0.0.0.0:0", &ss, err, sizeof(err)), 0);
  inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
  assert_string_equal(ip, "0.0.0.0");

  assert_int_equal(metrics_parse_addr("[::1]:9102", &ss, err, sizeof(err)), 0);
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(ntohs(a6->sin6_port), 9102);
  inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
  assert_string_equal(ip, "::1");

  static const char *const bad[] = {"",
                                    ":",
                                    "::1:9100",
                                    "localhost:9100",
                                    ":65536",
                                    ":-1",
                                    ":+5",
                                    ":9a",
                                    "[::1]",
                                    "[::1]9100",
                                    "[::1:9100",
                                    "1.2.3.4:",
                                    "1.2.3:80",
                                    "[fe80::1%eth0]:80",
                                    "[1.2.3.4]:80"};
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    if(metrics_parse_addr(bad[i], &ss, err, sizeof(err)) != BEACON_EINVAL)
      fail_msg("'%s' accepted", bad[i]);
    assert_true(strlen(err) > 0);
  }
}

/* ---- the endpoint on a real loopback socket --------------------------- */

typedef struct server_ctx {
  uv_loop_t loop;
  uv_async_t stop;
  metrics_http_t *srv;
  metrics_registry_t reg;
  metric_t hits;
} server_ctx_t;

static void on_stop(uv_async_t *a)
{
  server_ctx_t *s = a->data;
  metrics_http_stop(s->srv);
  uv_close((uv_handle_t *)a, NULL);
}

static void *loop_thread(void *arg)
{
  server_ctx_t *s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* Sends req on a fresh connection and reads the reply until EOF. */
static size_t exchange(int port, const char *req, size_t reqlen, char *out,
                       size_t cap)
{
  struct sockaddr_in sa;
  struct timeval tv = {10, 0};
  size_t len = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  /* Byte by byte: the server must cope with any split. */
  for(size_t i = 0; i < reqlen; i++)
    if(send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
      break;
  for(;;) {
    ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
    if(n <= 0)
      break;
    len += (size_t)n;
    if(len == cap - 1)
      break;
  }
  out[len] = '\0';
  close(fd);
  return len;
}

/* A connected socket to port that sends nothing. */
static int idle_socket(int port)
{
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

/* Twice the connection cap in idle sockets: each new one evicts the
 * oldest without a request, so a scrape still answers at once and the
 * oldest idle ones see EOF well before the header deadline; the newest
 * idle ones are closed by the header deadline. */
static void test_http_idle_sockets_evicted(void **state)
{
  server_ctx_t s;
  pthread_t th;
  char err[200], buf[4096];
  enum { N = 2 * METRICS_HTTP_MAX_CONNS };
  int fds[N];

  assert_int_equal(uv_loop_init(&s.loop), 0);
  metrics_registry_init(&s.reg);
  s.srv = metrics_http_start(&s.loop, "127.0.0.1:0", metrics_registry_render,
                             &s.reg, err, sizeof(err));
  assert_non_null(s.srv);
  int port = metrics_http_port(s.srv);
  uv_async_init(&s.loop, &s.stop, on_stop);
  s.stop.data = &s;
  assert_int_equal(pthread_create(&th, NULL, loop_thread, &s), 0);
  for(int i = 0; i < N; i++)
    fds[i] = idle_socket(port);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  static const char hz[] = "GET /healthz HTTP/1.1\r\n\r\n";
  exchange(port, hz, sizeof(hz) - 1, buf, sizeof(buf));
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double took = (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(took < 1.0);
  /* The first idle socket was evicted: EOF without waiting for the
   * header deadline. */
  struct timeval tv = {1, 0};
  setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  assert_int_equal(recv(fds[0], buf, sizeof(buf), 0), 0);
  /* The last one is closed by the header deadline. */
  tv.tv_sec = METRICS_HTTP_HEADER_TIMEOUT_MS / 1000 + 3;
  setsockopt(fds[N - 1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  assert_int_equal(recv(fds[N - 1], buf, sizeof(buf), 0), 0);
  for(int i = 0; i < N; i++)
    close(fds[i]);
  uv_async_send(&s.stop);
  pthread_join(th, NULL);
  assert_int_equal(uv_loop_close(&s.loop), 0);
}

static void test_http_server(void **state)
{
  server_ctx_t s;
  pthread_t th;
  char err[200];
  char buf[4096];

  assert_int_equal(uv_loop_init(&s.loop), 0);
  metrics_registry_init(&s.reg);
  metric_init(&s.hits, METRIC_COUNTER, "test_hits_total", "Hits.", NULL, NULL,
              0);
  metrics_register(&s.reg, &s.hits);
  metric_add(&s.hits, 0, 41);
  s.srv = metrics_http_start(&s.loop, "127.0.0.1:0", metrics_registry_render,
                             &s.reg, err, sizeof(err));
  assert_non_null(s.srv);
  int port = metrics_http_port(s.srv);
  assert_true(port > 0);
  /* The same port again is refused with a message naming it. */
  char again[32];
  snprintf(again, sizeof(again), ":%d", port);
  assert_null(metrics_http_start(&s.loop, again, metrics_registry_render,
                                 &s.reg, err, sizeof(err)));
  assert_non_null(strstr(err, again));
  uv_async_init(&s.loop, &s.stop, on_stop);
  s.stop.data = &s;
  assert_int_equal(pthread_create(&th, NULL, loop_thread, &s), 0);

  static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  metric_inc(&s.hits, 0);
  exchange(port, get, sizeof(get) - 1, buf, sizeof(buf));
  const char *body = "# HELP test_hits_total Hits.\n"
                     "# TYPE test_hits_total counter\n"
                     "test_hits_total 42\n";
  char want[512];
  snprintf(want, sizeof(want),
           "HTTP/1.1 200 OK\r\n"
           "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
           strlen(body), body);
  assert_string_equal(buf, want);

  static const char head[] = "HEAD /metrics HTTP/1.0\r\n\r\n";
  exchange(port, head, sizeof(head) - 1, buf, sizeof(buf));
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(buf, "\r\n\r\n"));
  assert_string_equal(strstr(buf, "\r\n\r\n"), "\r\n\r\n");

  static const char hz[] = "GET /healthz HTTP/1.1\r\n\r\n";
  exchange(port, hz, sizeof(hz) - 1, buf, sizeof(buf));
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  assert_string_equal(strstr(buf, "\r\n\r\n"), "\r\n\r\nok\n");

  static const char nf[] = "GET /nope HTTP/1.1\r\n\r\n";
  exchange(port, nf, sizeof(nf) - 1, buf, sizeof(buf));
  assert_non_null(strstr(buf, "HTTP/1.1 404 Not Found\r\n"));

  static const char post[] = "POST /metrics HTTP/1.1\r\n\r\n";
  exchange(port, post, sizeof(post) - 1, buf, sizeof(buf));
  assert_non_null(strstr(buf, "HTTP/1.1 405 Method Not Allowed\r\n"));
  assert_non_null(strstr(buf, "Allow: GET, HEAD\r\n"));

  static const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\n\n";
  exchange(port, junk, sizeof(junk) - 1, buf, sizeof(buf));
  assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request\r\n"));

  char *big = malloc(HTTP_REQ_MAX + 100);
  assert_non_null(big);
  memset(big, 'a', HTTP_REQ_MAX + 100);
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  exchange(port, big, HTTP_REQ_MAX + 100, buf, sizeof(buf));
  assert_non_null(strstr(buf, "HTTP/1.1 431 "));
  free(big);

  uv_async_send(&s.stop);
  pthread_join(th, NULL);
  /* Every handle is gone: the loop closes cleanly (no leak under ASan). */
  assert_int_equal(uv_loop_close(&s.loop), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_exact),
      cmocka_unit_test(test_histogram),
      cmocka_unit_test(test_init_rejects),
      cmocka_unit_test(test_decimals_collect_process),
      cmocka_unit_test(test_bind),
      cmocka_unit_test(test_concurrent),
      cmocka_unit_test(test_http_parse_split),
      cmocka_unit_test(test_http_parse_bad),
      cmocka_unit_test(test_parse_addr),
      cmocka_unit_test(test_http_server),
      cmocka_unit_test(test_http_idle_sockets_evicted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
