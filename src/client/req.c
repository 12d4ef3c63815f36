/*
 * req.c - a beacon_dial() in flight: the hand-off of its result to the
 * waiting caller, under the tunnel's lock, and its references (req.h).
 */
#include "client/req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void client_error_set(beacon_error_t *e, int code, int hop, const char *fmt,
                      ...)
{
  va_list ap;
  e->code = code;
  e->hop = hop;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof(e->message), fmt, ap);
  va_end(ap);
}

void client_req_ref(beacon_tunnel_t *t, client_req_t *req)
{
  pthread_mutex_lock(&t->lock);
  req->refs++;
  pthread_mutex_unlock(&t->lock);
}

void client_req_unref(beacon_tunnel_t *t, client_req_t *req)
{
  pthread_mutex_lock(&t->lock);
  int last = --req->refs == 0;
  pthread_mutex_unlock(&t->lock);
  if(!last)
    return;
  if(req->lfd >= 0)
    close(req->lfd);
  if(req->in_fd >= 0)
    close(req->in_fd);
  if(req->out_fd >= 0 && req->out_fd != req->in_fd)
    close(req->out_fd);
  pthread_cond_destroy(&req->cond);
  free(req);
}

void client_req_end(beacon_tunnel_t *t, client_req_t *req, int code,
                    outcome_t outcome, uint64_t up, uint64_t down)
{
  pthread_mutex_lock(&t->lock);
  req->ended = 1;
  req->end_code = code;
  req->end_outcome = outcome;
  req->bytes_up = up;
  req->bytes_down = down;
  pthread_cond_broadcast(&req->cond);
  pthread_mutex_unlock(&t->lock);
  client_req_unref(t, req);
}

int client_req_finish(beacon_tunnel_t *t, client_req_t *req, int code,
                      const beacon_error_t *err)
{
  pthread_mutex_lock(&t->lock);
  int waiting = !req->abandoned;
  req->done = 1;
  req->result = code;
  if(err)
    req->err = *err;
  else
    client_error_set(&req->err, code, -1, "%s", beacon_strerror(code));
  pthread_cond_signal(&req->cond);
  pthread_mutex_unlock(&t->lock);
  client_req_unref(t, req);
  return waiting;
}

void client_req_fail(beacon_tunnel_t *t, client_req_t *req, int code,
                     const beacon_error_t *err)
{
  int waiting = client_req_finish(t, req, code, err);
  (void)waiting; /* a failure hands nothing over: nothing to undo */
}

/* What the CLI learns besides the code: a finished request's (req may
 * be NULL when the dial failed before it reached the loop). */
void client_req_dial_info(beacon_tunnel_t *t, client_req_t *req, int rc,
                          client_dial_info_t *info)
{
  if(!info)
    return;
  outcome_t verdict = OUTCOME_OK;
  info->confirmed = 0;
  info->relay = NULL;
  if(req) {
    /* The loop wrote these before it finished the request; one the
     * caller gave up on may still be running. */
    pthread_mutex_lock(&t->lock);
    if(req->done) {
      info->confirmed = rc == 0 && req->confirmed;
      info->relay = req->relay;
      verdict = req->verdict;
    }
    pthread_mutex_unlock(&t->lock);
  }
  info->outcome = rc < 0 && verdict ? verdict
                                    : outcome_classify(rc < 0 ? rc : 0, 0,
                                                       OUTCOME_AT_TUNNEL);
}
