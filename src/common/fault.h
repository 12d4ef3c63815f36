/*
 * fault.h - allocation failure injection, for tests of the paths that run
 * when memory runs out.
 *
 * In builds with the test suite (BEACON_TESTS, which compiles the layers
 * with BEACON_FAULT_INJECTION), BEACON_FAIL_ALLOC=SITE:N in the
 * environment makes the first N allocations at SITE fail. Other builds,
 * and libbeacon always, compile fault_calloc() to plain calloc() and never
 * read the environment. A named call site is used instead of interposing
 * malloc (LD_PRELOAD): only the allocation under test fails, not the TLS
 * library's or libc's own, so the test sees one failure, not a cascade.
 */
#ifndef BEACON_COMMON_FAULT_H
#define BEACON_COMMON_FAULT_H

#include <stddef.h>

/* calloc(n, size), or NULL when a test asked SITE to fail. */
void *fault_calloc(const char *site, size_t n, size_t size);

#endif
