/*
 * cert_deadline.c - when a tunnel must end because a certificate does
 * (cert_deadline.h).
 */
#include "relay/cert_deadline.h"

const char *relay_cert_end_name(enum relay_cert_end why)
{
  static const char *const names[] = {"revoked", "untrusted", "not_allowed",
                                      "cert_expired", "relay_cert_expiring"};
  return (unsigned)why < RELAY_CERT_END_COUNT ? names[why] : "?";
}

cert_deadline_t cert_deadline_of(int64_t peer_not_after, int64_t own_not_after,
                                 uint64_t grace_ms)
{
  cert_deadline_t d = {INT64_MAX, INT64_MAX, RELAY_CERT_END_EXPIRED};
  int64_t grace = grace_ms > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)grace_ms;
  if(peer_not_after > 0) {
    d.go_away_at = peer_not_after;
    d.close_at = peer_not_after + grace;
  }
  /* The relay's own: the whole drain happens before it expires. */
  if(own_not_after > 0 && own_not_after < d.close_at) {
    d.close_at = own_not_after;
    d.go_away_at = own_not_after - grace;
    d.why = RELAY_CERT_END_OWN_EXPIRING;
  }
  return d;
}

enum cert_deadline_step cert_deadline_step(const cert_deadline_t *d,
                                           int64_t now, int going_away)
{
  if(now >= d->close_at)
    return CERT_DEADLINE_CLOSE;
  if(!going_away && now >= d->go_away_at)
    return CERT_DEADLINE_GO_AWAY;
  return CERT_DEADLINE_WAIT;
}

int64_t cert_deadline_next(const cert_deadline_t *d, int going_away)
{
  return going_away ? d->close_at : d->go_away_at;
}

uint64_t cert_deadline_delay_ms(int64_t next, int64_t now)
{
  if(next <= now)
    return 0;
  uint64_t left = (uint64_t)next - (uint64_t)now;
  return left < CERT_DEADLINE_LOOK_MS ? left : CERT_DEADLINE_LOOK_MS;
}
