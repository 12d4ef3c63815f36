/*
 * conn.c - the connection core (conn.h): TLS and mux wired together,
 * output bounded by a high-water mark, one close path.
 */
#include "conn/conn.h"

#include <stdlib.h>

#include "beacon/beacon.h"
#include "conn/path_marks.h"

#define DEFAULT_HIGH_WATER (1024 * 1024)
#define DEFAULT_FLUSH_SLICE (64 * 1024)
#define DEFAULT_PLAIN (64 * 1024)

struct conn {
  conn_config_t cfg;
  conn_callbacks_t cb;
  mux_callbacks_t mux_cb;
  void *ud;
  tls_conn_t *tls;
  mux_t *mux;
  enum conn_state state;
  enum conn_close_reason reason;
  uint8_t *own_plain; /* when cfg.plain was NULL */
  uint64_t now;       /* the adapter's clock at its last call */
  uint64_t deadline_hs;
  list_link_t deadlines;  /* conn_deadline_t, earliest first */
  uint64_t last_progress; /* last write progress, or waiting started */
  size_t queued;          /* ciphertext in the adapter's writes */
  int was_waiting;
  int in_recv;
  uint64_t marks_rtt; /* the round trip the marks were chosen for */
  int lowat;          /* TCP_NOTSENT_LOWAT the marks want */
  int lowat_changed;  /* not yet taken by the adapter */
  size_t far_high_water;
};

static const char *const reason_names[CONN_CLOSE_REASON_COUNT] = {
    [CONN_CLOSE_NONE] = "closed",
    [CONN_CLOSE_EOF] = "eof",
    [CONN_CLOSE_READ_ERROR] = "read_error",
    [CONN_CLOSE_WRITE_ERROR] = "write_error",
    [CONN_CLOSE_WRITE_TIMEOUT] = "write_timeout",
    [CONN_CLOSE_HANDSHAKE_TIMEOUT] = "handshake_timeout",
    [CONN_CLOSE_HANDSHAKE_FAILED] = "handshake_failed",
    [CONN_CLOSE_KEEPALIVE_TIMEOUT] = "keepalive_timeout",
    [CONN_CLOSE_PROTOCOL_ERROR] = "protocol_error",
    [CONN_CLOSE_INTERNAL_ERROR] = "internal_error",
    [CONN_CLOSE_TLS_ERROR] = "tls_error",
    [CONN_CLOSE_NOTIFY] = "close_notify",
    [CONN_CLOSE_OUT_OF_MEMORY] = "out_of_memory",
    [CONN_CLOSE_DRAIN] = "drain",
    [CONN_CLOSE_DRAIN_TIMEOUT] = "drain_timeout",
    [CONN_CLOSE_ABORT] = "abort",
    [CONN_CLOSE_REVOKED] = "revoked",
    [CONN_CLOSE_CERT_EXPIRED] = "cert_expired",
};

const char *conn_close_reason_name(enum conn_close_reason why)
{
  if((unsigned)why >= CONN_CLOSE_REASON_COUNT)
    return "closed";
  return reason_names[why];
}

int conn_close_reason_is_hard(enum conn_close_reason why)
{
  return why == CONN_CLOSE_WRITE_TIMEOUT || why == CONN_CLOSE_WRITE_ERROR ||
         why == CONN_CLOSE_READ_ERROR || why == CONN_CLOSE_ABORT;
}

void conn_config_default(conn_config_t *cfg)
{
  *cfg = (conn_config_t){0};
  mux_config_default(&cfg->mux);
}

conn_t *conn_new(const conn_config_t *cfg, tls_ctx_t *ctx,
                 const char *expected_host, const conn_callbacks_t *cb,
                 const mux_callbacks_t *mux_cb, void *ud, uint64_t now)
{
  conn_t *c = calloc(1, sizeof(*c));
  if(!c)
    return NULL;
  c->cfg = *cfg;
  if(!c->cfg.high_water)
    c->cfg.high_water = DEFAULT_HIGH_WATER;
  c->lowat = PATH_FAR_NOTSENT_LOWAT;
  if(!c->cfg.flush_slice)
    c->cfg.flush_slice = DEFAULT_FLUSH_SLICE;
  if(!c->cfg.plain_cap)
    c->cfg.plain_cap = DEFAULT_PLAIN;
  if(!c->cfg.plain) {
    c->own_plain = malloc(c->cfg.plain_cap);
    if(!c->own_plain) {
      free(c);
      return NULL;
    }
    c->cfg.plain = c->own_plain;
  }
  c->cb = *cb;
  c->mux_cb = *mux_cb;
  c->ud = ud;
  c->now = now;
  list_init(&c->deadlines);
  c->deadline_hs =
      cfg->handshake_timeout_ms ? now + cfg->handshake_timeout_ms : UINT64_MAX;
  c->tls = tls_conn_new(ctx, expected_host);
  if(!c->tls) {
    conn_free(c);
    return NULL;
  }
  /* A client speaks first: the ClientHello is pending at once. */
  if(expected_host && tls_conn_handshake(c->tls) != BEACON_EAGAIN) {
    conn_free(c);
    return NULL;
  }
  return c;
}

