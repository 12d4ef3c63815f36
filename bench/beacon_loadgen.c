/*
 * beacon_loadgen.c - the load generator of `make bench` built on libbeacon
 * (the controller library, docs/ARCHITECTURE.md "libbeacon"): same workloads
 * and backend protocol as bench/go/loadgen (bench-go), so the two controllers
 * can be compared against either relay.
 *
 *   beacon_loadgen MODE --relay HOST:PORT --config-dir DIR --target T [..]
 *     upload   --bytes N --streams S   "<N>\n" then N zero bytes per
 *                                      stream; the sink answers "<N>\n"
 *     download --bytes N --streams S   "<N>\n", then read N bytes to EOF
 *     rr       --count K --size B      B-byte ping-pong on one stream
 *     connect  --count K --par P       dial + first byte of the hello
 *                                      backend, P callers at once
 *
 * Prints one JSON line on stdout; errors go to stderr, exit status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "beacon/beacon.h"

#define CHUNK (64 * 1024)

typedef struct opts {
  const char *mode;
  const char *relay;
  const char *dir;
  const char *target;
  int64_t bytes;
  int streams;
  int count;
  int par;
  int size;
} opts_t;

static opts_t o = {NULL, NULL, NULL, NULL, (int64_t)1 << 30, 1, 2000, 1, 64};
static beacon_tunnel_t *tun;

static void die(const char *fmt, const char *a, const char *b)
{
  fprintf(stderr, "beacon_loadgen %s: ", o.mode ? o.mode : "");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  exit(1);
}

static double now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int open_stream(char *why, size_t whylen)
{
  beacon_error_t err;
  int fd = beacon_dial(tun, o.target, 10000, &err);
  if(fd < 0)
    snprintf(why, whylen, "dial %s: %s", o.target, err.message);
  return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while(len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if(n < 0 && errno == EINTR)
      continue;
    if(n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads exactly len bytes; -1 on error or early EOF. */
