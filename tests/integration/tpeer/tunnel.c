/*
 * tunnel.c - tpeer's transport: TCP socket + connection core (TLS and a
 * mux client session), one poll() loop, and the frame observer (see
 * tpeer.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>

#include "beacon/beacon.h"
#include "tpeer.h"

#define OUT_HIGH (512u * 1024u) /* stop pulling mux output above this */

void tp_err(const char *fmt, ...)
{
  va_list ap;
  fputs("tpeer: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

uint64_t tp_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* splitmix64: a counter-based generator, so any byte range of a stream's
 * payload can be produced (or verified) without state. */
static uint64_t mix64(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void tp_pattern(uint64_t seed, uint64_t off, uint8_t *out, size_t n)
{
  uint64_t salt = mix64(seed);
  while(n) {
    uint64_t v = mix64(salt ^ (off >> 3));
    unsigned i = (unsigned)(off & 7);
    for(; i < 8 && n; i++, n--, off++)
      *out++ = (uint8_t)(v >> (8 * i));
  }
}

static void tunnel_gone(tp_t *tp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tunnel_gone(tp_t *tp, const char *fmt, ...)
{
  va_list ap;
  if(tp->eof)
    return;
  tp->eof = 1;
  tp->t_closed = tp_now();
  va_start(ap, fmt);
  vsnprintf(tp->why, sizeof(tp->why), fmt, ap);
  va_end(ap);
  /* Every managed stream ends with the transport (the core's close
   * shuts the mux down; nothing more is sent). */
  if(tp->conn)
    conn_close(tp->conn, CONN_CLOSE_ABORT, tp_now());
}

/* ---- the observer ------------------------------------------------------ */

tp_raw_t *tp_raw_find(tp_t *tp, uint32_t id)
{
  tp_raw_t *free_slot = NULL;
  int i;
  for(i = 0; i < TP_RAW_TRACK; i++) {
    if(tp->obs.raws[i].id == id)
      return &tp->obs.raws[i];
    if(!tp->obs.raws[i].id && !free_slot)
      free_slot = &tp->obs.raws[i];
  }
  if(free_slot)
    free_slot->id = id;
  return free_slot;
}

static void obs_frame(tp_t *tp)
{
  tp_obs_t *o = &tp->obs;
  const mux_header_t *h = &o->cur;
  int raw = h->stream_id >= TP_RAW_BASE;
  tp_raw_t *r = raw ? tp_raw_find(tp, h->stream_id) : NULL;

  o->frames++;
  if(h->type == MUX_TYPE_GO_AWAY) {
    if(o->go_away < 0) {
      o->go_away = h->length;
      o->t_go_away = tp_now();
    }
    return;
  }
  if(h->type == MUX_TYPE_PING) {
    if(h->flags & MUX_FLAG_SYN)
      o->ping_syn++;
    if(h->flags & MUX_FLAG_ACK)
      o->ping_ack++;
    return;
  }
  if(h->flags & MUX_FLAG_ACK) {
    o->ack++;
    o->raw_ack += raw;
    if(r)
      r->acked = 1;
  }
  if(h->flags & MUX_FLAG_FIN) {
    o->fin++;
    o->raw_fin += raw;
    if(r)
      r->fin = 1;
  }
  if(h->flags & MUX_FLAG_RST) {
    o->rst++;
    o->raw_rst += raw;
    if(r)
      r->rst = 1;
  }
  if(h->type == MUX_TYPE_DATA && raw)
    o->raw_data += h->length;
}

static void obs_feed(tp_t *tp, const uint8_t *p, size_t n)
{
  tp_obs_t *o = &tp->obs;
  while(n) {
    size_t take;
    if(o->skip) {
      take = o->skip < n ? (size_t)o->skip : n;
      if(o->cur.stream_id >= TP_RAW_BASE) {
        tp_raw_t *r = tp_raw_find(tp, o->cur.stream_id);
        if(r) {
          size_t room = sizeof(r->data) - r->len;
          size_t k = take < room ? take : room;
          memcpy(r->data + r->len, p, k);
          r->len += k;
        }
      }
      o->skip -= take;
      p += take;
      n -= take;
      continue;
    }
    take = MUX_HEADER_SIZE - o->hlen;
    if(take > n)
      take = n;
    memcpy(o->hdr + o->hlen, p, take);
    o->hlen += take;
    p += take;
    n -= take;
    if(o->hlen == MUX_HEADER_SIZE) {
      o->hlen = 0;
      mux_header_decode(&o->cur, o->hdr);
      obs_frame(tp);
      if(o->cur.type == MUX_TYPE_DATA)
        o->skip = o->cur.length;
    }
  }
}

/* ---- mux callbacks ------------------------------------------------------ */

static int cb_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  /* The relay never opens streams in the egress tunnel (docs/PROTOCOL.md
   * "Roles and stream ids"). */
  tp_err("relay opened stream %u: refused", id);
  return BEACON_EPROTO;
}

static void cb_ack(mux_t *m, uint32_t id, void *sud, void *ud)
{
  tp_stream_t *s = sud;
  if(s && !s->acked) {
    s->acked = 1;
    s->t_ack = tp_now();
  }
}

static void cb_data(mux_t *m, uint32_t id, void *sud, const uint8_t *data,
                    size_t len, void *ud)
{
  tp_stream_t *s = sud;
  if(!s)
    return;
  if(s->keep_len < sizeof(s->keep)) {
    size_t k = sizeof(s->keep) - s->keep_len;
    memcpy(s->keep + s->keep_len, data, len < k ? len : k);
    s->keep_len += len < k ? len : k;
  }
  if(s->sha_in)
    EVP_DigestUpdate(s->sha_in, data, len);
  if(s->verify && !s->mismatch) {
    uint8_t want[16384];
    size_t done = 0;
    while(done < len) {
      size_t k = len - done < sizeof(want) ? len - done : sizeof(want);
      tp_pattern(s->seed, s->in_len + done, want, k);
      if(memcmp(want, data + done, k)) {
        size_t i = 0;
        while(want[i] == data[done + i])
          i++;
        s->mismatch = 1;
        s->mismatch_at = s->in_len + done + i;
        break;
      }
      done += k;
    }
  }
  s->in_len += len;
  int rc = mux_stream_consumed(m, id, len);
  if(rc)
    tp_err("window update for stream %u: %s", (unsigned)id,
           beacon_strerror(rc));
}

static void cb_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  tp_stream_t *s = sud;
  if(s)
    s->fin_in = 1;
}

static void cb_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  tp_stream_t *s = sud;
  if(s && !s->reset) {
    s->reset = 1;
    s->reset_code = mux_reset_code(m);
    s->t_end = tp_now();
  }
}

static void cb_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  if(sud)
    tp_stream_pump(sud);
}

