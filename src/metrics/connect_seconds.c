/* connect_seconds.c - the connect histograms' buckets (connect_seconds.h). */
#include "metrics/connect_seconds.h"

const uint64_t connect_seconds_bounds_us[] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
const size_t connect_seconds_nbounds =
    sizeof(connect_seconds_bounds_us) / sizeof(connect_seconds_bounds_us[0]);
