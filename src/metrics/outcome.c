/* outcome.c - the shared connect outcome names (outcome.h). */
#include "metrics/outcome.h"

#include "beacon/beacon.h"

const char *const connect_outcome_names[OUTCOME_COUNT] = {
    "ok",      "refused", "not_found", "unreachable",
    "timeout", "policy",  "other",     "tunnel"};

const uint64_t connect_seconds_bounds_us[] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
const size_t connect_seconds_nbounds =
    sizeof(connect_seconds_bounds_us) / sizeof(connect_seconds_bounds_us[0]);

size_t connect_outcome_of(int err)
{
  switch(err) {
  case 0:
    return OUTCOME_OK;
  case BEACON_EREFUSED:
  case BEACON_ERESET:
    return OUTCOME_REFUSED;
  case BEACON_ENOTFOUND:
    return OUTCOME_NOT_FOUND;
  case BEACON_EUNREACH:
    return OUTCOME_UNREACHABLE;
  case BEACON_ETIMEDOUT:
    return OUTCOME_TIMEOUT;
  case BEACON_EPOLICY:
    return OUTCOME_POLICY;
  case BEACON_ETLS:
  case BEACON_EVERIFY:
  case BEACON_EPROTO:
  case BEACON_ECLOSED:
  case BEACON_EGOAWAY:
  case BEACON_ECONFIG:
  case BEACON_EIO:
    return OUTCOME_TUNNEL;
  default:
    return OUTCOME_OTHER;
  }
}