static void cb_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  tp_stream_t *s = sud;
  if(!s)
    return;
  s->closed = 1;
  if(!s->t_end)
    s->t_end = tp_now();
}

static void cb_ping_ack(mux_t *m, uint32_t opaque, uint64_t rtt, void *ud)
{
  tp_t *tp = ud;
  tp->pings_acked++;
  tp->rtt_sum_ms += rtt;
}

static void cb_go_away(mux_t *m, uint32_t code, void *ud)
{
  /* Recorded by the observer; the scenario decides what it means. */
}

/* ---- connection callbacks ------------------------------------------------
 */

static void cb_handshake_failed(conn_t *c, int rc, const char *detail,
                                void *ud)
{
  tp_err("TLS handshake with the relay failed (%s): %s", beacon_strerror(rc),
         detail ? detail : "");
}

static void cb_up(conn_t *c, void *ud)
{
  tp_t *tp = ud;
  tp->mux = conn_mux(c);
}

/* Every decrypted byte goes to the observer before the mux. */
static void cb_plaintext(conn_t *c, const uint8_t *p, size_t n, void *ud)
{
  obs_feed(ud, p, n);
}

static void cb_mux_error(conn_t *c, int rc, void *ud)
{
  tp_t *tp = ud;
  tp->mux_error = rc;
  tp_err("our mux refused the relay's frames: %s", beacon_strerror(rc));
}

