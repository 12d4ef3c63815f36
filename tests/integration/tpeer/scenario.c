/*
 * scenario.c - tpeer's data scenarios: handshake, echo, upload, download,
 * split-target, bundle, expect-reset, hold, idle. Each prints one JSON
 * line on stdout and returns an exit code (tpeer.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beacon/beacon.h"
#include "common/outcome.h"
#include "tpeer.h"
#include "scenario.h"

/* ---- arguments ---------------------------------------------------------- */

static int parse_size(const char *s, uint64_t *out)
{
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if(errno || end == s || s[0] == '-')
    return -1;
  switch(*end) {
  case 'K':
  case 'k':
    v <<= 10;
    end++;
    break;
  case 'M':
  case 'm':
    v <<= 20;
    end++;
    break;
  case 'G':
  case 'g':
    v <<= 30;
    end++;
    break;
  default:
    break;
  }
  if(*end)
    return -1;
  *out = v;
  return 0;
}

int sc_parse(sc_args_t *a, int argc, char **argv)
{
  int i;
  memset(a, 0, sizeof(*a));
  a->streams = 1;
  a->chunk = 65536;
  a->wait_ms = 2000;
  a->ping_ms = 1000;
  a->seconds = 5;
  for(i = 0; i < argc; i++) {
    const char *k = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t n;
    if(strncmp(k, "--", 2)) {
      if(a->npos >= (int)(sizeof(a->pos) / sizeof(a->pos[0]))) {
        tp_err("unexpected argument '%s'", k);
        return -1;
      }
      a->pos[a->npos++] = k;
      continue;
    }
    if(!strcmp(k, "--then-echo-fin")) {
      a->flag_fin = 1;
      continue;
    }
    if(!v) {
      tp_err("%s needs a value", k);
      return -1;
    }
    i++;
    if(!strcmp(k, "--target") || !strcmp(k, "--then-echo")) {
      if(!strcmp(k, "--target"))
        a->target = v;
      else
        a->then_echo = v;
      continue;
    }
    if(!strcmp(k, "--expect-sha")) {
      a->expect_sha = v;
      continue;
    }
    if(!strcmp(k, "--payload")) {
      a->payload = v;
      continue;
    }
    if(!strcmp(k, "--hex")) {
      a->hex = v;
      continue;
    }
    if(!strcmp(k, "--expect")) {
      a->expect = v;
      continue;
    }
    if(parse_size(v, &n)) {
      tp_err("%s '%s': expected a number", k, v);
      return -1;
    }
    if(!strcmp(k, "--streams"))
      a->streams = n;
    else if(!strcmp(k, "--bytes"))
      a->bytes = n;
    else if(!strcmp(k, "--chunk"))
      a->chunk = n;
    else if(!strcmp(k, "--wait-ms"))
      a->wait_ms = n;
    else if(!strcmp(k, "--ping-ms"))
      a->ping_ms = n;
    else if(!strcmp(k, "--seconds"))
      a->seconds = n;
    else if(!strcmp(k, "--seed"))
      a->seed = n;
    else {
      tp_err("unknown option %s", k);
      return -1;
    }
  }
  if(!a->chunk || a->chunk > 65536) {
    tp_err("--chunk must be 1..65536");
    return -1;
  }
  return 0;
}

static int need_target(const sc_args_t *a, const char *scenario)
{
  if(a->target)
    return 0;
  tp_err("%s: --target HOST:PORT is required", scenario);
  return -1;
}

/* ---- waiting ------------------------------------------------------------ */

int sc_wait(tp_t *tp, tp_stream_t *ss, size_t n, int (*until)(tp_t *, void *),
            void *arg, uint64_t deadline)
{
  for(;;) {
    size_t i, open = 0;
    for(i = 0; i < n; i++) {
      if(!ss[i].closed) {
        open++;
        if(!tp_stream_sent(&ss[i]))
          tp_stream_pump(&ss[i]);
      }
    }
    if(until ? until(tp, arg) : !open)
      return 0;
    if(tp->eof)
      return -1;
    if(tp_now() >= deadline)
      return -2;
    tp_step(tp, 50);
  }
}

