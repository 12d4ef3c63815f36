/*
 * fuzz_relay_session.c - a whole relay tunnel, driven from the fuzz
 * input: the controller's bytes are encrypted by a real TLS client and
 * fed as ciphertext to the relay's connection core (src/conn, as
 * src/relay/relay_tunnel.c configures it: TLS 1.3 server, yamux server,
 * high-water mark, keep-alive and write-stall deadlines), and every
 * stream is the relay's real stream core (src/relay/stream_core.c),
 * wired as src/relay/relay_stream.c wires it: the mux's stream events
 * and on_recv_done go to the core, the target line's deadline runs on
 * the connection core's conn_deadline_t. The rest of the relay (target
 * sockets, dial results, time, the tunnel's write readiness, the memory
 * quota) is played by the input: the core's actions are the ops below.
 *
 * Invariants checked (abort on violation): the core's held bytes are
 * exactly its pending, queued and stashed bytes, and the quota sees the
 * same sum; the tunnel's held_up is the sum of its streams' pending and
 * queued bytes; no stream holds more than a window of bytes for the target;
 * the target reads only when the core asked for it, is written only
 * while connected and shut only once; dials in progress never pass the
 * cap; a target that passed the parser formats back into a line that
 * parses to the same target; the tunnel's output stays bounded (mux
 * queue, and ciphertext by the high-water mark); after the connection
 * ends every stream finished, no dial is counted and no byte is charged.
 *
 * Input: byte 0 picks the configuration; then records of a control byte
 * (low 5 bits + 1 = bytes of the controller's plaintext from the input,
 * one TLS record; top 3 bits = the relay-side event run after the feed)
 * each followed by its bytes. The certificates are made once per process
 * in a temporary directory; each input gets its own TLS handshake.
 */
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "beacon/beacon.h"
#include "common/list.h"
#include "conn/conn.h"
#include "mux/mux.h"
#include "policy/policy.h"
#include "relay/stream_core.h"
#include "target/target.h"
#include "cli_support/pki.h"
#include "tls/tls.h"

#define SLOTS 64
#define LINE_DEADLINE_MS 10000
#define OUT_BOUND (4u << 20)
#define WRITE_TIMEOUT_MS 10000
#define HIGH_WATER (1u << 20)
#define SMALL_HIGH_WATER (16u * 1024u)
#define FLUSH_SLICE (64u * 1024u)
/* TLS record overhead on top of the plaintext a flush may overshoot. */
#define CIPHER_SLACK (8u * 1024u)
#define SMALL_QUOTA (64u * 1024u)
/* The most a fake target read brings. */
#define TARGET_READ_MAX (64u * 1024u)

/* One stream: the real core and what the fake target side knows. */
typedef struct slot {
  int used;
  int finished; /* the core's finished op ran */
  stream_core_t core;
  conn_deadline_t line; /* the target line's deadline */
  int dialling;         /* a dial op is outstanding */
  int dial_status;      /* what the dial will report (policy verdict) */
  char resolved[TARGET_MAX_LINE + 1];
  int connected;
  int reading;    /* the core asked the target to be read */
  int shut_asked; /* shut_write ran, completion not reported */
  int shut_count;
  size_t queued;    /* bytes the "adapter" holds for the target */
  uint64_t written; /* bytes the target took */
} slot_t;

typedef struct relay {
  conn_t *c; /* the relay side of the tunnel */
  mux_t *m;  /* conn_mux(c) once up */
  int closed;
  policy_t *pol;
  stream_core_tunnel_t tun;
  stream_gather_t gather;
  stream_quota_t quota;
  size_t quota_limit; /* 0 = unlimited */
  size_t charged;     /* what the quota holds */
  slot_t s[SLOTS];
  uint64_t now;
  const uint8_t *in; /* for decisions taken inside callbacks */
  size_t in_len, in_off;
} relay_t;

static uint8_t take(relay_t *r)
{
  return r->in_off < r->in_len ? r->in[r->in_off++] : 0;
}

/* ---- the quota: counts every byte, optionally small ---- */

static int q_admit(void *ud)
{
  relay_t *r = ud;
  return !r->quota_limit || r->charged < r->quota_limit;
}

