/* forward_listen.c - `beacon forward`'s listening sockets: -L specs,
 * --socks and --http-connect addresses (cli/forward_listen.h). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/hostport.h"
#include "cli/forward_listen.h"
#include "cli/values.h"
#include "log/log.h"

/* "PORT", "HOST:PORT" or "[V6]:PORT" -> its address (free with
 * freeaddrinfo), or NULL when it is not such a spec or not a local
 * address. host and port are what was resolved. */
static struct addrinfo *resolve(const char *spec, char *host, size_t hcap,
                                char port[8])
{
  uint16_t pn;
  if(hostport_split(spec, HOSTPORT_BARE_PORT, host, hcap, &pn))
    return NULL;
  if(!host[0]) {
    if(strchr(spec, ':'))
      return NULL; /* ":PORT": say which address */
    snprintf(host, hcap, "127.0.0.1");
  }
  snprintf(port, 8, "%u", pn);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai;
  if(getaddrinfo(host, port, &hints, &ai))
    return NULL;
  return ai;
}

/* "PORT", "HOST:PORT" or "[V6]:PORT" -> bound, listening socket, or
 * BEACON_EINVAL (not such a spec, or not a local address) or BEACON_EIO
 * (socket, bind or listen failed; errno says why). */
static int listen_on(const char *spec, char *shown, size_t cap)
{
  char host[256], port[8];
  struct addrinfo *ai = resolve(spec, host, sizeof(host), port);
  if(!ai)
    return BEACON_EINVAL;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if(fd >= 0)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if(fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
    int e = errno;
    if(fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    errno = e;
    return BEACON_EIO;
  }
  freeaddrinfo(ai);
  /* The address actually bound, so that port 0 shows the port picked. */
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char h[INET6_ADDRSTRLEN], s[8];
  if(!getsockname(fd, (struct sockaddr *)&ss, &sl) &&
     !getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), s, sizeof(s),
                  NI_NUMERICHOST | NI_NUMERICSERV)) {
    int v6 = ss.ss_family == AF_INET6;
    snprintf(shown, cap, "%s%s%s:%s", v6 ? "[" : "", h, v6 ? "]" : "", s);
  } else {
    snprintf(shown, cap, "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
  }
  return fd;
}

/* Splits an -L spec into the address to bind (bind_spec) and the target
 * (l->target); 0, or an exit code after one line on stderr. */
static int local_spec(const char *spec, listener_t *l, char *bind_spec,
                      size_t cap)
{
  if(cli_split_forward(spec, bind_spec, cap, l->target, sizeof(l->target))) {
    fprintf(stderr,
            "beacon forward: -L '%s': expected "
            "[BIND:]PORT:HOST:PORT\n",
            spec);
    return CLI_EXIT_USAGE;
  }
  return 0;
}

static int bad_address(const char *flag, const char *spec)
{
  fprintf(stderr,
          "beacon forward: %s '%s': expected PORT, HOST:PORT "
          "or [IPV6]:PORT\n",
          flag, spec);
  return CLI_EXIT_USAGE;
}

int forward_listen_check(const char *spec, enum front kind, const char *flag)
{
  listener_t l;
  char bind_spec[300], host[256], port[8];
  const char *where = spec;
  if(kind == FRONT_LOCAL) {
    if(local_spec(spec, &l, bind_spec, sizeof(bind_spec)))
      return CLI_EXIT_USAGE;
    where = bind_spec;
  }
  struct addrinfo *ai = resolve(where, host, sizeof(host), port);
  if(!ai)
    return bad_address(flag, spec);
  freeaddrinfo(ai);
  return 0;
}

int forward_listen(listener_t *ls, int *n, const char *spec, enum front kind,
                   const char *flag)
{
  listener_t *l = &ls[*n];
  memset(l, 0, sizeof(*l));
  l->kind = kind;
  char bind_spec[300];
  const char *where = spec;
  if(kind == FRONT_LOCAL) {
    if(local_spec(spec, l, bind_spec, sizeof(bind_spec)))
      return CLI_EXIT_USAGE;
    where = bind_spec;
  }
  l->fd = listen_on(where, l->addr, sizeof(l->addr));
  if(l->fd == BEACON_EINVAL)
    return bad_address(flag, spec);
  if(l->fd < 0) {
    fprintf(stderr, "beacon forward: %s '%s': cannot listen: %s\n", flag, spec,
            strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  log_line_t ll;
  if(log_begin(&ll, LOG_INFO, "listening")) {
    log_str(&ll, "front", forward_front_name(kind));
    log_str(&ll, "address", l->addr);
    if(kind == FRONT_LOCAL)
      log_str(&ll, "target", l->target);
    log_end(&ll);
  }
  (*n)++;
  return 0;
}