void conn_free(conn_t *c)
{
  if(!c)
    return;
  /* Their owners may outlive c and stop them later. */
  while(!list_empty(&c->deadlines))
    list_del(c->deadlines.next);
  mux_free(c->mux);
  tls_conn_free(c->tls);
  free(c->own_plain);
  free(c);
}

/* ---- output ---- */

size_t conn_queued(const conn_t *c)
{
  return c->queued;
}

size_t conn_waiting(const conn_t *c)
{
  return c->queued + tls_conn_out_pending(c->tls);
}

size_t conn_unencrypted(const conn_t *c)
{
  return c->mux ? mux_pending_total(c->mux) : 0;
}

int conn_want_flush(const conn_t *c)
{
  return c->state == CONN_UP && conn_waiting(c) < c->cfg.high_water;
}

int conn_want_read(const conn_t *c)
{
  if(c->state == CONN_CLOSING)
    return 0;
  return !c->cfg.read_high_water || conn_waiting(c) < c->cfg.read_high_water;
}

/* The stall clock starts when ciphertext starts waiting. */
static void note_waiting(conn_t *c)
{
  int waiting = conn_waiting(c) > 0;
  if(waiting && !c->was_waiting)
    c->last_progress = c->now;
  c->was_waiting = waiting;
}

/* Mux output into TLS; bound = 0 ignores high_water (the last flush of
 * a closing connection: a Go Away must go out). */
static int encrypt_mux(conn_t *c, int bound)
{
  while(!bound || conn_waiting(c) < c->cfg.high_water) {
    const uint8_t *p;
    size_t n = mux_pending(c->mux, &p);
    if(!n)
      break;
    if(n > c->cfg.flush_slice)
      n = c->cfg.flush_slice;
    if(tls_conn_write(c->tls, p, n) < 0)
      return BEACON_ETLS;
    /* May run on_writable: streams queue more output; p is then stale,
     * but it is no longer used. */
    mux_advance(c->mux, n);
  }
  return 0;
}

int conn_flush(conn_t *c, uint64_t now)
{
  c->now = now;
  if(c->state == CONN_CLOSING)
    return BEACON_ECLOSED;
  if(c->mux && encrypt_mux(c, 1)) {
    conn_close(c, CONN_CLOSE_TLS_ERROR, now);
    return BEACON_ETLS;
  }
  note_waiting(c);
  return 0;
}

size_t conn_pending(conn_t *c, const uint8_t **p)
{
  note_waiting(c);
  return tls_conn_out_peek(c->tls, p);
}

/*
 * A tunnel without streams gives its drained ciphertext queues back at
 * once. Such a tunnel only trades pings and window updates, a few
 * frames a minute, so the malloc that comes back with the next frame
 * costs nothing that matters; the keep-alive tick alone would not do,
 * as the ping it sends refills both queues right after. A tunnel with
 * streams keeps its queues (only the tick trims them), so the data path
 * pays one counter test per read or write, not an allocation.
 */
static void trim_if_streamless(conn_t *c)
{
  if(c->state == CONN_UP && c->mux && !mux_stream_count(c->mux))
    tls_conn_trim(c->tls);
}

void conn_advance(conn_t *c, size_t n)
{
  if(!n)
    return;
  tls_conn_out_consume(c->tls, n);
  c->last_progress = c->now;
  note_waiting(c);
  if(!tls_conn_out_pending(c->tls))
    trim_if_streamless(c);
}

void conn_advance_queued(conn_t *c, size_t n)
{
  tls_conn_out_consume(c->tls, n);
  c->queued += n;
  note_waiting(c);
  if(!tls_conn_out_pending(c->tls))
    trim_if_streamless(c);
}

void conn_write_done(conn_t *c, size_t n, uint64_t now)
{
  c->now = now;
  c->queued -= n < c->queued ? n : c->queued;
  c->last_progress = now;
  note_waiting(c);
}

/* ---- close ---- */

void conn_close(conn_t *c, enum conn_close_reason why, uint64_t now)
{
  if(c->state == CONN_CLOSING)
    return;
  c->now = now;
  c->state = CONN_CLOSING;
  c->reason = why;
  if(c->mux) {
    if(!conn_close_reason_is_hard(why)) {
      /* Best effort on the way out: a peer whose Go Away or
       * close_notify could not be queued (no memory) sees the transport
       * end instead, which it handles the same. */
      int rc = encrypt_mux(c, 0);
      if(!rc)
        rc = tls_conn_shutdown(c->tls);
      (void)rc;
    }
    if(!c->cfg.keep_mux_on_close)
      mux_shutdown(c->mux);
  }
  /* The linger (sending what is left) is bounded by write_timeout_ms. */
  c->last_progress = now;
  c->was_waiting = conn_waiting(c) > 0;
  c->cb.on_close(c, why, c->ud);
}

