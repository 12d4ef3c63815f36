/*
 * client_stress.c - libbeacon driven by tests/integration/test_client.py.
 *
 *   client_stress MODE RELAYS CONFIG_DIR TARGET [N] [M]
 *
 * RELAYS is a comma-separated chain. Modes:
 *   echo N M   N threads dial M times each, send a payload, check the
 *              echo byte for byte; prints "ok DIALS" or the failure.
 *   loop N M   one dial + echo every M ms for N dials; prints one line
 *              per dial: "dial I ok|ERR MS" (relay restarts in between).
 *   reset      dial, read: expects ECONNRESET; prints "reset" or what
 *              happened instead.
 *   hold       dial, echo once, then read until the connection breaks;
 *              prints "broken ERRNO-NAME SECONDS".
 *   dialerr    dial must fail; prints "hop H code NAME: MESSAGE".
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <beacon/beacon.h>

static beacon_tunnel_t *tun;
static const char *target;
static int per_thread = 1;
static int failures;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int echo_once(int fd, size_t len, unsigned seed)
{
  uint8_t *out = malloc(len), *in = malloc(len);
  size_t got = 0, sent = 0;
  int rc = -1;
  if(!out || !in)
    goto out;
  for(size_t i = 0; i < len; i++)
    out[i] = (uint8_t)(rand_r(&seed) >> 3);
  while(got < len) {
    if(sent < len) {
      size_t chunk = len - sent < 16384 ? len - sent : 16384;
      ssize_t w = write(fd, out + sent, chunk);
      if(w <= 0)
        goto out;
      sent += (size_t)w;
    }
    ssize_t r = recv(fd, in + got, len - got, sent < len ? MSG_DONTWAIT : 0);
    if(r == 0)
      goto out;
    if(r < 0) {
      if(errno == EAGAIN)
        continue;
      goto out;
    }
    got += (size_t)r;
  }
  rc = memcmp(in, out, len) ? -2 : 0;
out:
  free(out);
  free(in);
  return rc;
}

static void *stress_thread(void *arg)
{
  unsigned seed = (unsigned)(uintptr_t)arg;
  for(int i = 0; i < per_thread; i++) {
    beacon_error_t err;
    int fd = beacon_dial(tun, target, 0, &err);
    int rc = fd < 0 ? fd
                    : echo_once(fd, 1000 + (seed * 7919u + i) % 70000,
                                seed + (unsigned)i);
    if(fd >= 0) {
      shutdown(fd, SHUT_WR);
      char c;
      if(read(fd, &c, 1) != 0)
        rc = rc ? rc : -3;
      close(fd);
    }
    if(rc) {
      pthread_mutex_lock(&mu);
      if(!failures++)
        fprintf(stdout, "fail rc=%d %s\n", rc,
                fd < 0 ? err.message : strerror(errno));
      pthread_mutex_unlock(&mu);
    }
  }
  return NULL;
}

int main(int argc, char **argv)
{
  if(argc < 5) {
    fprintf(stderr, "usage: %s MODE RELAYS CONFIG_DIR TARGET [N] [M]\n",
            argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  int n = argc > 5 ? atoi(argv[5]) : 1;
  int m = argc > 6 ? atoi(argv[6]) : 1;
  target = argv[4];
  beacon_config_t *cfg = beacon_config_new();
  char *relays = strdup(argv[2]);
  for(char *r = strtok(relays, ","); r; r = strtok(NULL, ","))
    if(beacon_config_add_relay(cfg, r)) {
      fprintf(stderr, "bad relay %s\n", r);
      return 2;
    }
  free(relays);
  beacon_config_set_dir(cfg, argv[3]);
  beacon_config_set_timeouts(cfg, 3000, 3000, 3000);
  beacon_error_t err;
  if(beacon_tunnel_new(&tun, cfg, &err)) {
    printf("tunnel %s\n", err.message);
    return 1;
  }
  beacon_config_free(cfg);
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = 0;
  if(!strcmp(mode, "echo")) {
    pthread_t th[256];
    per_thread = m;
    if(n > 256)
      n = 256;
    for(int i = 0; i < n; i++)
      pthread_create(&th[i], NULL, stress_thread, (void *)(uintptr_t)(i + 1));
    for(int i = 0; i < n; i++)
      pthread_join(th[i], NULL);
    if(failures)
      printf("failures %d of %d\n", failures, n * m);
    else
      printf("ok %d\n", n * m);
    rc = failures != 0;
  } else if(!strcmp(mode, "loop")) {
    for(int i = 0; i < n; i++) {
      double t0 = now_s();
      int fd = beacon_dial(tun, target, 0, &err);
      int e = fd < 0 ? fd : echo_once(fd, 100, (unsigned)i);
      if(fd >= 0)
        close(fd);
      printf("dial %d %s %d\n", i,
             e == 0   ? "ok"
             : fd < 0 ? beacon_err_name(fd)
                      : "echo_failed",
             (int)((now_s() - t0) * 1000));
      usleep((useconds_t)m * 1000);
    }
  } else if(!strcmp(mode, "reset")) {
    int fd = beacon_dial(tun, target, 0, &err);
    if(fd < 0) {
      printf("dial failed %s: %s\n", beacon_err_name(fd), err.message);
      rc = 1;
    } else {
      char buf[16];
      ssize_t r = read(fd, buf, sizeof(buf));
      if(r < 0 && errno == ECONNRESET)
        printf("reset\n");
      else {
        printf("read %zd %s\n", r, r < 0 ? strerror(errno) : "");
        rc = 1;
      }
      close(fd);
    }
  } else if(!strcmp(mode, "hold")) {
    int fd = beacon_dial(tun, target, 0, &err);
    if(fd < 0 || echo_once(fd, 100, 1)) {
      printf("dial failed %s\n", fd < 0 ? err.message : "echo");
      rc = 1;
    } else {
      printf("held\n");
      double t0 = now_s();
      char buf[16];
      ssize_t r = read(fd, buf, sizeof(buf));
      printf("broken %s %.1f\n",
             r == 0                ? "EOF"
             : errno == ECONNRESET ? "ECONNRESET"
                                   : strerror(errno),
             now_s() - t0);
      close(fd);
    }
  } else if(!strcmp(mode, "dialerr")) {
    int fd = beacon_dial(tun, target, 0, &err);
    if(fd >= 0) {
      printf("dial succeeded\n");
      rc = 1;
      close(fd);
    } else {
      printf("hop %d code %s: %s\n", err.hop, beacon_err_name(err.code),
             err.message);
    }
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    rc = 2;
  }
  beacon_tunnel_free(tun);
  return rc;
}
