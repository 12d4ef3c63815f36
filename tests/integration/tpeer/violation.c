/*
 * violation.c - tpeer's raw and violation scenarios: frames that break
 * the yamux rules (docs/PROTOCOL.md "Multiplexing: yamux, protocol version 0")
 * are sent below the mux after the handshake, then the relay's reaction is
 * observed: Go Away and its code, RSTs, or the tunnel staying up. `--then-echo
 * T` checks that a tunnel that stayed up still carries a stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beacon/beacon.h"
#include "tpeer.h"
#include "scenario.h"

static int put_frame(uint8_t *out, uint8_t version, uint8_t type,
                     uint16_t flags, uint32_t id, uint32_t length)
{
  mux_header_t h;
  h.version = version;
  h.type = type;
  h.flags = flags;
  h.stream_id = id;
  h.length = length;
  mux_header_encode(out, &h);
  return MUX_HEADER_SIZE;
}

static int unhex(const char *s, uint8_t **out, size_t *len)
{
  size_t n = 0, cap = strlen(s) / 2 + 1;
  uint8_t *b = malloc(cap);
  int hi = -1;
  if(!b)
    return -1;
  for(; *s; s++) {
    int v;
    if(*s == ' ' || *s == ':' || *s == '\n')
      continue;
    if(*s >= '0' && *s <= '9')
      v = *s - '0';
    else if(*s >= 'a' && *s <= 'f')
      v = *s - 'a' + 10;
    else if(*s >= 'A' && *s <= 'F')
      v = *s - 'A' + 10;
    else {
      free(b);
      return -1;
    }
    if(hi < 0) {
      hi = v;
    } else {
      b[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  if(hi >= 0) {
    free(b);
    return -1;
  }
  *out = b;
  *len = n;
  return 0;
}

/* Observe the whole window: sc_wait() still returns as soon as the
 * tunnel ends. */
static int never(tp_t *tp, void *arg)
{
  return 0;
}

static int then_echo(tp_t *tp, const char *target)
{
  static const char msg[] = "still alive after the violation\n";
  tp_stream_t s;
  int r;
  memset(&s, 0, sizeof(s));
  s.fixed = (const uint8_t *)msg;
  s.pay_len = strlen(msg);
  s.want_fin = 1;
  r = tp_stream_open(tp, &s, target);
  if(r) {
    tp_err("then-echo: open: %s", beacon_strerror(r));
    return -1;
  }
  r = sc_wait(tp, &s, 1, NULL, NULL, tp_now() + 20000);
  if(r || s.reset || s.keep_len != strlen(msg) ||
     memcmp(s.keep, msg, s.keep_len)) {
    tp_err("then-echo %s: %s", target,
           r == -1   ? tp->why
           : r       ? "timed out"
           : s.reset ? "stream reset"
                     : "echo differs");
    return -1;
  }
  return 0;
}

/* Observes for wait_ms (or until the tunnel ends), reports, runs the
 * optional follow-up echo and checks --expect. */
static int observe(tp_t *tp, const sc_args_t *a, tp_json_t *j, uint64_t t0)
{
  tp_obs_t *o = &tp->obs;
  int rc = TP_EXIT_OK;
  sc_wait(tp, NULL, 0, never, NULL, t0 + a->wait_ms);
  if(o->go_away >= 0) {
    tp_json_int(j, "go_away", o->go_away);
    tp_json_int(j, "go_away_ms", (int64_t)(o->t_go_away - t0));
  } else
    tp_json_null(j, "go_away");
  tp_json_bool(j, "closed", tp->eof);
  if(tp->eof)
    tp_json_int(j, "closed_ms", (int64_t)(tp->t_closed - t0));
  tp_json_int(j, "rst", o->raw_rst);
  tp_json_int(j, "acks", o->raw_ack);
  tp_json_int(j, "ping_acks", o->ping_ack);
  tp_json_int(j, "frames", o->frames);
  if(a->then_echo) {
    int ok = !tp->eof && then_echo(tp, a->then_echo) == 0;
    tp_json_bool(j, "then_echo", ok);
    if(!ok)
      rc = TP_EXIT_FAIL;
  }
  if(a->expect) {
    int met;
    if(!strncmp(a->expect, "goaway:", 7))
      met = o->go_away == strtol(a->expect + 7, NULL, 10);
    else if(!strcmp(a->expect, "closed"))
      met = tp->eof;
    else if(!strcmp(a->expect, "up"))
      met = !tp->eof && o->go_away < 0;
    else if(!strcmp(a->expect, "rst"))
      met = o->raw_rst > 0;
    else {
      tp_err("--expect '%s': expected goaway:N, closed, up or rst", a->expect);
      return TP_EXIT_USAGE;
    }
    if(!met) {
      tp_err("expected %s; saw go_away %lld, closed %d (%s), %u RST",
             a->expect, (long long)o->go_away, tp->eof,
             tp->eof ? tp->why : "-", o->raw_rst);
      rc = TP_EXIT_FAIL;
    }
  }
  return rc;
}