static const char *wait_err(tp_t *tp, int r)
{
  return r == -1 ? tp->why : "timed out";
}

static double secs_since(uint64_t t0)
{
  uint64_t d = tp_now() - t0;
  return d ? (double)d / 1000.0 : 0.001;
}

/* ---- handshake ---------------------------------------------------------- */

static int until_ping(tp_t *tp, void *arg)
{
  return tp->pings_acked > 0;
}

static int sc_handshake(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  uint32_t opaque;
  uint64_t t0 = tp_now();
  int r;
  r = mux_ping(tp->mux, t0, &opaque);
  if(r) {
    tp_err("cannot send a ping: %s", beacon_strerror(r));
    tp_json_str(j, "error", beacon_strerror(r));
    return TP_EXIT_CONN;
  }
  r = sc_wait(tp, NULL, 0, until_ping, NULL, t0 + 10000);
  tp_json_str(j, "version", tls_conn_version(tp->tls));
  tp_json_str(j, "cipher", tls_conn_cipher(tp->tls));
  if(r) {
    /* TLS 1.3: a refused client certificate shows up only now. */
    tp_err("no answer to a ping after the handshake: %s", wait_err(tp, r));
    tp_json_str(j, "error", wait_err(tp, r));
    return TP_EXIT_CONN;
  }
  tp_json_int(j, "rtt_ms", (int64_t)tp->rtt_sum_ms);
  return TP_EXIT_OK;
}

/* ---- echo --------------------------------------------------------------- */

static int sc_echo(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  tp_stream_t *ss;
  uint64_t t0 = tp_now(), i, bad = 0;
  char first[256] = "";
  int r;
  if(need_target(a, "echo") || !a->streams)
    return TP_EXIT_USAGE;
  ss = calloc(a->streams, sizeof(*ss));
  if(!ss)
    return TP_EXIT_CONN;
  for(i = 0; i < a->streams; i++) {
    ss[i].seed = a->seed * 1000003u + i + 1;
    ss[i].pay_len = a->bytes;
    ss[i].verify = 1;
    ss[i].want_fin = 1;
    ss[i].chunk = a->chunk;
    r = tp_stream_open(tp, &ss[i], a->target);
    if(r) {
      tp_err("echo: opening stream %llu: %s", (unsigned long long)i,
             beacon_strerror(r));
      free(ss);
      return TP_EXIT_FAIL;
    }
  }
  r = sc_wait(tp, ss, a->streams, NULL, NULL, UINT64_MAX);
  for(i = 0; i < a->streams; i++) {
    tp_stream_t *s = &ss[i];
    const char *why = NULL;
    if(s->reset)
      why = "reset by the relay";
    else if(s->mismatch)
      why = "echoed bytes differ";
    else if(s->in_len != a->bytes)
      why = "short echo";
    else if(!s->fin_in)
      why = "no FIN";
    if(why) {
      if(!bad++)
        snprintf(first, sizeof(first),
                 "stream %u: %s (got %llu of %llu bytes%s%llu)", s->id, why,
                 (unsigned long long)s->in_len, (unsigned long long)a->bytes,
                 s->mismatch ? ", first difference at " : "",
                 s->mismatch ? (unsigned long long)s->mismatch_at : 0ull);
    }
  }
  {
    double secs = secs_since(t0);
    tp_json_int(j, "streams", (int64_t)a->streams);
    tp_json_int(j, "bytes", (int64_t)a->bytes);
    tp_json_num(j, "seconds", secs);
    tp_json_num(j, "mbps", (double)a->streams * (double)a->bytes / secs / 1e6);
    tp_json_int(j, "failed", (int64_t)bad);
  }
  free(ss);
  if(r && !bad) {
    snprintf(first, sizeof(first), "%s", wait_err(tp, r));
    bad = 1;
  }
  if(bad) {
    tp_err("echo: %llu stream(s) failed; first: %s", (unsigned long long)bad,
           first);
    tp_json_str(j, "error", first);
    return TP_EXIT_FAIL;
  }
  return TP_EXIT_OK;
}

