/*
 * error.h - internal error helpers: the one mapping from operating-system
 * and libuv errors to the BEACON_E* codes of beacon.h, and a marker for
 * functions whose result must not be dropped.
 */
#ifndef BEACON_COMMON_ERROR_H
#define BEACON_COMMON_ERROR_H

#include "beacon/beacon.h"

/* A function returning a code the caller must look at: a dropped failure
 * (an unsent reply, a stream never opened) would go unnoticed. */
#if defined(__GNUC__) || defined(__clang__)
#define BEACON_MUST_USE __attribute__((warn_unused_result))
#else
#define BEACON_MUST_USE
#endif

/* The BEACON_E* code for a libuv status or a negative errno value
 * (libuv's codes are -errno on Unix, plus UV_EOF and UV_EAI_*): 0 stays
 * 0, a code already in the BEACON_E* range is returned as is, anything
 * without a closer match is BEACON_EIO. */
BEACON_MUST_USE int error_from_os(int err);

#endif