static int q_hold(void *ud, size_t n)
{
  relay_t *r = ud;
  r->charged += n;
  return r->quota_limit && r->charged > r->quota_limit ? -1 : 0;
}

static void q_release(void *ud, size_t n)
{
  relay_t *r = ud;
  if(n > r->charged)
    abort(); /* released more than was held */
  r->charged -= n;
}

/* ---- the core's ops: the target side, played by the input ---- */

static relay_t *g_relay; /* the ops' relay (one input at a time) */

/* A target that passed the parser must format back into the same one. */
static void check_roundtrip(const target_t *t)
{
  char line[TARGET_MAX_LINE + 8];
  target_parser_t p;
  target_t again;
  size_t n;
  int len = target_format(t, line, sizeof(line));
  if(len <= 0)
    abort();
  target_parser_init(&p);
  n = (size_t)len;
  if(target_parse(&p, (const uint8_t *)line, &n, &again) || n != (size_t)len ||
     again.kind != t->kind || again.port != t->port ||
     strcmp(again.host, t->host))
    abort();
}

/* Addresses a name may "resolve" to: the policy must judge the address
 * actually dialled (docs/ARCHITECTURE.md "Deny by default"), loopback and
 * metadata included. */
static const char *const resolved[] = {
    "127.0.0.1",   "169.254.169.254",  "192.0.2.10", "::1",
    "fe80::1",     "::ffff:127.0.0.1", "0.0.0.0",    "224.0.0.1",
    "2001:db8::5", "10.1.2.3"};

/* The dial: the policy judges the address it would connect to. */
static int op_dial(void *ud, const target_t *tgt)
{
  slot_t *s = ud;
  relay_t *r = g_relay;
  policy_addr_t a;
  const char *why = NULL, *ip = tgt->host;
  check_roundtrip(tgt);
  if(s->dialling || s->connected || s->core.state != STREAM_DIAL)
    abort();
  if(r->tun.max_dials && r->tun.dials > r->tun.max_dials)
    abort();
  conn_deadline_stop(&s->line);
  if(take(r) % 32 == 0)
    return BEACON_ENOMEM; /* the resolver could not start */
  if(tgt->kind == TARGET_DNS)
    ip = resolved[take(r) % (sizeof(resolved) / sizeof(resolved[0]))];
  if(policy_addr_parse(ip, &a))
    abort(); /* the parser accepted a literal the policy cannot read */
  s->dial_status = 0;
  if(!policy_check(r->pol, &a, tgt->port, &why)) {
    if(!why)
      abort(); /* every refusal must be explainable in the log */
    s->dial_status = BEACON_EPOLICY;
  }
  snprintf(s->resolved, sizeof(s->resolved), "%s", ip);
  s->dialling = 1;
  return 0;
}

static int64_t op_write(void *ud, const stream_core_iov_t *iov, unsigned n,
                        char *why, size_t why_len)
{
  slot_t *s = ud;
  relay_t *r = g_relay;
  volatile uint8_t sink = 0;
  size_t total = 0;
  if(!s->connected || s->shut_count || !n)
    abort();
  for(unsigned i = 0; i < n; i++) {
    for(size_t k = 0; k < iov[i].n; k++)
      sink ^= iov[i].p[k]; /* touch every byte: ASan checks the pointer */
    total += iov[i].n;
  }
  (void)sink;
  uint8_t how = take(r);
  if(how == 0xff) {
    snprintf(why, why_len, "target write: EPIPE");
    return -1;
  }
  /* Written now: nothing when bytes are queued (they go first). */
  size_t now = s->queued ? 0 : total * (how & 0x0f) / 15;
  s->queued += total - now;
  s->written += now;
  return (int64_t)now;
}

static int op_shut_write(void *ud)
{
  slot_t *s = ud;
  if(!s->connected || s->shut_count++)
    abort(); /* shut once, and only a connected target */
  if(take(g_relay) == 0xff)
    return -1;
  s->shut_asked = 1;
  return 0;
}

static int op_read(void *ud, int on)
{
  slot_t *s = ud;
  if(!s->connected || s->reading == on)
    abort(); /* the core tracks reading: no repeats */
  s->reading = on;
  return on && take(g_relay) == 0xff ? -1 : 0;
}