/* ---- input ---- */

static int come_up(conn_t *c)
{
  if(c->cb.on_handshake && c->cb.on_handshake(c, c->ud) < 0) {
    conn_close(c, CONN_CLOSE_HANDSHAKE_FAILED, c->now);
    return BEACON_ECLOSED;
  }
  c->mux = mux_new(&c->cfg.mux, &c->mux_cb, c->ud, c->now);
  if(!c->mux) {
    if(c->cb.on_handshake_failed)
      c->cb.on_handshake_failed(c, BEACON_ENOMEM, NULL, c->ud);
    conn_close(c, CONN_CLOSE_HANDSHAKE_FAILED, c->now);
    return BEACON_ECLOSED;
  }
  c->state = CONN_UP;
  /* Window auto-tuning wants the round trip before the first grant. */
  if(c->cfg.mux.window_budget)
    mux_measure_rtt(c->mux);
  /* The certificate chains went through the queues. */
  tls_conn_trim(c->tls);
  if(c->cb.on_up)
    c->cb.on_up(c, c->ud);
  return c->state == CONN_UP ? 0 : BEACON_ECLOSED;
}

/* A new round trip may move the session to the other marks
 * (path_marks.h): the smallest of the first few pings, since one ping
 * answered late on a busy machine must not make loopback look far. */
static void update_marks(conn_t *c)
{
  path_marks_t pm;
  uint64_t rtt = mux_rtt_min(c->mux);
  if(!c->cfg.near_high_water)
    return;
  if(mux_rtt_samples(c->mux) < PATH_RTT_SAMPLES && !path_is_near(rtt))
    mux_measure_rtt(c->mux);
  if(rtt == c->marks_rtt)
    return;
  if(!c->far_high_water)
    c->far_high_water = c->cfg.high_water;
  c->marks_rtt = rtt;
  path_marks_for(&pm, rtt, c->far_high_water, c->cfg.near_high_water);
  c->cfg.high_water = pm.high_water;
  mux_set_stream_queue_max(c->mux, pm.stream_queue);
  mux_set_window_cap(c->mux, pm.max_window);
  if(pm.notsent_lowat != c->lowat) {
    c->lowat = pm.notsent_lowat;
    c->lowat_changed = 1;
  }
}

int conn_take_notsent_lowat(conn_t *c, int *bytes)
{
  if(!c->lowat_changed)
    return 0;
  c->lowat_changed = 0;
  *bytes = c->lowat;
  return 1;
}

/* Decrypts and feeds the mux everything buffered, several TLS records
 * per mux_recv() so a stream's frames arrive together. */
static int pump_plaintext(conn_t *c)
{
  for(;;) {
    size_t have;
    int n = tls_conn_read_batch(c->tls, c->cfg.plain, c->cfg.plain_cap, &have);
    if(have) {
      if(c->cb.on_plaintext)
        c->cb.on_plaintext(c, c->cfg.plain, have, c->ud);
      if(c->state != CONN_UP)
        return BEACON_ECLOSED;
      c->in_recv = 1;
      mux_now(c->mux, c->now); /* window auto-tuning times its grants */
      int rc = mux_recv(c->mux, c->cfg.plain, have);
      c->in_recv = 0;
      if(c->cb.on_recv_done)
        c->cb.on_recv_done(c, c->ud);
      if(rc < 0) {
        if(c->cb.on_mux_error)
          c->cb.on_mux_error(c, rc, c->ud);
        conn_close(c,
                   rc == BEACON_EPROTO ? CONN_CLOSE_PROTOCOL_ERROR
                                       : CONN_CLOSE_INTERNAL_ERROR,
                   c->now);
        return rc;
      }
      if(c->state != CONN_UP)
        return BEACON_ECLOSED;
      update_marks(c);
    }
    if(n == BEACON_EAGAIN)
      return 0;
    if(n == 0) {
      conn_close(c, CONN_CLOSE_NOTIFY, c->now);
      return BEACON_ECLOSED;
    }
    if(n < 0) {
      conn_close(c, CONN_CLOSE_TLS_ERROR, c->now);
      return BEACON_ETLS;
    }
  }
}

