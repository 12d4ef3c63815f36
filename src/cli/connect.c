/*
 * connect.c - `beacon connect`: stdin/stdout to TARGET through the relay
 * (chain), half-close aware, usable as an OpenSSH ProxyCommand
 * (docs/OPERATIONS.md "The controller side"). One clear line on stderr when it
 * fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "cli/cli.h"
#include "cli/client_opts.h"
#include "cli/options.h"
#include "client/client_stream.h"
#include "target/target.h"

#define BUF_SIZE (64 * 1024)

static const cli_client_help_t connect_help = {
    .usage =
        "Usage: beacon connect --relay HOST:PORT[,HOST:PORT...] [--relay "
        "...]\n"
        "                      [--config-dir DIR] [--cert F --key F --ca F]\n"
        "                      [--timeout SECONDS] [--window-budget SIZE]\n"
        "                      TARGET | HOST PORT\n"
        "       beacon connect --relay ... [--config FILE] --check-config\n"
        "                      [TARGET | HOST PORT]\n"
        "\n"
        "Pipes stdin/stdout to TARGET (host:port, [ipv6]:port) or to HOST\n"
        "PORT through the relay; several --relay flags form a chain, first\n"
        "hop first; a comma list is a pool, tried in random order, the next\n"
        "one 250 ms after the last if it has not answered yet. As an\n"
        "OpenSSH ProxyCommand, for names and IPv6 literals\n"
        "alike: ssh -o ProxyCommand='beacon connect --relay R %h %p'\n"
        "SIGHUP, SIGTERM and SIGINT end the stream cleanly (exit 0).\n"
        "--check-config checks the relays, the identity files and the\n"
        "TARGET if given, dials nothing and exits (0 when OK, 3 for a\n"
        "bad file).\n"
        "\n"};

typedef struct dir_buf {
  uint8_t data[BUF_SIZE];
  size_t off, len;
  int eof;  /* the source ended */
  int done; /* the sink was shut */
} dir_buf_t;

