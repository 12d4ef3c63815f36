/*
 * fuzz_relay_session.c - a whole relay tunnel, driven from the fuzz
 * input: the controller's bytes are encrypted by a real TLS client and
 * fed as ciphertext to the relay's connection core (src/conn, as
 * src/relay/tunnel.c configures it: TLS 1.3 server, yamux server,
 * high-water mark, keep-alive and write-stall deadlines), and the rest
 * of the relay (target sockets, dial results, time, the tunnel's write
 * readiness) is played by the input too.
 *
 * The relay's streams (src/relay/stream.c) are built on libuv sockets
 * and timers, so they cannot run here. Their protocol side is modelled
 * exactly as stream.c uses the cores (docs/PROTOCOL.md "The target
 * line", docs/PROTOCOL.md "Relaying", docs/ARCHITECTURE.md "Deny by
 * default"): every
 * stream is accepted, its first bytes go through target_parse(), IP
 * literals and "resolved" names are checked by policy_check() before any
 * dial, bytes after the newline are held for the target and the window
 * is granted back only as the target "writes" them, target data goes
 * back through mux_stream_write() within the send window, FIN and RST
 * map both ways, and the target-line deadline and the core's deadlines
 * run off a fake clock.
 *
 * Invariants checked (abort on violation): no stream ever holds more
 * than its window of bytes for the target; the tunnel's output stays
 * bounded (mux queue, and ciphertext by the high-water mark); a target
 * that passed the parser formats back into a line that parses to the
 * same target; no payload byte is consumed as part of the target line;
 * after the connection ends no stream is left.
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
#include "conn/conn.h"
#include "mux/mux.h"
#include "policy/policy.h"
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

enum st_state { ST_FREE = 0, ST_LINE, ST_DIAL, ST_UP };

typedef struct slot {
  enum st_state state;
  uint32_t id;
  target_parser_t parser;
  target_t target;
  uint64_t opened;  /* fake clock at SYN: the target-line deadline */
  size_t to_target; /* payload held for the target, not yet granted */
  int fin_in;       /* controller half-closed */
  int shut_wr;      /* "shutdown(SHUT_WR)" done towards the target */
  int target_eof;   /* target half-closed: FIN sent on the stream */
  int blocked;      /* a write took less than offered */
} slot_t;

typedef struct relay {
  conn_t *c; /* the relay side of the tunnel */
  mux_t *m;  /* conn_mux(c) once up */
  int closed;
  policy_t *pol;
  slot_t s[SLOTS];
  uint64_t now;
  const uint8_t *in; /* for decisions taken inside callbacks */
  size_t in_len, in_off;
} relay_t;

/* The fuzzer calls the mux at random: a failing call is one more
 * outcome to survive, not an error to handle. */
static void may_fail(int64_t rc)
{
  (void)rc;
}

static uint8_t take(relay_t *r)
{
  return r->in_off < r->in_len ? r->in[r->in_off++] : 0;
}

static slot_t *find(relay_t *r, uint32_t id)
{
  int i;
  for(i = 0; i < SLOTS; i++) {
    if(r->s[i].state != ST_FREE && r->s[i].id == id)
      return &r->s[i];
  }
  return NULL;
}

/* The relay's stream_done: one place that ends a stream with RST. */
static void reset(relay_t *r, slot_t *s)
{
  may_fail(mux_stream_reset(r->m, s->id)); /* on_closed frees the slot */
}

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

/* The target line is complete: the relay checks the policy on the
 * address it would dial, then starts the dial. */
static void line_done(relay_t *r, slot_t *s)
{
  policy_addr_t a;
  const char *why = NULL;
  check_roundtrip(&s->target);
  if(s->target.kind == TARGET_DNS) {
    const char *ip =
        resolved[take(r) % (sizeof(resolved) / sizeof(resolved[0]))];
    if(policy_addr_parse(ip, &a))
      abort();
  } else if(policy_addr_parse(s->target.host, &a)) {
    abort(); /* the parser accepted a literal the policy cannot read */
  }
  if(!policy_check(r->pol, &a, s->target.port, &why)) {
    if(!why)
      abort(); /* every refusal must be explainable in the log */
    reset(r, s);
    return;
  }
  s->state = ST_DIAL;
}

static int on_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  relay_t *r = ud;
  int i;
  (void)m;
  (void)sud;
  for(i = 0; i < SLOTS; i++) {
    if(r->s[i].state == ST_FREE) {
      memset(&r->s[i], 0, sizeof(r->s[i]));
      r->s[i].state = ST_LINE;
      r->s[i].id = id;
      r->s[i].opened = r->now;
      target_parser_init(&r->s[i].parser);
      return 0;
    }
  }
  return BEACON_ELIMIT;
}