static void op_finished(void *ud)
{
  slot_t *s = ud;
  if(s->finished || s->core.mux_live)
    abort(); /* once, and only after the mux forgot the stream */
  s->finished = 1;
  s->dialling = 0;
  conn_deadline_stop(&s->line);
}

static const stream_core_ops_t ops = {.dial = op_dial,
                                      .write = op_write,
                                      .shut_write = op_shut_write,
                                      .read = op_read,
                                      .finished = op_finished};

/* The core's byte accounting is exact. */
static void check_slot(const slot_t *s)
{
  const stream_core_t *c = &s->core;
  if(c->held != c->pend_bytes + c->queued + pump_stashed(&c->pump))
    abort();
  /* every held byte is charged; upstream ones are the tunnel's too */
  if(c->charged != c->held || c->held_up != c->pend_bytes + c->queued)
    abort();
  if(c->queued != s->queued)
    abort();
  /* the window bounds what a stream holds for its target */
  if(c->pend_bytes + c->queued > MUX_DEFAULT_MAX_WINDOW)
    abort();
  if(c->bytes_up != s->written)
    abort();
}

/* The worker's reap: finished streams are freed outside the callbacks. */
static void reap(relay_t *r)
{
  size_t held = 0, held_up = 0;
  unsigned dials = 0;
  for(int i = 0; i < SLOTS; i++) {
    slot_t *s = &r->s[i];
    if(!s->used)
      continue;
    check_slot(s);
    if(s->finished) {
      stream_core_free(&s->core);
      s->used = 0;
      continue;
    }
    held += s->core.charged;
    held_up += s->core.held_up;
    dials += s->core.dialling;
  }
  if(held != r->charged || dials != r->tun.dials || held_up != r->tun.held_up)
    abort();
  if(r->tun.max_dials && r->tun.dials > r->tun.max_dials)
    abort();
}

/* ---- mux and connection callbacks, as relay_stream.c wires them ---- */

static int on_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  relay_t *r = ud;
  for(int i = 0; i < SLOTS; i++) {
    slot_t *s = &r->s[i];
    if(s->used)
      continue;
    memset(s, 0, sizeof(*s));
    r->tun.mux = m;
    int rc = stream_core_init(&s->core, &r->tun, id, &ops, s, r->now);
    if(rc < 0)
      return rc;
    s->used = 1;
    conn_deadline_init(&s->line);
    conn_deadline_start(r->c, &s->line, s->core.deadline);
    *sud = s;
    return rc;
  }
  return BEACON_ELIMIT;
}

static void on_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t len, void *ud)
{
  relay_t *r = ud;
  slot_t *s = sud;
  (void)m;
  if(!s || s->core.id != id)
    abort(); /* data for a stream the mux never opened to us */
  stream_core_on_data(&s->core, d, len, conn_in_recv(r->c), r->now);
}

static void on_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  (void)m;
  (void)id;
  stream_core_on_fin(&((slot_t *)sud)->core, ((relay_t *)ud)->now);
}

static void on_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  (void)m;
  (void)id;
  (void)ud;
  stream_core_on_writable(&((slot_t *)sud)->core);
}

static void on_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  (void)m;
  (void)id;
  relay_t *r = ud;
  /* relay_tunnel_closing(): the connection core is ending */
  stream_core_on_closed(&((slot_t *)sud)->core,
                        r->closed || conn_state(r->c) == CONN_CLOSING);
}

static void on_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  (void)m;
  (void)id;
  (void)ud;
  stream_core_on_reset(&((slot_t *)sud)->core);
}

static void on_go_away(mux_t *m, uint32_t code, void *ud)
{
  (void)m;
  (void)code;
  (void)ud; /* the relay lets live streams finish */
}

static void on_recv_done(conn_t *c, void *ud)
{
  relay_t *r = ud;
  (void)c;
  stream_gather_flush(&r->gather, r->now);
}

static void on_deadline(conn_t *c, conn_deadline_t *d, uint64_t now, void *ud)
{
  (void)c;
  (void)ud;
  stream_core_tick(&LIST_CONTAINER(d, slot_t, line)->core, now);
}

/* Picks a live slot that matches from the next input byte. */
static slot_t *pick(relay_t *r, int (*want)(const slot_t *))
{
  int start = take(r) % SLOTS, i;
  for(i = 0; i < SLOTS; i++) {
    slot_t *s = &r->s[(start + i) % SLOTS];
    if(s->used && !s->finished && want(s))
      return s;
  }
  return NULL;
}