/* ---- upload / download -------------------------------------------------- */

static int sc_upload(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  tp_stream_t s;
  uint64_t t0 = tp_now();
  char out[65], in[65], want[160], verdict[TP_KEEP + 1];
  int r;
  if(need_target(a, "upload"))
    return TP_EXIT_USAGE;
  memset(&s, 0, sizeof(s));
  s.seed = a->seed + 1;
  s.pay_len = a->bytes;
  s.want_fin = 1;
  s.chunk = a->chunk;
  tp_stream_hash(&s, 1, 0);
  r = tp_stream_open(tp, &s, a->target);
  if(!r)
    r = sc_wait(tp, &s, 1, NULL, NULL, UINT64_MAX);
  tp_stream_digests(&s, out, in);
  tp_stream_free(&s);
  memcpy(verdict, s.keep, s.keep_len);
  verdict[s.keep_len] = '\0';
  snprintf(want, sizeof(want), "%llu %s\n", (unsigned long long)a->bytes, out);
  tp_json_int(j, "bytes", (int64_t)a->bytes);
  tp_json_str(j, "sha256", out);
  tp_json_str(j, "verdict", verdict);
  tp_json_num(j, "mbps", (double)a->bytes / secs_since(t0) / 1e6);
  if(r || s.reset || strcmp(verdict, want)) {
    const char *why = r         ? wait_err(tp, r)
                      : s.reset ? "stream reset"
                                : "wrong verdict";
    tp_err("upload: %s: sink said '%.*s', expected '%.*s'", why,
           (int)strcspn(verdict, "\n"), verdict, (int)strcspn(want, "\n"),
           want);
    tp_json_str(j, "error", why);
    return TP_EXIT_FAIL;
  }
  return TP_EXIT_OK;
}

static int until_fin(tp_t *tp, void *arg)
{
  tp_stream_t *s = arg;
  return s->fin_in || s->closed;
}

static int sc_download(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  tp_stream_t s;
  uint64_t t0 = tp_now();
  char out[65], in[65];
  const char *why = NULL;
  int r;
  if(need_target(a, "download"))
    return TP_EXIT_USAGE;
  memset(&s, 0, sizeof(s));
  tp_stream_hash(&s, 0, 1);
  r = tp_stream_open(tp, &s, a->target);
  /* FIN only after the source's FIN: some relays end both directions at
   * the first EOF. */
  if(!r)
    r = sc_wait(tp, &s, 1, until_fin, &s, UINT64_MAX);
  if(!r && !s.closed) {
    s.want_fin = 1;
    tp_stream_pump(&s);
    r = sc_wait(tp, &s, 1, NULL, NULL, tp_now() + 10000);
  }
  tp_stream_digests(&s, out, in);
  tp_stream_free(&s);
  tp_json_int(j, "bytes", (int64_t)s.in_len);
  tp_json_str(j, "sha256", in);
  tp_json_num(j, "mbps", (double)s.in_len / secs_since(t0) / 1e6);
  if(r)
    why = wait_err(tp, r);
  else if(s.reset)
    why = "stream reset";
  else if(a->bytes && s.in_len != a->bytes)
    why = "wrong byte count";
  else if(a->expect_sha && strcmp(a->expect_sha, in))
    why = "wrong sha256";
  if(why) {
    tp_err("download: %s (%llu bytes, sha256 %s; want %llu, %s)", why,
           (unsigned long long)s.in_len, in, (unsigned long long)a->bytes,
           a->expect_sha ? a->expect_sha : "-");
    tp_json_str(j, "error", why);
    return TP_EXIT_FAIL;
  }
  return TP_EXIT_OK;
}

/* ---- target line shapes ------------------------------------------------- */

