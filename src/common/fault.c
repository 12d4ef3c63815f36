/* fault.c - allocation failure injection for tests (common/fault.h). */
#include "common/fault.h"

#include <stdlib.h>

#ifdef BEACON_FAULT_INJECTION
#include <stdatomic.h>
#include <string.h>

static atomic_long failed; /* injected failures so far */

static int should_fail(const char *site)
{
  const char *spec = getenv("BEACON_FAIL_ALLOC");
  size_t len = strlen(site);
  if(!spec || strncmp(spec, site, len) || spec[len] != ':')
    return 0;
  long want = strtol(spec + len + 1, NULL, 10);
  return atomic_fetch_add(&failed, 1) < want;
}
#endif

void *fault_calloc(const char *site, size_t n, size_t size)
{
#ifdef BEACON_FAULT_INJECTION
  if(should_fail(site))
    return NULL;
#else
  (void)site;
#endif
  return calloc(n, size);
}
