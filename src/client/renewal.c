/* renewal.c - when a tunnel moves to a renewed certificate (renewal.h). */
#include "client/renewal.h"

int64_t renewal_rotate_at(int64_t not_before, int64_t not_after)
{
  if(not_after <= 0)
    return 0;
  if(not_before <= 0 || not_before > not_after)
    not_before = not_after; /* unknown start: only the lead counts */
  int64_t two_thirds = not_before + (not_after - not_before) / 3 * 2 +
                       (not_after - not_before) % 3 * 2 / 3;
  int64_t lead = not_after - RENEWAL_LEAD_SECONDS;
  int64_t at = two_thirds < lead ? two_thirds : lead;
  return at < not_before ? not_before : at;
}

enum renewal_action renewal_decide(int64_t tunnel_nb, int64_t tunnel_na,
                                   int64_t loaded_na, int64_t now)
{
  int64_t at = renewal_rotate_at(tunnel_nb, tunnel_na);
  if(!at || now < at)
    return RENEWAL_WAIT;
  return loaded_na > tunnel_na ? RENEWAL_ROTATE : RENEWAL_NO_NEWER;
}