static int check_echo_reply(tp_stream_t *s, const char *payload, int r,
                            tp_t *tp, tp_json_t *j, const char *name)
{
  size_t n = strlen(payload);
  const char *why = NULL;
  if(r)
    why = wait_err(tp, r);
  else if(s->reset)
    why = "stream reset";
  else if(s->keep_len != n || memcmp(s->keep, payload, n))
    why = "echo differs";
  tp_json_int(j, "echoed", (int64_t)s->in_len);
  if(why) {
    tp_err("%s: %s (got %zu bytes '%.*s')", name, why, s->keep_len,
           (int)s->keep_len, (const char *)s->keep);
    tp_json_str(j, "error", why);
    return TP_EXIT_FAIL;
  }
  return TP_EXIT_OK;
}

static int sc_split_target(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  static const char payload[] = "split target line: payload intact\n";
  char line[300];
  tp_stream_t s;
  size_t i, n;
  int r;
  if(need_target(a, "split-target"))
    return TP_EXIT_USAGE;
  n = (size_t)snprintf(line, sizeof(line), "%s\n", a->target);
  memset(&s, 0, sizeof(s));
  r = tp_stream_open(tp, &s, NULL);
  /* One byte per Data frame: each is flushed before the next is queued,
   * so the mux cannot coalesce them. */
  for(i = 0; !r && i < n; i++) {
    if(mux_stream_write(tp->mux, s.id, (const uint8_t *)line + i, 1) != 1 ||
       tp_flush(tp, tp_now() + 10000))
      r = -1;
  }
  if(!r) {
    s.fixed = (const uint8_t *)payload;
    s.pay_len = strlen(payload);
    s.want_fin = 1;
    r = sc_wait(tp, &s, 1, NULL, NULL, tp_now() + 30000);
  }
  tp_json_int(j, "frames", (int64_t)n);
  return check_echo_reply(&s, payload, r, tp, j, "split-target");
}

static int until_raw_done(tp_t *tp, void *arg)
{
  tp_raw_t *raw = arg;
  return raw->fin || raw->rst;
}

static int sc_bundle(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  static const char payload[] = "bundled with the target line in SYN\n";
  uint8_t frame[400];
  uint32_t id = TP_RAW_BASE;
  tp_raw_t *raw;
  size_t n;
  int r;
  const char *why = NULL;
  if(need_target(a, "bundle"))
    return TP_EXIT_USAGE;
  n = (size_t)snprintf((char *)frame, sizeof(frame), "%s\n%s", a->target,
                       payload);
  /* The whole stream in two frames: Data|SYN carrying the target line
   * and payload, then Data|FIN. */
  if(tp_send_frame(tp, MUX_TYPE_DATA, MUX_FLAG_SYN, id, (uint32_t)n, frame,
                   n) ||
     tp_send_frame(tp, MUX_TYPE_DATA, MUX_FLAG_FIN, id, 0, NULL, 0))
    return TP_EXIT_CONN;
  raw = tp_raw_find(tp, id);
  r = sc_wait(tp, NULL, 0, until_raw_done, raw, tp_now() + 30000);
  tp_json_int(j, "echoed", (int64_t)raw->len);
  tp_json_bool(j, "acked", raw->acked);
  if(r)
    why = wait_err(tp, r);
  else if(raw->rst)
    why = "stream reset";
  else if(raw->len != strlen(payload) || memcmp(raw->data, payload, raw->len))
    why = "echo differs";
  if(why) {
    tp_err("bundle: %s (got %zu bytes '%.*s')", why, raw->len, (int)raw->len,
           (const char *)raw->data);
    tp_json_str(j, "error", why);
    return TP_EXIT_FAIL;
  }
  return TP_EXIT_OK;
}

/* ---- expect-reset ------------------------------------------------------- */

static int until_end(tp_t *tp, void *arg)
{
  tp_stream_t *s = arg;
  return s->reset || s->closed || s->fin_in || s->in_len;
}

