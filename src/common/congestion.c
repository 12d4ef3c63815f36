/* congestion.c - TCP_CONGESTION of tunnel sockets (congestion.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "beacon/beacon.h"
#include "common/congestion.h"

static int well_formed(const char *name)
{
  size_t n = strlen(name);
  if(n == 0 || n > CONGESTION_NAME_MAX)
    return 0;
  for(size_t i = 0; i < n; i++) {
    char c = name[i];
    if(!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-'))
      return 0;
  }
  return 1;
}

/* The kernel's list, for the error message; "" when unreadable. */
static void available(char *out, size_t cap)
{
  out[0] = '\0';
  FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "re");
  if(!f)
    return;
  if(!fgets(out, (int)cap, f))
    out[0] = '\0';
  fclose(f);
  out[strcspn(out, "\n")] = '\0';
}

int congestion_check(const char *name, char *why, size_t cap)
{
  if(!name || !well_formed(name)) {
    snprintf(why, cap,
             "expected a congestion control name such as bbr "
             "or cubic, or \"system\"");
    return BEACON_EINVAL;
  }
  if(!strcmp(name, CONGESTION_SYSTEM))
    return 0;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if(fd < 0)
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if(fd < 0) {
    snprintf(why, cap, "cannot open a TCP socket to check \"%s\": %s", name,
             strerror(errno));
    return BEACON_ECONFIG;
  }
  int rc = congestion_apply(fd, name) ? errno : 0;
  close(fd);
  if(!rc)
    return 0;
  char list[256];
  available(list, sizeof(list));
  if(rc == EPERM)
    snprintf(why, cap,
             "congestion control \"%s\" is not allowed for this process: "
             "add it to net.ipv4.tcp_allowed_congestion_control (or run "
             "with CAP_NET_ADMIN)",
             name);
  else
    snprintf(why, cap,
             "the kernel has no congestion control \"%s\" (available: %s; "
             "modprobe tcp_%s may add it)",
             name, list[0] ? list : "unknown", name);
  return BEACON_ECONFIG;
}

int congestion_apply(int fd, const char *name)
{
#ifdef TCP_CONGESTION
  if(!name || !*name) {
    (void)setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, CONGESTION_DEFAULT,
                     sizeof(CONGESTION_DEFAULT) - 1);
    return 0;
  }
  if(!strcmp(name, CONGESTION_SYSTEM))
    return 0;
  if(setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name,
                (socklen_t)strlen(name)))
    return BEACON_EIO;
  return 0;
#else
  (void)fd;
  errno = ENOPROTOOPT;
  return name && *name && strcmp(name, CONGESTION_SYSTEM) ? BEACON_EIO : 0;
#endif
}