static void cb_close(conn_t *c, enum conn_close_reason why, void *ud)
{
  tp_t *tp = ud;
  switch(why) {
  case CONN_CLOSE_NOTIFY:
    tp->tls_closed = 1;
    tunnel_gone(tp, "relay sent close_notify");
    break;
  case CONN_CLOSE_TLS_ERROR:
    tunnel_gone(tp, "TLS: %s", tls_conn_error(conn_tls(c)));
    break;
  case CONN_CLOSE_KEEPALIVE_TIMEOUT:
    tunnel_gone(tp, "keep-alive: the relay did not answer a ping");
    break;
  case CONN_CLOSE_PROTOCOL_ERROR:
  case CONN_CLOSE_INTERNAL_ERROR:
    tunnel_gone(tp, "our mux refused the relay's frames: %s",
                beacon_strerror(tp->mux_error));
    break;
  case CONN_CLOSE_OUT_OF_MEMORY:
    tunnel_gone(tp, "out of memory");
    break;
  default:
    tunnel_gone(tp, "%s", conn_close_reason_name(why));
    break;
  }
}

/* ---- connect and handshake ---------------------------------------------- */

static int split_hostport(const char *s, char *host, size_t cap, char **port)
{
  const char *colon;
  size_t hl;
  if(s[0] == '[') {
    const char *end = strchr(s, ']');
    if(!end || end[1] != ':')
      return -1;
    hl = (size_t)(end - s - 1);
    if(hl >= cap)
      return -1;
    memcpy(host, s + 1, hl);
    host[hl] = '\0';
    *port = (char *)end + 2;
    return 0;
  }
  colon = strrchr(s, ':');
  if(!colon || colon == s)
    return -1;
  hl = (size_t)(colon - s);
  if(hl >= cap)
    return -1;
  memcpy(host, s, hl);
  host[hl] = '\0';
  *port = (char *)colon + 1;
  return 0;
}