static int sc_expect_reset(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  tp_stream_t s;
  const char *why = NULL;
  uint64_t wait = a->wait_ms > 2000 ? a->wait_ms : 60000;
  int r;
  if(need_target(a, "expect-reset"))
    return TP_EXIT_USAGE;
  memset(&s, 0, sizeof(s));
  if(a->payload) {
    s.fixed = (const uint8_t *)a->payload;
    s.pay_len = strlen(a->payload);
  }
  r = tp_stream_open(tp, &s, a->target);
  if(r) {
    tp_err("expect-reset: open: %s", beacon_strerror(r));
    return TP_EXIT_FAIL;
  }
  r = sc_wait(tp, &s, 1, until_end, &s, tp_now() + wait);
  if(r)
    why = wait_err(tp, r);
  else if(!s.reset)
    why = s.in_len ? "data arrived instead of RST"
                   : "FIN arrived instead of RST";
  tp_json_bool(j, "reset", s.reset);
  tp_json_int(j, "acked", s.acked);
  if(s.reset)
    tp_json_int(j, "reset_ms", (int64_t)(s.t_end - s.t_open));
  if(why) {
    tp_err("expect-reset %s: %s", a->target, why);
    tp_json_str(j, "error", why);
    return TP_EXIT_FAIL;
  }
  return TP_EXIT_OK;
}

/* ---- hold and idle ------------------------------------------------------ */

static int until_answered(tp_t *tp, void *arg)
{
  const sc_args_t *a = arg;
  tp_stream_t *ss = (tp_stream_t *)a->user;
  uint64_t i;
  for(i = 0; i < a->streams; i++)
    if(!ss[i].acked && !ss[i].reset && !ss[i].closed)
      return 0;
  return 1;
}

static int until_stdin(tp_t *tp, void *arg)
{
  char buf[512];
  if(!tp->extra_ready)
    return 0;
  tp->extra_ready = 0;
  return read(0, buf, sizeof(buf)) <= 0;
}

static int sc_hold(tp_t *tp, sc_args_t *a, tp_json_t *j)
{
  tp_stream_t *ss;
  uint64_t i, acked = 0, reset = 0, opened = 0, limited = 0, revoked = 0;
  int r = 0;
  if(need_target(a, "hold"))
    return TP_EXIT_USAGE;
  ss = calloc(a->streams ? a->streams : 1, sizeof(*ss));
  if(!ss)
    return TP_EXIT_CONN;
  for(i = 0; i < a->streams && !r; i++) {
    r = tp_stream_open(tp, &ss[i], a->target);
    if(r)
      tp_err("hold: opening stream %llu: %s", (unsigned long long)i,
             beacon_strerror(r));
    else
      opened++;
    /* Keep the mux queue moving while thousands of SYNs go out. */
    if((i & 255) == 255)
      tp_step(tp, 0);
  }
  a->streams = opened;
  a->user = ss;
  r = sc_wait(tp, NULL, 0, until_answered, a, tp_now() + 60000);
  for(i = 0; i < opened; i++) {
    acked += ss[i].acked;
    reset += ss[i].reset;
  }
  if(!r) {
    printf("ready %llu %llu\n", (unsigned long long)acked,
           (unsigned long long)reset);
    fflush(stdout);
    tp->extra_fd = 0;
    r = sc_wait(tp, NULL, 0, until_stdin, NULL, UINT64_MAX);
  }
  for(i = 0, reset = 0; i < opened; i++) {
    reset += ss[i].reset;
    limited += ss[i].reset && ss[i].reset_code == OUTCOME_REASON_RELAY_LIMIT;
    revoked += ss[i].reset && ss[i].reset_code == OUTCOME_REASON_REVOKED;
  }
  free(ss);
  tp_json_int(j, "streams", (int64_t)opened);
  tp_json_int(j, "acked", (int64_t)acked);
  tp_json_int(j, "reset", (int64_t)reset);
  tp_json_int(j, "relay_limit", (int64_t)limited);
  tp_json_int(j, "revoked", (int64_t)revoked);
  tp_json_bool(j, "alive", !tp->eof);
  if(r) {
    tp_err("hold: %s", wait_err(tp, r));
    tp_json_str(j, "error", wait_err(tp, r));
    return TP_EXIT_FAIL;
  }
  return TP_EXIT_OK;
}