static void on_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t len, void *ud)
{
  relay_t *r = ud;
  slot_t *s = find(r, id);
  volatile uint8_t sink = 0;
  size_t k, used;
  int rc;
  (void)sud;
  for(k = 0; k < len; k++)
    sink ^= d[k]; /* touch every byte: ASan checks the pointer */
  (void)sink;
  if(!s)
    abort(); /* data for a stream the mux never opened to us */
  if(s->state == ST_LINE) {
    used = len;
    rc = target_parse(&s->parser, d, &used, &s->target);
    if(used > len)
      abort();
    /* the line's own bytes are consumed at once */
    if(mux_stream_consumed(m, id, used))
      abort();
    if(rc == BEACON_EAGAIN) {
      if(used != len)
        abort();
      return;
    }
    if(rc) {
      reset(r, s);
      return;
    }
    /* exactly through the newline: the rest is payload */
    if(used == 0 || d[used - 1] != '\n')
      abort();
    s->to_target += len - used;
    line_done(r, s);
    return;
  }
  s->to_target += len;
  /* the mux enforces the window: the relay never holds more */
  if(s->to_target > MUX_INITIAL_WINDOW)
    abort();
}

static void on_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  relay_t *r = ud;
  slot_t *s = find(r, id);
  (void)m;
  (void)sud;
  if(!s)
    abort();
  if(s->state == ST_LINE) {
    reset(r, s); /* FIN before a complete target line */
    return;
  }
  s->fin_in = 1;
}

static void on_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  slot_t *s = find(ud, id);
  (void)m;
  (void)sud;
  if(s)
    s->blocked = 0;
}

static void on_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  slot_t *s = find(ud, id);
  (void)m;
  (void)sud;
  if(s)
    s->state = ST_FREE;
}

static void on_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  (void)m;
  (void)id;
  (void)sud;
  (void)ud; /* on_closed follows */
}

static void on_go_away(mux_t *m, uint32_t code, void *ud)
{
  (void)m;
  (void)code;
  (void)ud; /* the relay lets live streams finish */
}

/* Picks a live slot in the wanted state from the next input byte. */
static slot_t *pick(relay_t *r, enum st_state want)
{
  int start = take(r) % SLOTS, i;
  for(i = 0; i < SLOTS; i++) {
    slot_t *s = &r->s[(start + i) % SLOTS];
    if(s->state == want)
      return s;
  }
  return NULL;
}

static void event(relay_t *r, unsigned ev)
{
  static const uint8_t pattern[4096] = {1, 2, 3};
  slot_t *s;
  size_t n;
  int64_t w;
  int i;
  switch(ev) {
  case 1: /* time passes: keep-alive and target-line deadlines */
    r->now += 1000u * (1u + take(r) % 16u);
    /* A drop comes only once the connection closed (on_close ran). */
    if(conn_tick(r->c, r->now) == CONN_TICK_DROP && !r->closed)
      abort();
    if(r->closed)
      break;
    for(i = 0; i < SLOTS; i++) {
      s = &r->s[i];
      if(s->state == ST_LINE && r->now - s->opened >= LINE_DEADLINE_MS)
        reset(r, s);
    }
    break;
  case 2: /* a dial finishes: connected, refused or timed out */
    s = pick(r, ST_DIAL);
    if(!s)
      break;
    if(take(r) % 4 == 0)
      reset(r, s);
    else
      s->state = ST_UP;
    break;
  case 3: /* the target accepts bytes: grant the window back */
    s = pick(r, ST_UP);
    if(!s || !s->to_target)
      break;
    n = 1 + (size_t)take(r) * 1024u;
    if(n > s->to_target)
      n = s->to_target;
    s->to_target -= n;
    if(mux_stream_consumed(r->m, s->id, n) && !mux_is_dead(r->m))
      abort();
    if(!s->to_target && s->fin_in)
      s->shut_wr = 1;
    break;
  case 4: /* the target sends: within the stream's send window */
    s = pick(r, ST_UP);
    if(!s || s->target_eof || s->blocked)
      break;
    n = 1 + (size_t)take(r) * 16u;
    w = mux_stream_write(r->m, s->id, pattern, n);
    if(w < 0)
      break;
    if((size_t)w > n || w > MUX_INITIAL_WINDOW)
      abort();
    if((size_t)w < n)
      s->blocked = 1;
    break;
  case 5: /* target EOF: FIN on the stream, then maybe the stream ends */
    s = pick(r, ST_UP);
    if(s && !s->target_eof) {
      s->target_eof = 1;
      may_fail(mux_stream_close(r->m, s->id));
    }
    break;
  case 6: /* target reset */
    s = pick(r, (enum st_state)(ST_DIAL + take(r) % 2));
    if(s)
      reset(r, s);
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
  static const conn_callbacks_t ccb = {.on_close = on_close};
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
  cfgb = data[0];
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
  /* the relay's rule set: the harness's --allow plus a --deny */
  if(cfgb & 16) {
    if(policy_add(r.pol, 1, "127.0.0.0/8:1-1024", NULL, 0) ||
       policy_add(r.pol, 0, "192.0.2.0/24", NULL, 0))
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
    /* the worker's check handle: output moves through TLS each turn */
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
  for(i = 0; i < SLOTS; i++) {
    if(r.s[i].state != ST_FREE)
      abort();
  }
out:
  conn_free(r.c);
  tls_conn_free(cl);
  policy_free(r.pol);
  return 0;
}
