/*
 * fuzz_check.h - what every fuzz target asserts with: CHECK(x) aborts,
 * so libFuzzer reports the input, whatever NDEBUG says.
 */
#ifndef BEACON_FUZZ_CHECK_H
#define BEACON_FUZZ_CHECK_H

#include <stdlib.h>

#define CHECK(x)                                                              \
  do {                                                                        \
    if(!(x))                                                                  \
      abort();                                                                \
  } while(0)

#endif
