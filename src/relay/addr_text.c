/*
 * addr_text.c - socket addresses as text for the logs (addr_text.h).
 */
#include "relay/addr_text.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

void relay_addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
  char ip[INET6_ADDRSTRLEN] = "?";
  if(sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
    snprintf(buf, cap, "%s:%u", ip, ntohs(in->sin_port));
  } else if(sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    snprintf(buf, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
  } else {
    snprintf(buf, cap, "?");
  }
}
