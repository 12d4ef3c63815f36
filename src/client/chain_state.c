/*
 * chain_state.c - a chain's state changes that every part of it reports
 * (chain_state.h): failing, coming up, taking requests.
 */
#include "client/chain_state.h"

#include <stdarg.h>
#include <stdio.h>

#include "client/req.h"
#include "client/dialled_stream.h"

const char *client_chain_hop_name(client_chain_t *s, int hop, char *buf,
                                  size_t cap)
{
  const target_t *r = s->relay[hop];
  int v6 = r->kind == TARGET_IPV6;
  if(hop == 0)
    snprintf(buf, cap, "relay %s (hop 1/%d)", s->t->members[s->member].name,
             s->nhops);
  else
    snprintf(buf, cap, "relay %s%s%s:%u (hop %d/%d)", v6 ? "[" : "", r->host,
             v6 ? "]" : "", r->port, hop + 1, s->nhops);
  return buf;
}

void client_chain_fail(client_chain_t *s, int hop, int code, const char *fmt,
                       ...)
{
  if(s->state == CHAIN_FAILED)
    return;
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  if(hop >= 0) {
    char name[300];
    client_error_set(&s->err, code, hop, "%s: %s",
                     client_chain_hop_name(s, hop, name, sizeof(name)), what);
  } else {
    client_error_set(&s->err, code, hop, "%s", what);
  }
  s->state = CHAIN_FAILED;
  /* No hop reads or sends any more; the streams end at teardown. */
  for(int i = 0; i < s->nhops; i++)
    if(s->hops[i].conn)
      conn_close(s->hops[i].conn, CONN_CLOSE_ABORT, client_chain_now(s));
  client_chain_changed(s);
  client_dirty(s->t);
}

void client_chain_ready(client_chain_t *s)
{
  s->state = CHAIN_UP;
  client_chain_changed(s);
  while(!list_empty(&s->waiting)) {
    list_link_t *n = s->waiting.next;
    list_del(n);
    client_req_t *req = LIST_CONTAINER(n, client_req_t, link);
    client_chain_submit(s, req);
  }
}

void client_chain_submit(client_chain_t *s, client_req_t *req)
{
  if(s->state != CHAIN_UP) {
    list_add(&s->waiting, &req->link);
    client_dirty(s->t);
    return;
  }
  client_stream_t *p = client_stream_open(s, req);
  if(!p) {
    /* mux_open refused (Go Away, stream cap): this chain takes no new
     * streams and ends after its last one; a fresh one may take it
     * (the pool decides). */
    beacon_error_t e;
    client_error_set(&e, BEACON_ELIMIT, s->nhops - 1,
                     "cannot open a stream on the tunnel");
    s->going_away = 1;
    s->t->host->failover(s->t, req, s, &e);
  }
  client_dirty(s->t);
}
