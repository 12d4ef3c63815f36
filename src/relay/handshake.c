/*
 * handshake.c - a tunnel from accept to its tunnel slot (handshake.h).
 * The budget itself is the sans-I/O core relay/admission.c; this file
 * shares it between the workers under a lock, evicts a worker's oldest
 * handshake where the core says drop, turns verdicts into metrics and
 * log lines, paces handshake reads per loop turn, and checks the
 * controller once TLS is done.
 */
#include "relay/handshake.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>

#include "beacon/beacon.h"
#include "log/log.h"
#include "common/tunnel_socket.h"
#include "relay/addr_text.h"
#include "relay/settings.h"
#include "tls/identity.h"

int relay_handshakes_check(const relay_config_t *cfg, char *err, size_t errlen)
{
  if(!cfg->max_handshakes || !cfg->max_handshakes_per_source ||
     cfg->max_handshakes_start > cfg->max_handshakes ||
     cfg->max_handshakes_rate > 100) {
    snprintf(err, errlen,
             "--max-handshakes wants START:RATE:FULL with START <= FULL, "
             "FULL >= 1 and RATE 0-100, and --max-handshakes-per-source "
             ">= 1");
    return BEACON_EINVAL;
  }
  return 0;
}

/* xorshift64: the dice of the early drop need to be unpredictable to a
 * peer, not cryptographic; seeded from the kernel. Under admission_lock. */
static uint32_t next_random(void *ud)
{
  uint64_t *s = ud;
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (uint32_t)(*s >> 32);
}

int relay_handshakes_init(relay_t *r)
{
  const relay_config_t *c = &r->cfg;
  if(getrandom(&r->admission_rng, sizeof(r->admission_rng), 0) !=
     sizeof(r->admission_rng))
    r->admission_rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r;
  r->admission_rng |= 1; /* xorshift never leaves 0 */
  uint64_t floor = RELAY_HANDSHAKE_FLOOR_MS;
  if(floor > c->handshake_timeout_ms)
    floor = c->handshake_timeout_ms;
  admission_config_t ac = {.start = c->max_handshakes_start,
                           .rate = c->max_handshakes_rate,
                           .full = c->max_handshakes,
                           .per_source = c->max_handshakes_per_source,
                           .timeout_ms = c->handshake_timeout_ms,
                           .floor_ms = floor};
  r->admission = admission_new(&ac, next_random, &r->admission_rng);
  if(!r->admission)
    return BEACON_ENOMEM;
  uv_mutex_init(&r->admission_lock);
  return 0;
}

void relay_handshakes_free(relay_t *r)
{
  if(!r->admission)
    return;
  admission_free(r->admission);
  r->admission = NULL;
  uv_mutex_destroy(&r->admission_lock);
}

static void log_refusal(relay_tunnel_t *t, enum admission_verdict v,
                        uint64_t count, uint32_t in_progress)
{
  log_line_t l;
  if(log_begin(&l, LOG_WARN, "handshake_refused")) {
    log_str(&l, "peer", t->peer);
    log_str(&l, "reason", admission_verdict_name(v));
    log_u64(&l, "count", count); /* refusals since the last such line */
    log_u64(&l, "in_progress", in_progress);
    log_end(&l);
  }
}

/* Sets t->peer and t->source from the socket's peer address. */
static void peer_of(relay_tunnel_t *t)
{
  struct sockaddr_storage ss;
  int sl = sizeof(ss);
  memset(&t->source, 0, sizeof(t->source));
  if(uv_tcp_getpeername(&t->tcp, (struct sockaddr *)&ss, &sl))
    return;
  relay_addr_format((struct sockaddr *)&ss, t->peer, sizeof(t->peer));
  admission_source_of((struct sockaddr *)&ss, &t->source);
}

/* One verdict on t: admission_enter() or, with no early drop (after an
 * eviction, or for a worker that holds none), admission_enter_replacing().
 * Admitted, t joins w->hs_silent. */
static enum admission_verdict enter(relay_tunnel_t *t, int replacing,
                                    uint64_t *timeout_ms)
{
  relay_t *r = t->w->r;
  uv_mutex_lock(&r->admission_lock);
  enum admission_verdict v =
      replacing
          ? admission_enter_replacing(r->admission, &t->source, timeout_ms)
          : admission_enter(r->admission, &t->source, timeout_ms);
  atomic_store(&r->metrics.handshakes_in_progress,
               admission_in_progress(r->admission));
  uv_mutex_unlock(&r->admission_lock);
  if(v == ADMISSION_OK) {
    t->in_handshake = 1;
    list_add(&t->w->hs_silent, &t->hs_link);
  }
  return v;
}

/* Counts v for t (the connection refused, or the handshake evicted) and
 * logs it at most once a second per reason. */
