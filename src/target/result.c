/* result.c - refusal codes of connect results (result.h). */
#include "target/result.h"

#include "beacon/beacon.h"

uint32_t target_result_from_error(int err)
{
  switch(err) {
  case BEACON_EREFUSED:
    return TARGET_RESULT_REFUSED;
  case BEACON_ENOTFOUND:
    return TARGET_RESULT_NOT_FOUND;
  case BEACON_ETIMEDOUT:
    return TARGET_RESULT_TIMED_OUT;
  case BEACON_EPOLICY:
    return TARGET_RESULT_POLICY;
  case BEACON_EINVAL:
  case BEACON_ETOOLONG:
    return TARGET_RESULT_BAD_TARGET;
  case BEACON_ENOMEM:
  case BEACON_ELIMIT:
    return TARGET_RESULT_RELAY_LIMIT;
  default:
    return TARGET_RESULT_UNREACHABLE;
  }
}

int target_result_to_error(uint32_t code)
{
  switch(code) {
  case TARGET_RESULT_REFUSED:
    return BEACON_EREFUSED;
  case TARGET_RESULT_NOT_FOUND:
    return BEACON_ENOTFOUND;
  case TARGET_RESULT_UNREACHABLE:
    return BEACON_EUNREACH;
  case TARGET_RESULT_TIMED_OUT:
    return BEACON_ETIMEDOUT;
  case TARGET_RESULT_POLICY:
    return BEACON_EPOLICY;
  case TARGET_RESULT_BAD_TARGET:
    return BEACON_EINVAL;
  case TARGET_RESULT_RELAY_LIMIT:
    return BEACON_ELIMIT;
  default:
    return BEACON_ERESET;
  }
}

const char *target_result_name(uint32_t code)
{
  static const char *const names[] = {
      "unspecified", "refused",    "not_found",   "unreachable", "timed_out",
      "policy",      "bad_target", "relay_limit", "revoked"};
  return code < sizeof(names) / sizeof(names[0]) ? names[code] : "unspecified";
}