/* Writes what is buffered; blocking fds just block (stdout). */
static int drain(int fd, dir_buf_t *b)
{
  while(b->len) {
    ssize_t n = write(fd, b->data + b->off, b->len);
    if(n < 0) {
      if(errno == EINTR)
        continue;
      if(errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return -errno;
    }
    b->off += (size_t)n;
    b->len -= (size_t)n;
  }
  b->off = 0;
  return 0;
}

static int fill(int fd, dir_buf_t *b)
{
  ssize_t n;
  do
    n = read(fd, b->data, sizeof(b->data));
  while(n < 0 && errno == EINTR);
  if(n < 0)
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  if(n == 0)
    b->eof = 1;
  b->off = 0;
  b->len = (size_t)n;
  return 0;
}

/* Which of stdin, stdout and the socket to poll (idx[i] = -1: not
 * polled); fills p and returns how many. */
static nfds_t poll_set(int sock, const dir_buf_t *up, const dir_buf_t *down,
                       struct pollfd p[3], int idx[3])
{
  nfds_t np = 0;
  short sev = 0;
  idx[0] = idx[1] = idx[2] = -1;
  if(!up->done && !up->eof && !up->len) {
    p[np] = (struct pollfd){.fd = 0, .events = POLLIN};
    idx[0] = (int)np++;
  }
  if(!down->done && down->len) {
    p[np] = (struct pollfd){.fd = 1, .events = POLLOUT};
    idx[1] = (int)np++;
  }
  if(!up->done && up->len)
    sev |= POLLOUT;
  if(!down->done && !down->eof && !down->len)
    sev |= POLLIN;
  if(sev) {
    p[np] = (struct pollfd){.fd = sock, .events = sev};
    idx[2] = (int)np++;
  }
  return np;
}

/* stdin and stdout: CLI_GO_ON, or the exit code when they failed. */
static int pump_local(const struct pollfd *p, const int idx[3], dir_buf_t *up,
                      dir_buf_t *down)
{
  int rc = 0;
  if(idx[0] >= 0 && p[idx[0]].revents)
    rc = fill(0, up);
  if(!rc && idx[1] >= 0 && p[idx[1]].revents)
    rc = drain(1, down);
  if(!rc)
    return CLI_GO_ON;
  /* stdin/stdout trouble: the local side went away */
  if(rc == -EPIPE)
    return CLI_EXIT_OK;
  fprintf(stderr, "beacon connect: stdin/stdout: %s\n", strerror(-rc));
  return CLI_EXIT_FAILURE;
}

/* The socket: CLI_GO_ON, or the exit code when it failed. */
static int pump_socket(int sock, short revents, dir_buf_t *up, dir_buf_t *down,
                       const char *target)
{
  int rc = 0;
  if(up->len)
    rc = drain(sock, up);
  if(!rc && !down->eof && !down->len &&
     (revents & (POLLIN | POLLERR | POLLHUP)))
    rc = fill(sock, down);
  if(!rc)
    return CLI_GO_ON;
  if(rc == -ECONNRESET)
    fprintf(stderr,
            "beacon connect: %s: connection reset (the relay could not "
            "reach the target, or the target reset it)\n",
            target);
  else
    fprintf(stderr, "beacon connect: %s: %s\n", target, strerror(-rc));
  return CLI_EXIT_FAILURE;
}

/* up: stdin -> sock, down: sock -> stdout. Returns an exit code. */
static int pump(int sock, const char *target)
{
  static dir_buf_t up, down;
  int fl = fcntl(sock, F_GETFL);
  fcntl(sock, F_SETFL, fl | O_NONBLOCK);
  while(!up.done || !down.done) {
    struct pollfd p[3];
    int idx[3];
    nfds_t np = poll_set(sock, &up, &down, p, idx);
    if(poll(p, np, -1) < 0) {
      if(errno == EINTR)
        continue;
      fprintf(stderr, "beacon connect: poll: %s\n", strerror(errno));
      return CLI_EXIT_FAILURE;
    }
    int rc = pump_local(p, idx, &up, &down);
    if(rc == CLI_GO_ON && idx[2] >= 0 && p[idx[2]].revents)
      rc = pump_socket(sock, p[idx[2]].revents, &up, &down, target);
    if(rc != CLI_GO_ON)
      return rc;
    if(up.eof && !up.len && !up.done) {
      shutdown(sock, SHUT_WR);
      up.done = 1;
    }
    if(down.eof && !down.len && !down.done) {
      close(1);
      down.done = 1;
    }
    /* The target finished and we cannot send anything more useful: a
     * target that closed both ways makes our writes fail, seen above. */
  }
  return CLI_EXIT_OK;
}

static int dial_failed(const char *target, int code, const beacon_error_t *err)
{
  fprintf(stderr, "beacon connect: %s: %s\n", target, err->message);
  return code == BEACON_EINVAL || code == BEACON_ETOOLONG ? CLI_EXIT_USAGE
                                                          : CLI_EXIT_FAILURE;
}

/* Waits for the stream to end. OpenSSH sends its ProxyCommand SIGHUP
 * when the session is over; that, SIGTERM and SIGINT end the stream
 * cleanly (FIN, what still comes is dropped) rather than killing the
 * tunnel under it, so the relay sees a normal end. Returns 1 after such
 * a signal (exit 0 however the stream then ended). */
static int wait_or_hang_up(beacon_tunnel_t *t, client_fd_stream_t *s,
                           client_stream_end_t *end)
{
  sigset_t set;
  const struct timespec now = {0, 0};
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  for(;;) {
    if(!client_stream_wait(t, s, 50, end))
      return 0;
    if(sigtimedwait(&set, NULL, &now) > 0)
      break;
  }
  client_stream_finish(t, s);
  /* The target usually closes at once; do not outwait a stuck one. */
  if(client_stream_wait(t, s, 2000, end))
    fprintf(stderr, "beacon connect: ended by signal before the target "
                    "closed\n");
  return 1;
}

/* stdin and stdout are sockets or pipes (an OpenSSH ProxyCommand, a
 * shell pipeline): the tunnel's loop pumps them itself, with no
 * loopback pair and no copy through this thread. */
static int pump_in_loop(beacon_tunnel_t *t, const char *target)
{
  beacon_error_t err;
  client_stream_end_t end;
  int code;
  client_fd_stream_t *s =
      client_dial_fds(t, target, 0, 1, 0, &code, NULL, &err);
  if(!s)
    return dial_failed(target, code, &err);
  /* The loop holds its own copies: closing ours lets its close of
   * stdout be the reader's EOF. */
  close(0);
  close(1);
  if(wait_or_hang_up(t, s, &end))
    return CLI_EXIT_OK;
  switch(end.code) {
  case 0:
    return CLI_EXIT_OK;
  case BEACON_ERESET:
    fprintf(stderr,
            "beacon connect: %s: connection reset (the relay could not "
            "reach the target, or the target reset it)\n",
            target);
    return CLI_EXIT_FAILURE;
  case BEACON_ECLOSED:
    fprintf(stderr, "beacon connect: %s: the tunnel to the relay was lost\n",
            target);
    return CLI_EXIT_FAILURE;
  default:
    /* stdin/stdout went away (the reader exited): as with EPIPE. */
    return CLI_EXIT_OK;
  }
}

/* --check-config: the TARGET when one is given, the relays and the
 * identity files; nothing dialled, as `beacon forward --check-config`. */
static int check(const cli_client_opts_t *o, const char *target)
{
  if(target && target_from_string(target, strlen(target), NULL))
    return cli_usage_error("connect", "'%s': expected host:port", target);
  int rc = cli_client_check(o, "connect");
  if(!rc)
    printf("beacon connect: configuration OK\n");
  return rc;
}

int cli_connect_main(int argc, char **argv)
{
  cli_client_opts_t o;
  int first;
  int rc = cli_client_opts_parse(&o, argc, argv, "connect", &connect_help, 0,
                                 &first);
  if(rc != CLI_GO_ON)
    return rc;
  if(o.check_config && first == argc)
    return check(&o, NULL);
  char joined[TARGET_MAX_LINE + 8];
  const char *target;
  if(first == argc - 1) {
    target = argv[first];
  } else if(first == argc - 2) {
    /* HOST PORT, as nc %h %p: brackets for an IPv6 literal */
    const char *h = argv[first];
    int v6 = strchr(h, ':') && h[0] != '[';
    if(snprintf(joined, sizeof(joined), "%s%s%s:%s", v6 ? "[" : "", h,
                v6 ? "]" : "", argv[first + 1]) >= (int)sizeof(joined))
      return cli_usage_error("connect", "HOST PORT is too long");
    target = joined;
  } else {
    return cli_usage_error("connect",
                           "expected TARGET (host:port) or HOST PORT");
  }
  if(o.check_config)
    return check(&o, target);
  signal(SIGPIPE, SIG_IGN);
  /* Taken by sigtimedwait() while the loop pumps (wait_or_hang_up);
   * the tunnel's thread inherits the mask and never sees them. */
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  sigaddset(&hup, SIGTERM);
  sigaddset(&hup, SIGINT);
  pthread_sigmask(SIG_BLOCK, &hup, NULL);
  beacon_tunnel_t *t;
  rc = cli_client_tunnel(&o, &t, "connect");
  if(rc)
    return rc;
  beacon_error_t err;
  if(client_stream_fd_ok(0) && client_stream_fd_ok(1)) {
    rc = pump_in_loop(t, target);
    beacon_tunnel_free(t);
    return rc;
  }
  /* stdin or stdout is a file or a terminal: this thread copies, and
   * the signals kill as usual. */
  pthread_sigmask(SIG_UNBLOCK, &hup, NULL);
  int fd = beacon_dial(t, target, 0, &err);
  if(fd < 0) {
    fprintf(stderr, "beacon connect: %s: %s\n", target, err.message);
    beacon_tunnel_free(t);
    return fd == BEACON_EINVAL || fd == BEACON_ETOOLONG ? CLI_EXIT_USAGE
                                                        : CLI_EXIT_FAILURE;
  }
  rc = pump(fd, target);
  close(fd);
  beacon_tunnel_free(t);
  return rc;
}