static void refused(relay_tunnel_t *t, enum admission_verdict v)
{
  relay_t *r = t->w->r;
  uv_mutex_lock(&r->admission_lock);
  uint64_t count =
      admission_refusal_to_log(r->admission, v, uv_now(&t->w->loop));
  uint32_t in_progress = admission_in_progress(r->admission);
  uv_mutex_unlock(&r->admission_lock);
  atomic_fetch_add(&r->metrics.hs_refused[v], 1);
  if(count)
    log_refusal(t, v, count, in_progress);
}

/* 1 when bytes wait unread on t's socket: a ClientHello the pacing of
 * handshake reads (RELAY_HANDSHAKE_BURST) has not fed yet. */
static int has_unread(relay_tunnel_t *t)
{
  uv_os_fd_t fd;
  int n = 0;
  if(uv_fileno((uv_handle_t *)&t->tcp, &fd) || ioctl(fd, FIONREAD, &n))
    return 0;
  return n > 0;
}

/* The oldest silent handshake, looking at a few: one whose bytes wait
 * unread has spoken (it moves to the working ones). */
static relay_tunnel_t *oldest_silent(relay_worker_t *w)
{
  for(int looked = 0; looked < 32 && !list_empty(&w->hs_silent); looked++) {
    relay_tunnel_t *t =
        LIST_CONTAINER(w->hs_silent.next, relay_tunnel_t, hs_link);
    if(!has_unread(t))
      return t;
    t->hs_heard = 1;
    list_del(&t->hs_link);
    list_add(&w->handshaking, &t->hs_link);
  }
  return NULL;
}

/* The handshake evict_oldest() would close, or NULL: the oldest silent
 * one once RELAY_HANDSHAKE_SILENT_AGE_MS old, else the oldest of all
 * once RELAY_HANDSHAKE_EVICT_AGE_MS old, or either only once it is
 * RELAY_HANDSHAKE_EVICT_TYPICAL times the worker's recent handshake
 * time, if that is more. On a busy host a silent one is as likely a
 * controller of a reconnect storm whose ClientHello is on its way as an
 * idle flood's: the newcomer waits in the listen backlog instead
 * (relay_handshake_room). */
static relay_tunnel_t *victim(relay_worker_t *w)
{
  uint64_t now = uv_now(&w->loop);
  uint64_t typical = RELAY_HANDSHAKE_EVICT_TYPICAL * w->hs_typical_ms;
  uint64_t silent = typical, spoken = typical;
  if(silent < RELAY_HANDSHAKE_SILENT_AGE_MS)
    silent = RELAY_HANDSHAKE_SILENT_AGE_MS;
  if(spoken < RELAY_HANDSHAKE_EVICT_AGE_MS)
    spoken = RELAY_HANDSHAKE_EVICT_AGE_MS;
  relay_tunnel_t *old = oldest_silent(w);
  if(old && now - old->start_ms >= silent)
    return old;
  if(list_empty(&w->handshaking))
    return NULL;
  old = LIST_CONTAINER(w->handshaking.next, relay_tunnel_t, hs_link);
  return now - old->start_ms >= spoken ? old : NULL;
}

/* The budget says drop (early drop or full): one of this worker's
 * handshakes goes instead of the newcomer (victim()), so that a flood
 * from many sources cannot hold the budget with idle or stalled
 * connections while new ones (a controller's among them) wait for
 * deadlines. A handshake under way has cost the relay its key exchange
 * and signature and will finish within milliseconds: evicting it for a
 * newcomer, as a reconnect storm of real controllers would make the
 * relay do over and over, wastes that work and the controller's. 0, or
 * -1 when there is no victim. */
static int evict_oldest(relay_worker_t *w)
{
  relay_tunnel_t *old = victim(w);
  if(!old)
    return -1;
  relay_handshake_leave(old);
  refused(old, ADMISSION_EVICTED);
  if(!relay_tunnel_closing(old))
    conn_close(old->conn, CONN_CLOSE_ABORT, uv_now(&w->loop));
  return 0;
}

/* 1 when w holds no handshake: the budget is held by the other
 * workers, whose evictions replace theirs one for one, so w's backlog
 * would wait for their deadlines; it takes one at a time instead. */
static int holds_none(relay_worker_t *w)
{
  return list_empty(&w->hs_silent) && list_empty(&w->handshaking);
}

int relay_handshake_room(relay_worker_t *w)
{
  /* Unlocked: a stale count costs one refusal or one turn's wait. */
  uint64_t n = atomic_load(&w->r->metrics.handshakes_in_progress);
  return n == 0 || n < w->r->cfg.max_handshakes_start || holds_none(w) ||
         victim(w) != NULL;
}