int sc_raw(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  uint8_t *b;
  size_t n;
  uint64_t t0;
  if(!a->hex || unhex(a->hex, &b, &n)) {
    tp_err("raw: --hex FRAMES (hex digits) is required");
    return TP_EXIT_USAGE;
  }
  t0 = tp_now();
  if(tp_send_raw(tp, b, n)) {
    free(b);
    return TP_EXIT_CONN;
  }
  free(b);
  tp_json_int(j, "sent", (int64_t)n);
  return observe(tp, a, j, t0);
}

static uint64_t count_arg(const sc_args_t *a, uint64_t dflt)
{
  if(a->npos < 2)
    return dflt;
  return strtoull(a->pos[1], NULL, 10);
}

int sc_violation(tp_t *tp, const sc_args_t *a, tp_json_t *j)
{
  const char *kind = a->npos ? a->pos[0] : "";
  const uint32_t id = TP_RAW_BASE;
  uint8_t *buf = NULL;
  size_t len = 0, cap;
  uint64_t n = count_arg(a, 1000), i, t0;
  int rc;

  /* Large enough for every kind: window-overflow carries 256 KiB + 1. */
  cap = MUX_INITIAL_WINDOW + 4096 +
        (size_t)(n < 1000000 ? n : 1000000) * MUX_HEADER_SIZE;
  buf = calloc(1, cap);
  if(!buf)
    return TP_EXIT_CONN;
  if(!strcmp(kind, "bad-version")) {
    len += put_frame(buf, 1, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 1);
  } else if(!strcmp(kind, "bad-type")) {
    len += put_frame(buf, 0, 9, 0, 0, 0);
  } else if(!strcmp(kind, "even-id")) {
    len += put_frame(buf, 0, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 2, 0);
  } else if(!strcmp(kind, "dup-syn")) {
    len += put_frame(buf, 0, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, id, 0);
    len +=
        put_frame(buf + len, 0, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, id, 0);
  } else if(!strcmp(kind, "window-overflow")) {
    /* One Data frame one byte larger than the initial window. */
    len += put_frame(buf, 0, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, id, 0);
    len +=
        put_frame(buf + len, 0, MUX_TYPE_DATA, 0, id, MUX_INITIAL_WINDOW + 1);
    len += MUX_INITIAL_WINDOW + 1;
  } else if(!strcmp(kind, "huge-length")) {
    len += put_frame(buf, 0, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, id, 0);
    len += put_frame(buf + len, 0, MUX_TYPE_DATA, 0, id, 0xffffffffu);
  } else if(!strcmp(kind, "unknown-stream-data")) {
    /* Frames for a stream that is not live are drained and ignored. */
    len += put_frame(buf, 0, MUX_TYPE_DATA, 0, id + 0x1000, 5);
    memcpy(buf + len, "stray", 5);
    len += 5;
    len +=
        put_frame(buf + len, 0, MUX_TYPE_WINDOW_UPDATE, 0, id + 0x1002, 1000);
  } else if(!strcmp(kind, "double-fin")) {
    /* A stream kept live by a valid target line (the relay resets one
     * without), half-closed twice. */
    int k;
    if(!a->target) {
      tp_err("violation double-fin: --target HOST:PORT is required");
      free(buf);
      return TP_EXIT_USAGE;
    }
    k = snprintf((char *)buf + MUX_HEADER_SIZE, 300, "%s\n", a->target);
    len += put_frame(buf, 0, MUX_TYPE_DATA, MUX_FLAG_SYN, id, (uint32_t)k);
    len += (size_t)k;
    len += put_frame(buf + len, 0, MUX_TYPE_DATA, MUX_FLAG_FIN, id, 0);
    len += put_frame(buf + len, 0, MUX_TYPE_DATA, MUX_FLAG_FIN, id, 0);
  } else if(!strcmp(kind, "ping-flood")) {
    for(i = 0; i < n && len + MUX_HEADER_SIZE <= cap; i++)
      len +=
          put_frame(buf + len, 0, MUX_TYPE_PING, MUX_FLAG_SYN, 0, (uint32_t)i);
  } else if(!strcmp(kind, "syn-flood")) {
    for(i = 0; i < n && len + MUX_HEADER_SIZE <= cap; i++)
      len += put_frame(buf + len, 0, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN,
                       id + 2 * (uint32_t)i, 0);
  } else {
    tp_err("violation '%s': expected bad-version, bad-type, even-id, "
           "dup-syn, window-overflow, huge-length, unknown-stream-data, "
           "double-fin, ping-flood N or syn-flood N",
           kind);
    free(buf);
    return TP_EXIT_USAGE;
  }
  tp_json_str(j, "kind", kind);
  if(!strcmp(kind, "ping-flood") || !strcmp(kind, "syn-flood"))
    tp_json_int(j, "count", (int64_t)n);
  t0 = tp_now();
  rc = tp_send_raw(tp, buf, len) ? TP_EXIT_CONN : TP_EXIT_OK;
  free(buf);
  if(rc)
    return rc;
  return observe(tp, a, j, t0);
}
