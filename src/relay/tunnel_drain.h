/*
 * tunnel_drain.h - a worker ends its tunnels when their certificates end
 * (tunnel_drain.c; the schedule is relay/cert_deadline.h): one timer per
 * worker, set to the next deadline of any of its tunnels.
 */
#ifndef BEACON_RELAY_TUNNEL_DRAIN_H
#define BEACON_RELAY_TUNNEL_DRAIN_H

#include "relay/relay_int.h"

/* The worker's certificate timer: set up with its loop, closed with its
 * other handles when it stops. */
void relay_cert_timer_init(relay_worker_t *w);
void relay_cert_timer_close(relay_worker_t *w, uv_close_cb cb);
/* t is up: its controller's notAfter joins the schedule (its worker's
 * timer is moved earlier when needed). */
void relay_tunnel_cert_up(relay_tunnel_t *t);
/* Looks at every tunnel of w now: Go Away or close those whose
 * certificate ended, refresh w->cert_min and set the timer again. Also
 * after a reload (a renewed relay certificate moves every deadline). */
void relay_cert_sweep(relay_worker_t *w);
/* Counts a tunnel ended for a certificate (metrics and nothing else). */
void relay_cert_end_count(relay_tunnel_t *t, int why);
/* The wall clock in ms since the epoch. */
int64_t relay_wall_ms(void);

#endif