int relay_handshake_admit(relay_tunnel_t *t, uint64_t *timeout_ms)
{
  peer_of(t);
  if(t->w->draining) {
    log_line_t l;
    if(log_begin(&l, LOG_WARN, "tunnel_refused")) {
      log_str(&l, "peer", t->peer);
      log_str(&l, "reason", "draining");
      log_end(&l);
    }
    return -1;
  }
  /* no early drop for a worker that holds none (FULL still applies) */
  enum admission_verdict v = enter(t, holds_none(t->w), timeout_ms);
  /* Still full after an eviction: another worker took the room. */
  if((v == ADMISSION_FULL || v == ADMISSION_EARLY_DROP) && !evict_oldest(t->w))
    v = enter(t, 1, timeout_ms);
  if(v == ADMISSION_OK)
    return 0;
  refused(t, v);
  return -1;
}

void relay_handshake_conn_config(relay_worker_t *w, uint64_t timeout_ms,
                                 conn_config_t *cc)
{
  relay_settings_t *s = relay_settings_get(w->r); /* a reload's, if any */
  const relay_config_t *c = &s->cfg;
  conn_config_default(cc);
  cc->handshake_timeout_ms = timeout_ms;
  cc->write_timeout_ms = c->write_timeout_ms;
  cc->high_water = RELAY_TUNNEL_HIGH_WATER;
  cc->near_high_water = RELAY_TUNNEL_NEAR_HIGH_WATER;
  cc->flush_slice = RELAY_TUNNEL_FLUSH_SLICE;
  cc->plain = w->plain;
  cc->plain_cap = sizeof(w->plain);
  cc->mux.is_client = 0;
  cc->mux.max_streams = c->max_streams;
  /* Streams of a confirm_connect tunnel wait unacknowledged while their
   * target is dialled: as many may as may be open. */
  cc->mux.accept_backlog = c->max_streams;
  cc->mux.window_budget = c->window_budget;
  cc->mux.max_window = 0; /* the default cap, or 256 KiB fixed */
  cc->mux.keepalive_ms = c->keepalive_ms;
  cc->mux.keepalive_timeout_ms = c->keepalive_timeout_ms;
  relay_settings_put(s);
}

void relay_handshake_leave(relay_tunnel_t *t)
{
  if(!t->in_handshake)
    return;
  relay_t *r = t->w->r;
  t->in_handshake = 0;
  list_del(&t->hs_link);
  uv_mutex_lock(&r->admission_lock);
  admission_leave(r->admission, &t->source);
  atomic_store(&r->metrics.handshakes_in_progress,
               admission_in_progress(r->admission));
  uv_mutex_unlock(&r->admission_lock);
}

/* reason says what went wrong in words (docs/OPERATIONS.md "Logs");
 * detail, when given, is the TLS library's own text. */
void relay_handshake_failed_io(relay_tunnel_t *t, const char *reason,
                               const char *detail)
{
  log_line_t l;
  if(log_begin(&l, LOG_WARN, "handshake_failed")) {
    log_str(&l, "peer", t->peer);
    log_str(&l, "reason", reason);
    if(detail && *detail)
      log_str(&l, "detail", detail);
    if(t->subject[0])
      log_str(&l, "subject", t->subject);
    log_end(&l);
  }
}

/* The TLS layer says "verdict; library text": the verdict is the reason,
 * the rest the detail. */
static void failed_split(relay_tunnel_t *t, const char *text)
{
  char reason[256];
  const char *semi = text ? strstr(text, "; ") : NULL;
  if(!semi) {
    relay_handshake_failed_io(t, text && *text ? text : "TLS error", NULL);
    return;
  }
  size_t n = (size_t)(semi - text);
  if(n >= sizeof(reason))
    n = sizeof(reason) - 1;
  memcpy(reason, text, n);
  reason[n] = '\0';
  relay_handshake_failed_io(t, reason, semi + 2);
}

void relay_handshake_failed(relay_tunnel_t *t, int rc, const char *detail)
{
  relay_metrics_t *m = &t->w->r->metrics;
  switch(rc) {
  case BEACON_ETIMEDOUT:
    atomic_fetch_add(&m->hs_fail_timeout, 1);
    relay_handshake_failed_io(t, "handshake timed out", NULL);
    break;
  case BEACON_ENOMEM:
    relay_handshake_failed_io(t, "out of memory", NULL);
    break;
  case BEACON_EVERIFY:
    atomic_fetch_add(&m->hs_fail_verify, 1);
    failed_split(t, detail);
    break;
  default:
    atomic_fetch_add(&m->hs_fail_tls, 1);
    failed_split(t, detail);
    break;
  }
}