static int is_dialling(const slot_t *s)
{
  return s->dialling;
}

static int has_queued(const slot_t *s)
{
  return s->queued || s->shut_asked;
}

static int is_reading(const slot_t *s)
{
  return s->reading;
}

static int is_connected(const slot_t *s)
{
  return s->connected;
}

static void dial_done(relay_t *r, slot_t *s)
{
  static const int failures[] = {BEACON_EREFUSED, BEACON_ENOTFOUND,
                                 BEACON_ETIMEDOUT, BEACON_EIO};
  uint8_t how = take(r);
  int status = s->dial_status;
  s->dialling = 0;
  if(!status && how % 4 == 0)
    status = failures[(how / 4) % 4];
  if(!status)
    s->connected = 1;
  stream_core_on_dialled(&s->core, status, how & 0x80 ? -113 : 0, s->resolved,
                         status ? "dial failed" : NULL, r->now);
}

/* The target took n queued bytes, or finished the shutdown. */
static void target_wrote(relay_t *r, slot_t *s)
{
  uint8_t how = take(r);
  if(!s->queued) {
    s->shut_asked = 0;
    if(how == 0xff)
      stream_core_on_target_error(&s->core, "target shutdown failed");
    else
      stream_core_on_target_shut(&s->core);
    return;
  }
  size_t n = 1 + (size_t)how * 1024u;
  if(n > s->queued)
    n = s->queued;
  s->queued -= n;
  s->written += n;
  stream_core_on_target_written(&s->core, n, r->now);
}

static void event(relay_t *r, unsigned ev)
{
  static const uint8_t pattern[TARGET_READ_MAX] = {1, 2, 3};
  slot_t *s;
  size_t n;
  switch(ev) {
  case 1: /* time passes: keep-alive and target-line deadlines */
    r->now += 1000u * (1u + take(r) % 16u);
    /* A drop comes only once the connection closed (on_close ran). */
    if(conn_tick(r->c, r->now) == CONN_TICK_DROP && !r->closed)
      abort();
    break;
  case 2: /* a dial finishes: connected, refused, timed out... */
    if((s = pick(r, is_dialling)))
      dial_done(r, s);
    break;
  case 3: /* the target takes queued bytes */
    if((s = pick(r, has_queued)))
      target_wrote(r, s);
    break;
  case 4: /* the target sends, while it is read */
    if(!(s = pick(r, is_reading)))
      break;
    /* Up to 128 bytes, or from 0x80 on 512 bytes a step up to
     * TARGET_READ_MAX: a few reads fill a window and make the pump
     * stash, which single bytes never did within a run. */
    n = take(r);
    n = n < 0x80 ? 1 + n : (n - 0x7f) * 512u;
    n = stream_core_read_size(&s->core, n);
    if(n)
      stream_core_on_target_read(&s->core, pattern, n);
    else
      stream_core_on_target_full(&s->core);
    break;
  case 5: /* target EOF */
    if((s = pick(r, is_reading)))
      stream_core_on_target_eof(&s->core);
    break;
  case 6: /* the target connection fails */
    if((s = pick(r, is_connected)))
      stream_core_on_target_error(&s->core, "target read: ECONNRESET");
    break;
  case 7: { /* the tunnel socket takes some output */
    const uint8_t *p;
    uint8_t how = take(r);
    size_t room = (size_t)(how & 0x7f) * 1024u;
    if(conn_queued(r->c) && (how & 0x80)) /* an earlier write completes */
      conn_write_done(r->c, conn_queued(r->c), r->now);
    while(room && !r->closed && (n = conn_pending(r->c, &p)) > 0) {
      if(n > room)
        n = room;
      if(how & 0x80) /* copied into a write still in flight */
        conn_advance_queued(r->c, n);
      else
        conn_advance(r->c, n);
      room -= n;
      if(conn_flush(r->c, r->now))
        break;
    }
    break;
  }
  default:
    break;
  }
}

/* ---- the tunnel: certificates, TLS client, connection core ---- */

static char pki_dir[256];
static tls_ctx_t *server_ctx, *client_ctx;

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *f)
{
  (void)st;
  (void)flag;
  (void)f;
  return remove(p);
}