static int read_full(int fd, void *buf, size_t len)
{
  char *p = buf;
  while(len) {
    ssize_t n = read(fd, p, len);
    if(n < 0 && errno == EINTR)
      continue;
    if(n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* ---- bulk ------------------------------------------------------------ */

typedef struct job {
  pthread_t th;
  int up;
  char err[300];
  /* connect mode */
  double *lat;
  int nlat;
} job_t;

static int bulk_one(job_t *j)
{
  static char zero[CHUNK];
  char line[32];
  int fd = open_stream(j->err, sizeof(j->err));
  int r = -1;
  if(fd < 0)
    return -1;
  snprintf(line, sizeof(line), "%" PRId64 "\n", o.bytes);
  if(write_all(fd, line, strlen(line))) {
    snprintf(j->err, sizeof(j->err), "write count: %s", strerror(errno));
    goto out;
  }
  if(j->up) {
    int64_t off = 0;
    size_t k = 0;
    while(off < o.bytes) {
      size_t n = CHUNK;
      if(o.bytes - off < (int64_t)n)
        n = (size_t)(o.bytes - off);
      if(write_all(fd, zero, n)) {
        snprintf(j->err, sizeof(j->err), "write at %" PRId64 ": %s", off,
                 strerror(errno));
        goto out;
      }
      off += (int64_t)n;
    }
    /* The answer is "<count>\n", short: read until the newline. */
    while(k < sizeof(line) - 1) {
      ssize_t n = read(fd, line + k, sizeof(line) - 1 - k);
      if(n <= 0)
        break;
      k += (size_t)n;
      if(memchr(line, '\n', k))
        break;
    }
    line[k] = '\0';
    if(strtoll(line, NULL, 10) != o.bytes) {
      snprintf(j->err, sizeof(j->err), "sink answered '%s'", line);
      goto out;
    }
  } else {
    static __thread char buf[256 * 1024];
    int64_t got = 0;
    for(;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if(n < 0 && errno == EINTR)
        continue;
      if(n < 0) {
        snprintf(j->err, sizeof(j->err), "read after %" PRId64 ": %s", got,
                 strerror(errno));
        goto out;
      }
      if(n == 0)
        break;
      got += n;
    }
    if(got != o.bytes) {
      snprintf(j->err, sizeof(j->err), "got %" PRId64 " bytes", got);
      goto out;
    }
  }
  r = 0;
out:
  close(fd);
  return r;
}

static void *bulk_thread(void *arg)
{
  job_t *j = arg;
  if(!bulk_one(j))
    j->err[0] = '\0';
  return NULL;
}

static void mode_bulk(int up)
{
  job_t *jobs = calloc((size_t)o.streams, sizeof(*jobs));
  double t0, el;
  int i;
  if(!jobs)
    die("%s%s", "out of memory", "");
  t0 = now_us();
  for(i = 0; i < o.streams; i++) {
    jobs[i].up = up;
    strcpy(jobs[i].err, "thread did not run");
    if(pthread_create(&jobs[i].th, NULL, bulk_thread, &jobs[i]))
      die("%s%s", "pthread_create failed", "");
  }
  for(i = 0; i < o.streams; i++)
    pthread_join(jobs[i].th, NULL);
  el = (now_us() - t0) / 1e6;
  for(i = 0; i < o.streams; i++)
    if(jobs[i].err[0])
      die("stream: %s%s", jobs[i].err, "");
  printf("{\"mode\":\"%s\",\"via\":\"libbeacon\",\"bytes\":%" PRId64
         ",\"seconds\":%.6f,\"mbps\":%.3f,\"streams\":%d}\n",
         o.mode, o.bytes * o.streams, el,
         (double)o.bytes * o.streams / el / 1e6, o.streams);
  free(jobs);
}

/* ---- latency ------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
  int i = (int)(p / 100 * n);
  if(n == 0)
    return 0;
  return v[i >= n ? n - 1 : i];
}

static void mode_rr(void)
{
  char why[300];
  char *msg = calloc(1, (size_t)o.size), *back = malloc((size_t)o.size);
  double *lat = malloc(sizeof(double) * (size_t)o.count);
  int warm = 200, i, fd;
  if(!msg || !back || !lat)
    die("%s%s", "out of memory", "");
  fd = open_stream(why, sizeof(why));
  if(fd < 0)
    die("%s%s", why, "");
  for(i = 0; i < warm + o.count; i++) {
    double t0 = now_us();
    if(write_all(fd, msg, (size_t)o.size) ||
       read_full(fd, back, (size_t)o.size))
      die("round trip: %s%s", strerror(errno), "");
    if(i >= warm)
      lat[i - warm] = now_us() - t0;
  }
  close(fd);
  qsort(lat, (size_t)o.count, sizeof(double), cmp_double);
  printf("{\"mode\":\"rr\",\"via\":\"libbeacon\",\"count\":%d,\"size\":%d,"
         "\"p50_us\":%.3f,\"p99_us\":%.3f}\n",
         o.count, o.size, pct(lat, o.count, 50), pct(lat, o.count, 99));
  free(msg);
  free(back);
  free(lat);
}

static int connect_once(double *us, char *why, size_t whylen)
{
  double t0 = now_us();
  char b;
  int fd = open_stream(why, whylen);
  if(fd < 0)
    return -1;
  if(read_full(fd, &b, 1)) {
    snprintf(why, whylen, "first byte: %s", errno ? strerror(errno) : "EOF");
    close(fd);
    return -1;
  }
  *us = now_us() - t0;
  close(fd);
  return 0;
}

static int next_connect;
static pthread_mutex_t next_mu = PTHREAD_MUTEX_INITIALIZER;

static void *connect_thread(void *arg)
{
  job_t *j = arg;
  for(;;) {
    double us;
    int i;
    pthread_mutex_lock(&next_mu);
    i = next_connect++;
    pthread_mutex_unlock(&next_mu);
    if(i >= o.count)
      break;
    if(connect_once(&us, j->err, sizeof(j->err)))
      return NULL;
    j->lat[j->nlat++] = us;
  }
  j->err[0] = '\0';
  return NULL;
}

static void mode_connect(void)
{
  job_t *jobs = calloc((size_t)o.par, sizeof(*jobs));
  double *all = malloc(sizeof(double) * (size_t)o.count);
  double t0, el, us;
  char why[300];
  int i, n = 0;
  if(!jobs || !all)
    die("%s%s", "out of memory", "");
  for(i = 0; i < 20; i++)
    if(connect_once(&us, why, sizeof(why)))
      die("warm-up connect: %s%s", why, "");
  t0 = now_us();
  for(i = 0; i < o.par; i++) {
    jobs[i].lat = malloc(sizeof(double) * (size_t)o.count);
    strcpy(jobs[i].err, "thread did not run");
    if(!jobs[i].lat ||
       pthread_create(&jobs[i].th, NULL, connect_thread, &jobs[i]))
      die("%s%s", "cannot start a caller thread", "");
  }
  for(i = 0; i < o.par; i++)
    pthread_join(jobs[i].th, NULL);
  el = (now_us() - t0) / 1e6;
  for(i = 0; i < o.par; i++) {
    if(jobs[i].err[0])
      die("connect: %s%s", jobs[i].err, "");
    memcpy(all + n, jobs[i].lat, sizeof(double) * (size_t)jobs[i].nlat);
    n += jobs[i].nlat;
    free(jobs[i].lat);
  }
  qsort(all, (size_t)n, sizeof(double), cmp_double);
  printf("{\"mode\":\"connect\",\"via\":\"libbeacon\",\"count\":%d,"
         "\"par\":%d,\"per_s\":%.1f,\"p50_us\":%.3f,\"p99_us\":%.3f}\n",
         n, o.par, n / el, pct(all, n, 50), pct(all, n, 99));
  free(all);
  free(jobs);
}

/* ---- main -------------------------------------------------------------- */

static int num(const char *flag, const char *v, int64_t max, int64_t *out)
{
  char *end;
  long long x;
  errno = 0;
  x = strtoll(v, &end, 10);
  if(errno || *end || x < 1 || x > max)
    die("--%s '%s': expected a positive number", flag, v);
  *out = x;
  return 0;
}

int main(int argc, char **argv)
{
  static const struct option lo[] = {
      {"relay", required_argument, NULL, 'r'},
      {"config-dir", required_argument, NULL, 'd'},
      {"target", required_argument, NULL, 't'},
      {"bytes", required_argument, NULL, 'b'},
      {"streams", required_argument, NULL, 's'},
      {"count", required_argument, NULL, 'c'},
      {"par", required_argument, NULL, 'p'},
      {"size", required_argument, NULL, 'z'},
      {NULL, 0, NULL, 0}};
  beacon_config_t *cfg;
  beacon_error_t err;
  int64_t v;
  int c;
  if(argc < 2) {
    fprintf(stderr, "usage: beacon_loadgen upload|download|rr|connect "
                    "--relay HOST:PORT --config-dir DIR --target T\n");
    return 2;
  }
  o.mode = argv[1];
  optind = 2;
  while((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch(c) {
    case 'r':
      o.relay = optarg;
      break;
    case 'd':
      o.dir = optarg;
      break;
    case 't':
      o.target = optarg;
      break;
    case 'b':
      num("bytes", optarg, INT64_MAX / 1024, &o.bytes);
      break;
    case 's':
      num("streams", optarg, 4096, &v);
      o.streams = (int)v;
      break;
    case 'c':
      num("count", optarg, 100000000, &v);
      o.count = (int)v;
      break;
    case 'p':
      num("par", optarg, 4096, &v);
      o.par = (int)v;
      break;
    case 'z':
      num("size", optarg, 1 << 24, &v);
      o.size = (int)v;
      break;
    default:
      return 2;
    }
  }
  if(!o.relay || !o.dir || !o.target)
    die("%s%s", "--relay, --config-dir and --target are required", "");
  signal(SIGPIPE, SIG_IGN);
  cfg = beacon_config_new();
  if(!cfg || beacon_config_add_relay(cfg, o.relay) ||
     beacon_config_set_dir(cfg, o.dir))
    die("bad relay '%s' or config dir '%s'", o.relay, o.dir);
  if(beacon_tunnel_new(&tun, cfg, &err))
    die("tunnel: %s%s", err.message, "");
  beacon_config_free(cfg);
  if(!strcmp(o.mode, "upload"))
    mode_bulk(1);
  else if(!strcmp(o.mode, "download"))
    mode_bulk(0);
  else if(!strcmp(o.mode, "rr"))
    mode_rr();
  else if(!strcmp(o.mode, "connect"))
    mode_connect();
  else
    die("unknown mode '%s'%s", o.mode, "");
  fflush(stdout);
  beacon_tunnel_free(tun);
  return 0;
}