int relay_client_allowed(relay_tunnel_t *t, const relay_config_t *cfg)
{
  if(!cfg->n_allow_clients)
    return 1;
  char dn[TLS_IDENTITY_MAX], spki[80];
  if(tls_conn_peer_identity(conn_tls(t->conn), dn, sizeof(dn)))
    dn[0] = 0;
  if(tls_identity_of_spki(t->spki, spki, sizeof(spki)))
    spki[0] = 0;
  for(size_t i = 0; i < cfg->n_allow_clients; i++) {
    const char *a = cfg->allow_clients[i]; /* canonical: egress.c */
    if(!strcmp(a, dn) || !strcmp(a, spki))
      return 1;
  }
  return 0;
}

int relay_handshake_admit_tunnel(relay_tunnel_t *t)
{
  relay_t *r = t->w->r;
  relay_handshake_leave(t);
  /* a moving average over about the last 8 (victim()) */
  uint64_t took = uv_now(&t->w->loop) - t->start_ms,
           *typ = &t->w->hs_typical_ms;
  *typ = took >= *typ ? *typ + (took - *typ) / 8 : *typ - (*typ - took) / 8;
  relay_settings_t *s = relay_settings_get(r); /* a reload's, if any */
  int allowed = relay_client_allowed(t, &s->cfg);
  /* 0 = derived at start (r->cfg has the figure) */
  uint32_t max_tunnels =
      s->cfg.max_tunnels ? s->cfg.max_tunnels : r->cfg.max_tunnels;
  relay_settings_put(s);
  if(!allowed) {
    atomic_fetch_add(&r->metrics.hs_fail_not_allowed, 1);
    relay_handshake_failed_io(t, "client not allowed by --allow-client",
                              t->spki);
    return -1;
  }
  uint64_t open = atomic_fetch_add(&r->metrics.tunnels_open, 1) + 1;
  if(open > max_tunnels) {
    atomic_fetch_sub(&r->metrics.tunnels_open, 1);
    atomic_fetch_add(&r->metrics.tunnels_refused, 1);
    log_line_t l;
    if(log_begin(&l, LOG_WARN, "tunnel_refused")) {
      log_str(&l, "peer", t->peer);
      log_str(&l, "subject", t->subject);
      log_str(&l, "reason", "max_tunnels");
      log_u64(&l, "max_tunnels", max_tunnels);
      log_end(&l);
    }
    return -1;
  }
  t->has_slot = 1;
  return 0;
}

int relay_handshake_peer_gone(relay_tunnel_t *t)
{
  uv_os_fd_t fd;
  if(t->hs_fed)
    return 0;
  t->hs_fed = 1;
  return !uv_fileno((uv_handle_t *)&t->tcp, &fd) &&
         tunnel_socket_peer_closed(fd);
}

int relay_handshake_may_read(const relay_tunnel_t *t)
{
  return conn_state(t->conn) != CONN_HANDSHAKE || t->hs_resumed ||
         t->w->handshakes_this_turn < RELAY_HANDSHAKE_BURST;
}

void relay_handshake_read(relay_tunnel_t *t)
{
  if(t->in_handshake && !t->hs_heard) {
    t->hs_heard = 1; /* from the silent to the working handshakes */
    list_del(&t->hs_link);
    list_add(&t->w->handshaking, &t->hs_link);
  }
  if(t->hs_resumed)
    t->hs_resumed = 0; /* counted when it was resumed */
  else if(conn_state(t->conn) == CONN_HANDSHAKE)
    t->w->handshakes_this_turn++;
}

void relay_handshake_wait(relay_tunnel_t *t)
{
  if(!t->hs_waiting) {
    t->hs_waiting = 1;
    list_add(&t->w->hs_waiting, &t->hs_wait_link);
  }
  t->w->host->output(t->w); /* the next turn must not block */
}

void relay_handshake_new_turn(relay_worker_t *w,
                              int (*read_start)(relay_tunnel_t *t))
{
  w->handshakes_this_turn = 0;
  /* Oldest first (list_add appends at the tail); their reads of
   * the next poll are counted here, newcomers get what is left. */
  while(!list_empty(&w->hs_waiting) &&
        w->handshakes_this_turn < RELAY_HANDSHAKE_BURST) {
    relay_tunnel_t *t =
        LIST_CONTAINER(w->hs_waiting.next, relay_tunnel_t, hs_wait_link);
    list_del(&t->hs_wait_link);
    t->hs_waiting = 0;
    if(relay_tunnel_closing(t))
      continue;
    if(read_start(t)) {
      conn_close(t->conn, CONN_CLOSE_READ_ERROR, uv_now(&w->loop));
      continue;
    }
    t->hs_resumed = 1;
    w->handshakes_this_turn++;
  }
}

void relay_handshake_release(relay_tunnel_t *t)
{
  relay_handshake_leave(t);
  if(t->has_slot) {
    t->has_slot = 0;
    atomic_fetch_sub(&t->w->r->metrics.tunnels_open, 1);
  }
}
