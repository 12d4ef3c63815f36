/*
 * addr_text.h - socket addresses as the relay's logs write them.
 */
#ifndef BEACON_RELAY_ADDR_TEXT_H
#define BEACON_RELAY_ADDR_TEXT_H

#include <stddef.h>
#include <sys/socket.h>

/* Formats a socket address as "1.2.3.4:5" or "[::1]:5". */
void relay_addr_format(const struct sockaddr *sa, char *buf, size_t cap);

#endif