static int tcp_connect(const char *host, const char *port, int timeout_ms)
{
  struct addrinfo hints, *res = NULL, *ai;
  int fd = -1, r;
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  r = getaddrinfo(host, port, &hints, &res);
  if(r) {
    tp_err("resolve %s: %s", host, gai_strerror(r));
    return -1;
  }
  for(ai = res; ai; ai = ai->ai_next) {
    struct pollfd p;
    int err = 0;
    socklen_t el = sizeof(err);
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if(fd < 0)
      continue;
    if(connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
      err = errno;
      goto next;
    }
    p.fd = fd;
    p.events = POLLOUT;
    r = poll(&p, 1, timeout_ms);
    if(r == 0) {
      err = ETIMEDOUT;
      goto next;
    }
    if(r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el))
      err = errno;
    if(!err)
      break;
  next:
    tp_err("connect %s:%s: %s", host, port, strerror(err));
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if(fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

/* The core's ciphertext to the out buffer. */
static int take_tls_output(tp_t *tp)
{
  const uint8_t *src;
  size_t n = conn_pending(tp->conn, &src);
  if(!n)
    return 0;
  if(tp->out_len + n > tp->out_cap) {
    size_t cap = tp->out_cap ? tp->out_cap : 65536;
    uint8_t *p;
    while(cap < tp->out_len + n)
      cap *= 2;
    p = realloc(tp->out, cap);
    if(!p) {
      tunnel_gone(tp, "out of memory");
      return -1;
    }
    tp->out = p;
    tp->out_cap = cap;
  }
  memcpy(tp->out + tp->out_len, src, n);
  tp->out_len += n;
  conn_advance_queued(tp->conn, n);
  return 0;
}

static void write_out(tp_t *tp)
{
  if(tp->wr_err && tp->out_len) {
    conn_write_done(tp->conn, tp->out_len, tp_now());
    tp->out_len = 0;
  }
  while(tp->out_len && !tp->eof) {
    ssize_t n = send(tp->fd, tp->out, tp->out_len, MSG_NOSIGNAL);
    if(n < 0) {
      if(errno == EAGAIN || errno == EINTR)
        return;
      /* Keep reading: the relay's Go Away may still be in the receive
       * queue; EOF or the read error ends the tunnel. */
      if(!tp->wr_err)
        tp->wr_err = errno;
      conn_write_done(tp->conn, tp->out_len, tp_now());
      tp->out_len = 0;
      return;
    }
    memmove(tp->out, tp->out + n, tp->out_len - (size_t)n);
    tp->out_len -= (size_t)n;
    conn_write_done(tp->conn, (size_t)n, tp_now());
  }
}

/* Runs the core's handshake over the socket; the core creates the mux
 * when it completes and feeds it what arrived with the handshake's end. */
static int handshake(tp_t *tp, int timeout_ms)
{
  uint64_t deadline = tp_now() + (uint64_t)timeout_ms;
  for(;;) {
    struct pollfd p;
    uint8_t buf[16384];
    ssize_t n;
    take_tls_output(tp);
    while(tp->out_len && !tp->eof) {
      write_out(tp);
      if(tp->out_len) {
        p.fd = tp->fd;
        p.events = POLLOUT;
        poll(&p, 1, 100);
      }
    }
    if(conn_state(tp->conn) == CONN_UP && !tp->eof)
      return 0;
    if(tp->eof) {
      /* A failed handshake was reported by cb_handshake_failed. */
      if(conn_close_reason(tp->conn) != CONN_CLOSE_HANDSHAKE_FAILED)
        tp_err("TLS handshake: %s", tp->why);
      return -1;
    }
    p.fd = tp->fd;
    p.events = POLLIN;
    if(tp_now() >= deadline) {
      tp_err("TLS handshake timed out after %d ms", timeout_ms);
      return -1;
    }
    if(poll(&p, 1, (int)(deadline - tp_now())) <= 0)
      continue;
    n = recv(tp->fd, buf, sizeof(buf), 0);
    if(n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      tp_err("TLS handshake: relay closed the connection (%s)",
             n == 0 ? "EOF" : strerror(errno));
      return -1;
    }
    if(n > 0)
      conn_feed(tp->conn, buf, (size_t)n, tp_now());
  }
}

int tp_connect(tp_t *tp, const tp_opts_t *o)
{
  static const mux_callbacks_t cbs = {.on_stream_open = cb_open,
                                      .on_stream_ack = cb_ack,
                                      .on_data = cb_data,
                                      .on_fin = cb_fin,
                                      .on_reset = cb_reset,
                                      .on_writable = cb_writable,
                                      .on_stream_closed = cb_closed,
                                      .on_ping_ack = cb_ping_ack,
                                      .on_go_away = cb_go_away};
  static const conn_callbacks_t conn_cbs = {.on_handshake_failed =
                                                cb_handshake_failed,
                                            .on_up = cb_up,
                                            .on_plaintext = cb_plaintext,
                                            .on_mux_error = cb_mux_error,
                                            .on_close = cb_close};
  char host[256], err[512];
  char *port;
  conn_config_t cfg;
  int r;

  memset(tp, 0, sizeof(*tp));
  tp->fd = -1;
  tp->extra_fd = -1;
  tp->obs.go_away = -1;
  if(split_hostport(o->relay, host, sizeof(host), &port)) {
    tp_err("--relay '%s': expected HOST:PORT", o->relay);
    return TP_EXIT_USAGE;
  }
  r = tls_ctx_new(&tp->ctx, TLS_CLIENT, o->cert, o->key, o->ca, NULL, err,
                  sizeof(err));
  if(!r && o->beacon_alpn)
    r = tls_ctx_offer_beacon_alpn(tp->ctx);
  if(r) {
    tp_err("%s", err);
    return TP_EXIT_USAGE;
  }
  /* No write-stall deadline: scenarios stall the relay on purpose and
   * watch what it does. The handshake deadline is handshake()'s. */
  conn_config_default(&cfg);
  cfg.high_water = OUT_HIGH;
  cfg.mux.is_client = 1;
  cfg.mux.keepalive_ms = o->keepalive_ms;
  cfg.mux.keepalive_timeout_ms = 10000;
  if(o->max_streams)
    cfg.mux.max_streams = o->max_streams;
  tp->conn = conn_new(&cfg, tp->ctx, o->expect_host ? o->expect_host : host,
                      &conn_cbs, &cbs, tp, tp_now());
  if(!tp->conn) {
    tp_err("out of memory");
    return TP_EXIT_CONN;
  }
  tp->tls = conn_tls(tp->conn);
  tp->fd = tcp_connect(host, port, o->connect_timeout_ms);
  if(tp->fd < 0)
    return TP_EXIT_CONN;
  if(handshake(tp, o->connect_timeout_ms))
    return TP_EXIT_CONN;
  return 0;
}

void tp_close(tp_t *tp)
{
  conn_free(tp->conn);
  tls_ctx_unref(tp->ctx);
  if(tp->fd >= 0)
    close(tp->fd);
  free(tp->out);
  tp->conn = NULL;
  tp->mux = NULL;
  tp->tls = NULL;
  tp->ctx = NULL;
  tp->fd = -1;
  tp->out = NULL;
}

/* ---- the loop ----------------------------------------------------------- */

/* Mux output through TLS (the core stops at OUT_HIGH bytes waiting) to
 * the out buffer. */
static void move_output(tp_t *tp)
{
  if(tp->eof)
    return;
  if(conn_flush(tp->conn, tp_now()))
    return; /* closed: cb_close said why */
  take_tls_output(tp);
}

/* Input to the core, which hands every decrypted byte to the observer
 * (cb_plaintext) and then to the mux. */
static void read_in(tp_t *tp)
{
  uint8_t buf[65536];
  ssize_t n = recv(tp->fd, buf, sizeof(buf), 0);
  if(n < 0) {
    if(errno != EAGAIN && errno != EINTR)
      tunnel_gone(tp, "recv: %s%s%s", strerror(errno),
                  tp->wr_err ? "; send: " : "",
                  tp->wr_err ? strerror(tp->wr_err) : "");
    return;
  }
  if(n == 0) {
    tunnel_gone(tp, "relay closed the TCP connection");
    return;
  }
  conn_feed(tp->conn, buf, (size_t)n, tp_now());
}

int tp_step(tp_t *tp, int timeout_ms)
{
  struct pollfd p[2];
  nfds_t np = 1;
  uint64_t now, dl;
  if(tp->eof)
    return -1;
  move_output(tp);
  write_out(tp);
  now = tp_now();
  dl = conn_next_deadline(tp->conn);
  if(dl != UINT64_MAX) {
    if(dl <= now)
      timeout_ms = 0;
    else if(dl - now < (uint64_t)timeout_ms)
      timeout_ms = (int)(dl - now);
  }
  p[0].fd = tp->fd;
  p[0].events = POLLIN | (tp->out_len ? POLLOUT : 0);
  p[0].revents = 0;
  if(tp->extra_fd >= 0) {
    p[1].fd = tp->extra_fd;
    p[1].events = POLLIN;
    p[1].revents = 0;
    np = 2;
  }
  if(poll(p, np, timeout_ms) < 0 && errno != EINTR) {
    tunnel_gone(tp, "poll: %s", strerror(errno));
    return -1;
  }
  if(np == 2 && p[1].revents)
    tp->extra_ready = 1;
  if(p[0].revents & (POLLIN | POLLHUP | POLLERR))
    read_in(tp);
  if(tp->eof)
    return -1;
  /* Keep-alive: cb_close on a timeout; a stalled close drops the
   * transport. */
  if(conn_tick(tp->conn, tp_now()) == CONN_TICK_DROP)
    tp->eof = 1;
  move_output(tp);
  write_out(tp);
  return tp->eof ? -1 : 0;
}

int tp_flush(tp_t *tp, uint64_t deadline)
{
  while(!tp->eof && (tp->out_len || conn_unencrypted(tp->conn) ||
                     tls_conn_out_pending(tp->tls))) {
    if(tp_now() >= deadline)
      return -1;
    tp_step(tp, 50);
  }
  return tp->eof ? -1 : 0;
}

int tp_send_raw(tp_t *tp, const uint8_t *data, size_t len)
{
  const uint8_t *p;
  size_t n;
  if(tp->eof)
    return -1;
  /* Whatever the mux queued goes first, so the wire order is ours. */
  while((n = mux_pending(tp->mux, &p)) > 0) {
    if(tls_conn_write(tp->tls, p, n) < 0)
      return -1;
    mux_advance(tp->mux, n);
  }
  while(len) {
    size_t k = len < 16384 ? len : 16384;
    if(tls_conn_write(tp->tls, data, k) < 0) {
      tunnel_gone(tp, "TLS write: %s", tls_conn_error(tp->tls));
      return -1;
    }
    data += k;
    len -= k;
    if(take_tls_output(tp))
      return -1;
  }
  return take_tls_output(tp);
}

int tp_send_frame(tp_t *tp, uint8_t type, uint16_t flags, uint32_t id,
                  uint32_t length, const uint8_t *payload, size_t plen)
{
  mux_header_t h;
  uint8_t hdr[MUX_HEADER_SIZE];
  h.version = MUX_PROTO_VERSION;
  h.type = type;
  h.flags = flags;
  h.stream_id = id;
  h.length = length;
  mux_header_encode(hdr, &h);
  if(id >= TP_RAW_BASE)
    tp_raw_find(tp, id);
  if(tp_send_raw(tp, hdr, sizeof(hdr)))
    return -1;
  return plen ? tp_send_raw(tp, payload, plen) : 0;
}

/* ---- managed streams ---------------------------------------------------- */

int tp_stream_open(tp_t *tp, tp_stream_t *s, const char *target)
{
  int64_t id;
  s->tp = tp;
  if(target) {
    int n = snprintf(s->line, sizeof(s->line), "%s\n", target);
    if(n < 0 || (size_t)n >= sizeof(s->line))
      return BEACON_ETOOLONG;
    s->line_len = (size_t)n;
  }
  if(!s->chunk)
    s->chunk = 65536;
  id = mux_open(tp->mux, s);
  if(id < 0)
    return (int)id;
  s->id = (uint32_t)id;
  s->t_open = tp_now();
  tp_stream_pump(s);
  return 0;
}

void tp_stream_pump(tp_stream_t *s)
{
  mux_t *m = s->tp->mux;
  uint8_t buf[65536];
  if(!s->id || s->closed || s->reset || s->fin_out)
    return;
  while(s->line_off < s->line_len) {
    int64_t r =
        mux_stream_write(m, s->id, (const uint8_t *)s->line + s->line_off,
                         s->line_len - s->line_off);
    if(r <= 0)
      return;
    s->line_off += (size_t)r;
  }
  while(s->pay_off < s->pay_len) {
    uint64_t left = s->pay_len - s->pay_off;
    size_t n = s->chunk < sizeof(buf) ? s->chunk : sizeof(buf);
    int64_t r;
    if(left < n)
      n = (size_t)left;
    if(s->fixed)
      memcpy(buf, s->fixed + s->pay_off, n);
    else
      tp_pattern(s->seed, s->pay_off, buf, n);
    r = mux_stream_write(m, s->id, buf, n);
    if(r <= 0)
      return;
    if(s->sha_out)
      EVP_DigestUpdate(s->sha_out, buf, (size_t)r);
    s->pay_off += (uint64_t)r;
    if((size_t)r < n)
      return; /* window or queue full: on_writable resumes */
  }
  if(s->want_fin && mux_stream_close(m, s->id) == 0)
    s->fin_out = 1;
}

int tp_stream_sent(const tp_stream_t *s)
{
  return s->line_off == s->line_len && s->pay_off == s->pay_len &&
         (!s->want_fin || s->fin_out);
}

void tp_stream_hash(tp_stream_t *s, int out, int in)
{
  if(out && !s->sha_out) {
    s->sha_out = EVP_MD_CTX_new();
    EVP_DigestInit_ex(s->sha_out, EVP_sha256(), NULL);
  }
  if(in && !s->sha_in) {
    s->sha_in = EVP_MD_CTX_new();
    EVP_DigestInit_ex(s->sha_in, EVP_sha256(), NULL);
  }
}

static void digest_hex(void *ctx, char hex[65])
{
  uint8_t md[32];
  unsigned len = 0, i;
  hex[0] = '\0';
  if(!ctx)
    return;
  EVP_DigestFinal_ex(ctx, md, &len);
  for(i = 0; i < len && i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void tp_stream_digests(tp_stream_t *s, char out_hex[65], char in_hex[65])
{
  digest_hex(s->sha_out, out_hex);
  digest_hex(s->sha_in, in_hex);
}

void tp_stream_free(tp_stream_t *s)
{
  EVP_MD_CTX_free(s->sha_out);
  EVP_MD_CTX_free(s->sha_in);
  s->sha_out = NULL;
  s->sha_in = NULL;
}