int conn_feed(conn_t *c, const uint8_t *in, size_t len, uint64_t now)
{
  c->now = now;
  if(c->state == CONN_CLOSING)
    return BEACON_ECLOSED;
  if(tls_conn_feed(c->tls, in, len)) {
    conn_close(c, CONN_CLOSE_OUT_OF_MEMORY, now);
    return BEACON_ENOMEM;
  }
  if(c->state == CONN_HANDSHAKE) {
    int rc = tls_conn_handshake(c->tls);
    if(rc == BEACON_EAGAIN)
      return 0;
    if(rc < 0) {
      if(c->cb.on_handshake_failed)
        c->cb.on_handshake_failed(c, rc, tls_conn_error(c->tls), c->ud);
      conn_close(c, CONN_CLOSE_HANDSHAKE_FAILED, now);
      return rc;
    }
    rc = come_up(c);
    if(rc)
      return rc;
  }
  int rc = pump_plaintext(c);
  if(!rc)
    trim_if_streamless(c);
  return rc;
}

/* ---- timers ---- */

void conn_deadline_init(conn_deadline_t *d)
{
  list_init(&d->link);
  d->when = UINT64_MAX;
}

void conn_deadline_start(conn_t *c, conn_deadline_t *d, uint64_t when)
{
  list_del(&d->link);
  d->when = when;
  /* From the tail: deadlines of one length are started in time order,
   * so this is one step. */
  list_link_t *at = c->deadlines.prev;
  while(at != &c->deadlines &&
        LIST_CONTAINER(at, conn_deadline_t, link)->when > when)
    at = at->prev;
  list_add(at->next, &d->link);
}

void conn_deadline_stop(conn_deadline_t *d)
{
  list_del(&d->link);
}

int conn_deadline_running(const conn_deadline_t *d)
{
  return !list_empty(&d->link);
}

static uint64_t first_deadline(const conn_t *c)
{
  if(list_empty(&c->deadlines))
    return UINT64_MAX;
  return LIST_CONTAINER(c->deadlines.next, conn_deadline_t, link)->when;
}

/* Runs the passed deadlines in order; each callback may stop or start
 * others, or close the connection. */
static void fire_deadlines(conn_t *c, uint64_t now)
{
  while(c->state != CONN_CLOSING && first_deadline(c) <= now) {
    conn_deadline_t *d =
        LIST_CONTAINER(c->deadlines.next, conn_deadline_t, link);
    list_del(&d->link);
    if(c->cb.on_deadline)
      c->cb.on_deadline(c, d, now, c->ud);
  }
}

int conn_tick(conn_t *c, uint64_t now)
{
  c->now = now;
  uint64_t wto = c->cfg.write_timeout_ms;
  if(c->state == CONN_CLOSING)
    return wto && now >= c->last_progress + wto ? CONN_TICK_DROP : 0;
  if(wto && conn_waiting(c) && now >= c->last_progress + wto) {
    conn_close(c, CONN_CLOSE_WRITE_TIMEOUT, now);
    return 0;
  }
  if(c->state == CONN_HANDSHAKE) {
    if(now >= c->deadline_hs) {
      if(c->cb.on_handshake_failed)
        c->cb.on_handshake_failed(c, BEACON_ETIMEDOUT, NULL, c->ud);
      conn_close(c, CONN_CLOSE_HANDSHAKE_TIMEOUT, now);
      return 0;
    }
  } else if(c->mux) {
    if(mux_tick(c->mux, now) == BEACON_ETIMEDOUT) {
      conn_close(c, CONN_CLOSE_KEEPALIVE_TIMEOUT, now);
      return 0;
    }
    /* A keep-alive tick: a connection that once moved bulk data gives
     * its ciphertext buffers back (mux_tick did the same for its queue). */
    tls_conn_trim(c->tls);
  }
  fire_deadlines(c, now);
  return 0;
}

uint64_t conn_next_deadline(const conn_t *c)
{
  uint64_t dl = UINT64_MAX;
  uint64_t wto = c->cfg.write_timeout_ms;
  if(wto && (conn_waiting(c) || c->state == CONN_CLOSING))
    dl = c->last_progress + wto;
  if(c->state == CONN_CLOSING)
    return dl;
  if(c->state == CONN_HANDSHAKE && c->deadline_hs < dl)
    dl = c->deadline_hs;
  if(c->state == CONN_UP && c->mux) {
    uint64_t md = mux_next_deadline(c->mux);
    if(md < dl)
      dl = md;
  }
  uint64_t first = first_deadline(c);
  if(first < dl)
    dl = first;
  return dl;
}

/* ---- queries ---- */

enum conn_state conn_state(const conn_t *c)
{
  return c->state;
}

enum conn_close_reason conn_close_reason(const conn_t *c)
{
  return c->reason;
}

int conn_in_recv(const conn_t *c)
{
  return c->in_recv;
}

mux_t *conn_mux(const conn_t *c)
{
  return c->mux;
}

tls_conn_t *conn_tls(const conn_t *c)
{
  return c->tls;
}