static void pki_cleanup(void)
{
  tls_ctx_unref(server_ctx);
  tls_ctx_unref(client_ctx);
  if(pki_dir[0])
    nftw(pki_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *pki_file(const char *name)
{
  static char buf[4][320];
  static int i;
  i = (i + 1) % 4;
  snprintf(buf[i], sizeof(buf[i]), "%s/%s", pki_dir, name);
  return buf[i];
}

/* A development PKI, made once per process. */
static void pki_once(void)
{
  char err[512];
  const char *tmp = getenv("TMPDIR");
  if(server_ctx)
    return;
  snprintf(pki_dir, sizeof(pki_dir), "%s/beacon-fuzz-XXXXXX",
           tmp ? tmp : "/tmp");
  if(!mkdtemp(pki_dir) || pki_init(pki_file("pki"), 0, err, sizeof(err)) ||
     tls_ctx_new(&server_ctx, TLS_SERVER, pki_file("pki/relay.crt"),
                 pki_file("pki/relay.key"), pki_file("pki/fleet-ca.crt"), NULL,
                 err, sizeof(err)) ||
     tls_ctx_new(&client_ctx, TLS_CLIENT, pki_file("pki/controller.crt"),
                 pki_file("pki/controller.key"), pki_file("pki/fleet-ca.crt"),
                 NULL, err, sizeof(err))) {
    fprintf(stderr, "fuzz_relay_session: PKI setup failed: %s\n", err);
    abort();
  }
  atexit(pki_cleanup);
}

static void on_close(conn_t *c, enum conn_close_reason why, void *ud)
{
  relay_t *r = ud;
  (void)c;
  if(!conn_close_reason_name(why))
    abort();
  r->closed = 1;
}

/* Moves the client's ciphertext to the relay. */
static int to_relay(relay_t *r, tls_conn_t *cl)
{
  const uint8_t *p;
  size_t n;
  int rc = 0;
  while(!rc && !r->closed && (n = tls_conn_out_peek(cl, &p)) > 0) {
    static uint8_t buf[1 << 16];
    if(n > sizeof(buf))
      n = sizeof(buf);
    memcpy(buf, p, n);
    tls_conn_out_consume(cl, n);
    rc = conn_feed(r->c, buf, n, r->now);
    if(rc < 0 && !r->closed)
      abort(); /* a failure must close the connection */
  }
  return rc;
}

/* Both handshakes through memory; 0 when the relay is up. */
static int handshake(relay_t *r, tls_conn_t *cl)
{
  for(int i = 0; i < 10; i++) {
    int crc = tls_conn_handshake(cl);
    if(crc < 0 && crc != BEACON_EAGAIN)
      return -1;
    to_relay(r, cl);
    if(r->closed)
      return -1;
    const uint8_t *p;
    size_t n;
    while((n = conn_pending(r->c, &p)) > 0) {
      if(tls_conn_feed(cl, p, n))
        return -1;
      conn_advance(r->c, n);
    }
    if(conn_state(r->c) == CONN_UP && crc == 0)
      return 0;
  }
  return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const mux_callbacks_t cb = {.on_stream_open = on_open,
                                     .on_data = on_data,
                                     .on_fin = on_fin,
                                     .on_reset = on_reset,
                                     .on_writable = on_writable,
                                     .on_stream_closed = on_closed,
                                     .on_go_away = on_go_away};
  static const conn_callbacks_t ccb = {.on_close = on_close,
                                       .on_recv_done = on_recv_done,
                                       .on_deadline = on_deadline};
  relay_t r;
  conn_config_t cfg;
  tls_conn_t *cl = NULL;
  uint8_t cfgb;
  size_t off = 1;
  int i;

  if(size < 1)
    return 0;
  pki_once();
  memset(&r, 0, sizeof(r));
  r.in = data;
  r.in_len = size;
  g_relay = &r;
  cfgb = data[0];
  /* what relay_tunnel_accept() and cb_up give the streams */
  r.quota = (stream_quota_t){q_admit, q_hold, q_release, &r};
  r.quota_limit = (cfgb & 64) ? SMALL_QUOTA : 0;
  r.tun.quota = &r.quota;
  r.tun.target_timeout_ms = LINE_DEADLINE_MS;
  r.tun.max_dials = (cfgb & 128) ? 2 : STREAM_CORE_MAX_DIALS_DEFAULT;
  r.tun.confirm_connect = (cfgb & 2) != 0;
  r.tun.gather = &r.gather;
  conn_config_default(&cfg);
  cfg.handshake_timeout_ms = 10000;
  cfg.write_timeout_ms = WRITE_TIMEOUT_MS;
  cfg.high_water = (cfgb & 32) ? SMALL_HIGH_WATER : HIGH_WATER;
  cfg.flush_slice = FLUSH_SLICE;
  cfg.mux.is_client = 0;
  cfg.mux.max_streams = (cfgb & 1) ? 8 : SLOTS;
  cfg.mux.accept_backlog = (cfgb & 2) ? 4 : 256;
  cfg.mux.max_outbuf = (cfgb & 4) ? 4096 : (1u << 20);
  if(cfgb & 8) {
    cfg.mux.keepalive_ms = 20000;
    cfg.mux.keepalive_timeout_ms = 10000;
  }
  r.now = 1000;
  r.c = conn_new(&cfg, server_ctx, NULL, &ccb, &cb, &r, r.now);
  cl = tls_conn_new(client_ctx, "localhost");
  r.pol = policy_new();
  if(!r.c || !cl || !r.pol)
    goto out;
  if(handshake(&r, cl))
    abort(); /* the development PKI must always get through */
  r.m = conn_mux(r.c);
  r.tun.mux = r.m;
  /* the relay's rule set: the harness's --allow plus a --deny, or
   * everywhere the default refusals leave */
  if(cfgb & 16) {
    if(policy_add(r.pol, 1, "127.0.0.0/8:1-1024", NULL, 0) ||
       policy_add(r.pol, 0, "192.0.2.0/24", NULL, 0))
      abort();
  } else if(policy_add(r.pol, 1, "0.0.0.0/0", NULL, 0) ||
            policy_add(r.pol, 1, "::/0", NULL, 0)) {
    abort();
  }
  while(off < size && !r.closed) {
    uint8_t c = data[off++];
    size_t n = (size_t)(c & 0x1f) + 1;
    if(n > size - off)
      n = size - off;
    r.in_off = off + n; /* callbacks draw decisions after the feed */
    if(tls_conn_write(cl, data + off, n) != (int)n)
      abort();
    to_relay(&r, cl);
    off = r.in_off > off + n ? r.in_off : off + n;
    if(r.closed)
      break;
    r.in_off = off;
    event(&r, c >> 5);
    off = r.in_off;
    if(r.closed)
      break;
    /* the worker's check handle: streams reaped, output moves through
     * TLS each turn */
    reap(&r);
    if(conn_flush(r.c, r.now))
      break;
    if(conn_unencrypted(r.c) > OUT_BOUND)
      abort();
    if(conn_waiting(r.c) > cfg.high_water + FLUSH_SLICE + CIPHER_SLACK)
      abort();
  }
  /* the transport goes away: every stream must be handed back */
  conn_close(r.c, CONN_CLOSE_EOF, r.now);
  if(mux_stream_count(r.m))
    abort();
  /* A stream both sides closed is out of the mux but still owes its
   * target the bytes it was given and the shutdown; the targets finish
   * them (as libuv's writes do after the tunnel is gone). */
  for(i = 0; i < SLOTS; i++) {
    slot_t *s = &r.s[i];
    if(!s->used || s->finished)
      continue;
    if(s->queued) {
      size_t n = s->queued;
      s->queued = 0;
      s->written += n;
      stream_core_on_target_written(&s->core, n, r.now);
    }
    if(s->shut_asked) {
      s->shut_asked = 0;
      stream_core_on_target_shut(&s->core);
    }
  }
  reap(&r);
  for(i = 0; i < SLOTS; i++) {
    if(r.s[i].used)
      abort();
  }
  if(r.charged || r.tun.dials)
    abort();
out:
  for(i = 0; i < SLOTS; i++) /* after an early end */
    if(r.s[i].used)
      stream_core_free(&r.s[i].core);
  conn_free(r.c);
  tls_conn_free(cl);
  policy_free(r.pol);
  return 0;
}
