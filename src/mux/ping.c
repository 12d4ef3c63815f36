/*
 * ping.c - pings we send: keep-alive and the round-trip probes of
 * receive-window auto-tuning. The answers are read in session.c.
 */
#include "mux/ping.h"

#include "mux/outq.h"

static int ping_send(mux_t *m, uint64_t now, uint32_t *opaque,
                     uint64_t timeout_ms)
{
  uint32_t v;
  int rc;
  m->now = now;
  if(m->dead)
    return BEACON_ECLOSED;
  v = ++m->ping_seq;
  rc = mux_q_prio(m, MUX_TYPE_PING, MUX_FLAG_SYN, 0, v);
  if(rc)
    return rc;
  if(!m->ping_out) {
    m->ping_out = 1;
    m->ping_unread = 0;
    m->ping_deadline = timeout_ms ? now + timeout_ms : UINT64_MAX;
  }
  m->ping_opaque = v;
  m->ping_sent = now;
  if(opaque)
    *opaque = v;
  return 0;
}

int mux_ping(mux_t *m, uint64_t now, uint32_t *opaque)
{
  return ping_send(m, now, opaque, m->cfg.keepalive_timeout_ms);
}

void mux_probe_rtt(mux_t *m)
{
  /* Only keep-alive makes an unanswered ping fatal: a probe on a
   * session without it must not end the session. */
  if(!m->ping_out)
    (void)ping_send(m, m->now, NULL,
                    m->cfg.keepalive_ms ? m->cfg.keepalive_timeout_ms : 0);
}

void mux_measure_rtt(mux_t *m)
{
  if(!m->dead)
    mux_probe_rtt(m);
}