static int sc_idle(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  uint64_t t0 = tp_now(), end = t0 + a->seconds * 1000u, next = t0;
  uint32_t sent = 0, opaque;
  while(!tp->eof && tp_now() < end) {
    if(a->ping_ms && tp_now() >= next) {
      if(mux_ping(tp->mux, tp_now(), &opaque) == 0)
        sent++;
      next += a->ping_ms;
    }
    tp_step(tp, 50);
  }
  tp_json_num(j, "seconds", secs_since(t0));
  tp_json_int(j, "pings_sent", sent);
  tp_json_int(j, "pings_acked", tp->pings_acked);
  tp_json_int(j, "relay_pings", tp->obs.ping_syn);
  tp_json_bool(j, "alive", !tp->eof);
  if(tp->eof) {
    tp_err("idle: the tunnel ended after %.1fs: %s",
           (double)(tp->t_closed - t0) / 1000.0, tp->why);
    tp_json_str(j, "error", tp->why);
    return TP_EXIT_FAIL;
  }
  return TP_EXIT_OK;
}

/* ---- dispatch ----------------------------------------------------------- */

int tp_run_scenario(const tp_opts_t *o, const char *name, int argc,
                    char **argv)
{
  tp_t tp;
  tp_json_t j;
  sc_args_t a;
  tp_opts_t opts = *o;
  int rc;

  static const char *const names[] = {
      "handshake",    "echo", "upload", "download", "split-target", "bundle",
      "expect-reset", "hold", "idle",   "raw",      "violation",    NULL};
  size_t k;

  for(k = 0; names[k] && strcmp(names[k], name); k++)
    ;
  if(!names[k]) {
    tp_err("unknown scenario '%s' (try --help)", name);
    return TP_EXIT_USAGE;
  }
  if(sc_parse(&a, argc, argv))
    return TP_EXIT_USAGE;
  if(!strcmp(name, "hold") && a.streams + 16 > 4096)
    opts.max_streams = (uint32_t)a.streams + 16;
  tp_json_begin(&j);
  tp_json_str(&j, "scenario", name);
  rc = tp_connect(&tp, &opts);
  if(rc) {
    tp_json_bool(&j, "ok", 0);
    tp_json_str(&j, "error", "connect or TLS handshake failed");
    tp_json_print(&j);
    tp_close(&tp);
    return rc;
  }
  if(!strcmp(name, "handshake"))
    rc = sc_handshake(&tp, &a, &j);
  else if(!strcmp(name, "echo"))
    rc = sc_echo(&tp, &a, &j);
  else if(!strcmp(name, "upload"))
    rc = sc_upload(&tp, &a, &j);
  else if(!strcmp(name, "download"))
    rc = sc_download(&tp, &a, &j);
  else if(!strcmp(name, "split-target"))
    rc = sc_split_target(&tp, &a, &j);
  else if(!strcmp(name, "bundle"))
    rc = sc_bundle(&tp, &a, &j);
  else if(!strcmp(name, "expect-reset"))
    rc = sc_expect_reset(&tp, &a, &j);
  else if(!strcmp(name, "hold"))
    rc = sc_hold(&tp, &a, &j);
  else if(!strcmp(name, "idle"))
    rc = sc_idle(&tp, &a, &j);
  else if(!strcmp(name, "raw"))
    rc = sc_raw(&tp, &a, &j);
  else
    rc = sc_violation(&tp, &a, &j);
  tp_json_bool(&j, "ok", rc == TP_EXIT_OK);
  if(tp.eof)
    tp_json_str(&j, "tunnel_end", tp.why);
  tp_json_print(&j);
  tp_close(&tp);
  return rc;
}
