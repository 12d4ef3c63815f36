/*
 * resolve_hosts.h - a name in the hosts file alone, without a query: what
 * a caller whose lookup budget is spent may still reach (resolve.h).
 *
 * Contract:
 *   - One read of the hosts file per lookup, for both families: a c-ares
 *     channel whose only lookup is "f" answers inside ares_getaddrinfo()
 *     with every address the file has for the name, and never sends a
 *     query. (ares_gethostbyname_file() reads the file once per family
 *     and returns the first matching line only.)
 *   - The channel is made on the first lookup and kept until
 *     resolve_hosts_free(); one loop's thread uses it.
 */
#ifndef BEACON_RESOLVE_HOSTS_H
#define BEACON_RESOLVE_HOSTS_H

#include <stddef.h>

#include "dial/resolve_cache.h"

typedef struct resolve_hosts resolve_hosts_t;

/* The addresses of name in the hosts file (at most cap, in file order):
 * their number, 0 when the name is not there or the file unreadable.
 * *h is made on first use; it stays NULL when that fails (0 returned). */
size_t resolve_hosts_lookup(resolve_hosts_t **h, const char *name,
                            resolve_ip_t *ips, size_t cap);
void resolve_hosts_free(resolve_hosts_t *h);

#endif
