/*
 * expiry_window.c - the warning window before a certificate's end
 * (expiry_window.h).
 */
#include "common/expiry_window.h"

int64_t expiry_window(int64_t not_before, int64_t not_after, int64_t fixed)
{
  if(not_before <= 0 || not_after <= not_before)
    return fixed;
  int64_t third = (not_after - not_before) / 3;
  return third < fixed ? third : fixed;
}

int expiry_window_due(int64_t not_before, int64_t not_after, int64_t fixed,
                      int64_t now)
{
  if(!not_after)
    return 0;
  return not_after - now < expiry_window(not_before, not_after, fixed);
}

int64_t expiry_window_opens_in(int64_t not_before, int64_t not_after,
                               int64_t fixed, int64_t now)
{
  if(!not_after)
    return -1;
  /* due once now passes this second (expiry_window_due) */
  int64_t last_quiet = not_after - expiry_window(not_before, not_after, fixed);
  return now <= last_quiet ? last_quiet - now + 1 : 0;
}
