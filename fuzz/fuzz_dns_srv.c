/*
 * fuzz_dns_srv.c - the answer to an SRV query (src/dial/dns_srv.h)
 * from arbitrary bytes. Aborts when an invariant breaks: a result is 0
 * or one of the documented codes; on 0 the records are within the cap,
 * each with a non-empty target without its final dot and a port.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "beacon/beacon.h"
#include "dial/dns_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dns_srv_t out[DNS_SRV_MAX];
  size_t n = 99;
  uint32_t ttl = 7;
  int rc = dns_srv_parse(data, size, out, DNS_SRV_MAX, &n, &ttl);
  CHECK(rc == 0 || rc == BEACON_EINVAL || rc == BEACON_ENOTFOUND ||
        rc == BEACON_ENOMEM);
  if(rc) {
    CHECK(rc != 0 || n > 0);
    return 0;
  }
  CHECK(n >= 1 && n <= DNS_SRV_MAX);
  CHECK(ttl <= 0x7fffffffu);
  for(size_t i = 0; i < n; i++) {
    size_t len = strlen(out[i].host);
    CHECK(len > 0 && len <= RESOLVE_CACHE_MAX_NAME);
    CHECK(out[i].host[len - 1] != '.');
    CHECK(out[i].port != 0);
  }
  /* a short read of the same bytes never claims more */
  if(size > 0) {
    size_t m = 0;
    (void)dns_srv_parse(data, size - 1, out, DNS_SRV_MAX, &m, &ttl);
    CHECK(m <= DNS_SRV_MAX);
  }
  return 0;
}
