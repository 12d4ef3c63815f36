/*
 * test_mux.c - the yamux session core frame by frame: exact bytes on the
 * wire for every operation and every protocol error (docs/PROTOCOL.md
 * "Multiplexing: yamux, protocol version 0").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "mux/mux.h"

enum {
  EV_OPEN = 1,
  EV_ACK,
  EV_DATA,
  EV_FIN,
  EV_RESET,
  EV_WRITABLE,
  EV_CLOSED,
  EV_PING_ACK,
  EV_GO_AWAY
};

typedef struct ev {
  int type;
  uint32_t id;
  uint64_t val;
  void *sud;
} ev_t;

typedef struct fx {
  mux_t *m;
  ev_t ev[256];
  int nev;
  uint8_t data[8192];
  size_t ndata;
  int open_rc;       /* what on_stream_open returns */
  int reset_in_data; /* on_data resets the stream */
  int reset_on;      /* this event type resets the stream */
  int shutdown_on;   /* this event type shuts the session down */
  int consume_in_data;
  size_t write_in_writable; /* on_writable writes this many bytes */
  int nrefused;             /* on_stream_refused calls */
  int last_refused_why;
  uint32_t last_refused_id;
} fx_t;

static void add(fx_t *f, int type, uint32_t id, uint64_t val, void *sud)
{
  if(f->nev < 256) {
    f->ev[f->nev].type = type;
    f->ev[f->nev].id = id;
    f->ev[f->nev].val = val;
    f->ev[f->nev].sud = sud;
    f->nev++;
  }
  /* Callbacks may end the stream or the session under the core's feet. */
  if(f->reset_on == type)
    assert_int_equal(mux_stream_reset(f->m, id), 0);
  if(f->shutdown_on == type)
    mux_shutdown(f->m);
}

static int cb_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  fx_t *f = ud;
  add(f, EV_OPEN, id, 0, NULL);
  *sud = (void *)(uintptr_t)(0x1000 + id);
  return f->open_rc;
}

static void cb_ack(mux_t *m, uint32_t id, void *sud, void *ud)
{
  add(ud, EV_ACK, id, 0, sud);
}

static void cb_data(mux_t *m, uint32_t id, void *sud, const uint8_t *d,
                    size_t len, void *ud)
{
  fx_t *f = ud;
  add(f, EV_DATA, id, len, sud);
  if(f->ndata + len <= sizeof(f->data)) {
    memcpy(f->data + f->ndata, d, len);
    f->ndata += len;
  }
  if(f->consume_in_data)
    assert_int_equal(mux_stream_consumed(m, id, len), 0);
  if(f->reset_in_data)
    assert_int_equal(mux_stream_reset(m, id), 0);
}

static void cb_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  add(ud, EV_FIN, id, 0, sud);
}

static void cb_reset(mux_t *m, uint32_t id, void *sud, void *ud)
{
  add(ud, EV_RESET, id, mux_reset_code(m), sud);
}

static void cb_writable(mux_t *m, uint32_t id, void *sud, void *ud)
{
  fx_t *f = ud;
  static const uint8_t fill[4096];
  add(f, EV_WRITABLE, id, 0, sud);
  if(f->write_in_writable)
    assert_true(mux_stream_write(m, id, fill, f->write_in_writable) >= 0);
}

static void cb_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  add(ud, EV_CLOSED, id, 0, sud);
}

static void cb_ping_ack(mux_t *m, uint32_t opaque, uint64_t rtt, void *ud)
{
  add(ud, EV_PING_ACK, opaque, rtt, NULL);
}

static void cb_go_away(mux_t *m, uint32_t code, void *ud)
{
  add(ud, EV_GO_AWAY, 0, code, NULL);
}

static void cb_refused(mux_t *m, uint32_t id, int why, void *ud)
{
  fx_t *f = ud;
  f->nrefused++;
  f->last_refused_id = id;
  f->last_refused_why = why;
}

static const mux_callbacks_t cbs = {
    cb_open,     cb_ack,    cb_data,     cb_fin,     cb_reset,
    cb_writable, cb_closed, cb_ping_ack, cb_go_away, cb_refused};

static fx_t *fx_new_cfg(const mux_config_t *cfg)
{
  fx_t *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  f->m = mux_new(cfg, &cbs, f, 0);
  assert_non_null(f->m);
  return f;
}

static fx_t *fx_new(int is_client)
{
  mux_config_t cfg;
  mux_config_default(&cfg);
  cfg.is_client = is_client;
  return fx_new_cfg(&cfg);
}

static void fx_free(fx_t *f)
{
  mux_free(f->m);
  free(f);
}

static void hdr(uint8_t *b, uint8_t type, uint16_t flags, uint32_t id,
                uint32_t len)
{
  mux_header_t h = {0, type, flags, id, len};
  mux_header_encode(b, &h);
}

/* Feeds one frame; returns mux_recv()'s result. */
static int feed(fx_t *f, uint8_t type, uint16_t flags, uint32_t id,
                uint32_t len, const void *payload, size_t plen)
{
  uint8_t b[MUX_HEADER_SIZE + 4096];
  assert_true(plen <= 4096);
  hdr(b, type, flags, id, len);
  if(plen)
    memcpy(b + MUX_HEADER_SIZE, payload, plen);
  return mux_recv(f->m, b, MUX_HEADER_SIZE + plen);
}

static void feed_ok(fx_t *f, uint8_t type, uint16_t flags, uint32_t id,
                    uint32_t len, const void *payload, size_t plen)
{
  assert_int_equal(feed(f, type, flags, id, len, payload, plen),
                   (int)(MUX_HEADER_SIZE + plen));
}

/* The next 12 output bytes must be exactly `want`. */
static void out_bytes(fx_t *f, const uint8_t *want)
{
  uint8_t got[MUX_HEADER_SIZE];
  assert_int_equal(mux_send(f->m, got, sizeof(got)), MUX_HEADER_SIZE);
  assert_memory_equal(got, want, MUX_HEADER_SIZE);
}

static void out_frame(fx_t *f, uint8_t type, uint16_t flags, uint32_t id,
                      uint32_t len)
{
  uint8_t want[MUX_HEADER_SIZE];
  hdr(want, type, flags, id, len);
  out_bytes(f, want);
}

static void out_none(fx_t *f)
{
  assert_int_equal(mux_pending_total(f->m), 0);
}

static const uint8_t GA_PROTO[] = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static void assert_proto_err(fx_t *f, int rc)
{
  assert_int_equal(rc, BEACON_EPROTO);
  assert_true(mux_is_dead(f->m));
  /* Go Away goes out first; anything after it no longer matters. */
  out_bytes(f, GA_PROTO);
  /* Dead stays dead. */
  assert_int_equal(feed(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 1, NULL, 0),
                   BEACON_EPROTO);
  assert_int_equal(mux_open(f->m, NULL), BEACON_ECLOSED);
}

/* Server with client stream 1 accepted and its ACK flushed. */
static fx_t *server_with_stream_cfg(const mux_config_t *cfg)
{
  static const uint8_t ack1[] = {0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0};
  fx_t *f = fx_new_cfg(cfg);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  out_bytes(f, ack1);
  out_none(f);
  f->nev = 0;
  return f;
}

static fx_t *server_with_stream(void)
{
  mux_config_t cfg;
  mux_config_default(&cfg);
  return server_with_stream_cfg(&cfg);
}

/* Go's fixed 256 KiB windows (no auto-tuning): the grants are exact. */
static fx_t *server_with_fixed_stream(void)
{
  mux_config_t cfg;
  mux_config_default(&cfg);
  cfg.max_window = 0;
  cfg.window_budget = 0;
  return server_with_stream_cfg(&cfg);
}

/* Writes len bytes on stream id, sending queued output whenever the
 * stream's share of the queue is full; returns what was taken (less
 * than len only when the send window is shut). */
static int64_t write_all(fx_t *f, uint32_t id, const uint8_t *data, size_t len)
{
  static uint8_t sink[65536];
  size_t done = 0;
  while(done < len) {
    int64_t n = mux_stream_write(f->m, id, data + done, len - done);
    assert_true(n >= 0);
    done += (size_t)n;
    if(!n && !mux_send(f->m, sink, sizeof(sink)))
      break;
  }
  while(mux_send(f->m, sink, sizeof(sink)))
    ;
  return (int64_t)done;
}

static void test_header_codec(void **state)
{
  static const uint8_t want[] = {0,    2,    0x80, 0x05, 0xde, 0xad,
                                 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
  mux_header_t h = {0, MUX_TYPE_PING, 0x8005, 0xdeadbeef, 0x01020304};
  mux_header_t d;
  uint8_t b[MUX_HEADER_SIZE];
  mux_header_encode(b, &h);
  assert_memory_equal(b, want, sizeof(want));
  mux_header_decode(&d, b);
  assert_int_equal(d.version, 0);
  assert_int_equal(d.type, MUX_TYPE_PING);
  assert_int_equal(d.flags, 0x8005);
  assert_int_equal(d.stream_id, 0xdeadbeef);
  assert_int_equal(d.length, 0x01020304);
}

static void test_config(void **state)
{
  mux_config_t cfg;
  mux_t *m;
  mux_config_default(&cfg);
  assert_int_equal(cfg.max_streams, 4096);
  assert_int_equal(cfg.accept_backlog, 256);
  assert_int_equal(cfg.max_window, 32 * 1024 * 1024);
  assert_int_equal(cfg.window_budget, 64 * 1024 * 1024);
  assert_int_equal(cfg.max_outbuf, 1024 * 1024);
  assert_int_equal(cfg.keepalive_ms, 0);
  cfg.max_window = 1000;
  assert_null(mux_new(&cfg, &cbs, NULL, 0));
  mux_config_default(&cfg);
  cfg.max_outbuf = 10;
  assert_null(mux_new(&cfg, &cbs, NULL, 0));
  memset(&cfg, 0, sizeof(cfg)); /* zeros mean defaults */
  m = mux_new(&cfg, NULL, NULL, 0);
  assert_non_null(m);
  assert_int_equal(mux_next_deadline(m), UINT64_MAX);
  mux_free(m);
  mux_free(NULL);
  assert_true(mux_stream_state_size() < 64);
}

static void test_open_client_server(void **state)
{
  static const uint8_t syn1[] = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
  static const uint8_t syn3[] = {0, 1, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0};
  static const uint8_t syn2[] = {0, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0};
  fx_t *c = fx_new(1);
  fx_t *s = fx_new(0);
  assert_int_equal(mux_open(c->m, (void *)0x11), 1);
  assert_int_equal(mux_open(c->m, NULL), 3);
  out_bytes(c, syn1);
  out_bytes(c, syn3);
  out_none(c);
  assert_int_equal(mux_stream_count(c->m), 2);
  assert_int_equal(mux_open(s->m, NULL), 2);
  out_bytes(s, syn2);
  /* ACK from the server, with data: on_stream_ack then on_data. */
  feed_ok(c, MUX_TYPE_DATA, MUX_FLAG_ACK, 1, 3, "abc", 3);
  assert_int_equal(c->nev, 2);
  assert_int_equal(c->ev[0].type, EV_ACK);
  assert_int_equal(c->ev[0].id, 1);
  assert_ptr_equal(c->ev[0].sud, (void *)0x11);
  assert_int_equal(c->ev[1].type, EV_DATA);
  assert_memory_equal(c->data, "abc", 3);
  /* A repeated ACK is ignored. */
  feed_ok(c, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 1, 0, NULL, 0);
  assert_int_equal(c->nev, 2);
  fx_free(c);
  fx_free(s);
}

static void test_accept_and_data(void **state)
{
  static const uint8_t data[] = {0, 0, 0, 0,   0,   0,   0,   1,  0,
                                 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
  fx_t *f = server_with_stream();
  uint8_t got[64];
  assert_int_equal(mux_stream_write(f->m, 1, (const uint8_t *)"hello", 5), 5);
  assert_int_equal(mux_pending_total(f->m), sizeof(data));
  assert_int_equal(mux_send(f->m, got, sizeof(got)), sizeof(data));
  assert_memory_equal(got, data, sizeof(data));
  assert_int_equal(mux_stream_send_window(f->m, 1), 256 * 1024 - 5);
  assert_int_equal(mux_stream_write(f->m, 1, got, 0), 0);
  assert_int_equal(mux_stream_write(f->m, 9, got, 1), BEACON_ECLOSED);
  assert_int_equal(mux_stream_set_user(f->m, 1, (void *)0x77), 0);
  feed_ok(f, MUX_TYPE_DATA, 0, 1, 2, "hi", 2);
  assert_int_equal(f->ev[0].type, EV_DATA);
  assert_ptr_equal(f->ev[0].sud, (void *)0x77);
  fx_free(f);
}

static void test_syn_with_data(void **state)
{
  fx_t *f = fx_new(0);
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_SYN, 5, 4, "ping", 4);
  assert_int_equal(f->nev, 2);
  assert_int_equal(f->ev[0].type, EV_OPEN);
  assert_int_equal(f->ev[1].type, EV_DATA);
  assert_ptr_equal(f->ev[1].sud, (void *)(uintptr_t)0x1005);
  assert_memory_equal(f->data, "ping", 4);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 5, 0);
  out_none(f);
  fx_free(f);
}

static void test_refused_by_app(void **state)
{
  fx_t *f = fx_new(0);
  f->open_rc = BEACON_EPOLICY;
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_SYN, 1, 3, "abc", 3);
  assert_int_equal(f->nev, 1); /* no on_data, no on_stream_closed */
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 1, 0);
  out_none(f);
  assert_int_equal(mux_stream_count(f->m), 0);
  fx_free(f);
}

static void test_window_grant(void **state)
{
  fx_t *f = server_with_fixed_stream();
  static uint8_t buf[4096];
  uint32_t i;
  /* 128 KiB arrive; consuming less than half the window sends nothing. */
  for(i = 0; i < 32; i++)
    feed_ok(f, MUX_TYPE_DATA, 0, 1, 4096, buf, 4096);
  assert_int_equal(mux_stream_consumed(f->m, 1, 131071), 0);
  out_none(f);
  assert_int_equal(mux_stream_consumed(f->m, 1, 1), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 131072);
  out_none(f);
  assert_int_equal(mux_stream_consumed(f->m, 1, 1), BEACON_EINVAL);
  /* The window is back to 256 KiB: exactly that much is accepted. */
  for(i = 0; i < 64; i++)
    feed_ok(f, MUX_TYPE_DATA, 0, 1, 4096, buf, 4096);
  assert_false(mux_is_dead(f->m));
  assert_proto_err(f, feed(f, MUX_TYPE_DATA, 0, 1, 1, buf, 1));
  fx_free(f);
}

static void test_window_grant_large(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  cfg.max_window = 1024 * 1024;
  cfg.window_budget = 0; /* a fixed window of 1 MiB */
  f = fx_new_cfg(&cfg);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 1, 0);
  feed_ok(f, MUX_TYPE_DATA, 0, 1, 100, f->data, 100);
  /* The first grant grows the peer's view from 256 KiB to 1 MiB. */
  assert_int_equal(mux_stream_consumed(f->m, 1, 100), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 1024 * 1024 - 256 * 1024 + 100);
  out_none(f);
  fx_free(f);
}

/* Feeds n bytes of Data on stream 1 in 4 KiB frames. */
static void feed_data(fx_t *f, uint32_t n)
{
  static uint8_t buf[4096];
  while(n) {
    uint32_t k = n < sizeof(buf) ? n : (uint32_t)sizeof(buf);
    feed_ok(f, MUX_TYPE_DATA, 0, 1, k, buf, k);
    n -= k;
  }
}

/* Auto-tuned server stream with a 50 ms round trip measured at t=1050:
 * the first grant (t=1000) sent the probe ping with it. */
static fx_t *tuned_stream(const mux_config_t *cfg)
{
  fx_t *f = server_with_stream_cfg(cfg);
  mux_now(f->m, 1000);
  feed_data(f, 128 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  /* No estimate yet: no growth, and a ping (ahead of queued frames). */
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 1);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 128 * 1024);
  out_none(f);
  mux_now(f->m, 1050);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 1, NULL, 0);
  assert_int_equal(mux_rtt(f->m), 50);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 256 * 1024);
  return f;
}

static void test_autotune_grows(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  f = tuned_stream(&cfg);
  /* Half the window consumed 90 ms after the last grant, with a 50 ms
   * round trip (under two round trips, over one and a half): the window
   * held the stream back, so it doubles. */
  mux_now(f->m, 1090);
  feed_data(f, 128 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 384 * 1024);
  out_none(f);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 512 * 1024);
  assert_int_equal(mux_window_extra(f->m), 256 * 1024);
  /* The peer may now send the whole new window (128 KiB it had left plus
   * the 384 KiB grant): all of it is taken, one byte more is a protocol
   * error. */
  feed_data(f, 512 * 1024);
  assert_false(mux_is_dead(f->m));
  {
    static uint8_t one[1];
    assert_proto_err(f, feed(f, MUX_TYPE_DATA, 0, 1, 1, one, 1));
  }
  fx_free(f);
}

/* Faster than one and a half round trips per half window: fourfold; a
 * burst at the link's pace: straight to twice its bandwidth-delay
 * product. */
static void test_autotune_ramps(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  f = tuned_stream(&cfg);
  mux_now(f->m, 1060);
  feed_data(f, 128 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 1024 * 1024);
  /* Half of that (512 KiB) in 2 ms at a 50 ms round trip: 2 x 512 KiB x
   * 50 / 2 = 25 MiB, more than fourfold. */
  mux_now(f->m, 1062);
  feed_data(f, 512 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 512 * 1024), 0);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 25 * 1024 * 1024);
  /* Then the cap: max_window (32 MiB). */
  mux_now(f->m, 1063);
  feed_data(f, 12800 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 12800 * 1024), 0);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 32 * 1024 * 1024);
  fx_free(f);
}

/* A lowered cap (a path found near late): no window grows past it, and
 * one that grew before comes back down at its next grant, its excess
 * leaving window_extra; the peer's view shrinks as it sends. */
static void test_autotune_window_cap(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  f = tuned_stream(&cfg);
  mux_now(f->m, 1060);
  feed_data(f, 128 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 1024 * 1024);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 896 * 1024);
  out_none(f);
  mux_set_window_cap(f->m, 512 * 1024);
  /* The peer may send its 1 MiB; nothing is granted until what it may
   * still send and what is held fit in half of 512 KiB. */
  feed_data(f, 1024 * 1024);
  mux_now(f->m, 1061);
  assert_int_equal(mux_stream_consumed(f->m, 1, 256 * 1024), 0);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 512 * 1024);
  assert_int_equal(mux_window_extra(f->m), 256 * 1024);
  out_none(f);
  assert_int_equal(mux_stream_consumed(f->m, 1, 512 * 1024), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 256 * 1024);
  out_none(f);
  /* Fast epochs grow no further than the cap. */
  mux_now(f->m, 1062);
  assert_int_equal(mux_stream_consumed(f->m, 1, 256 * 1024), 0);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 512 * 1024);
  /* UINT32_MAX restores max_window. */
  mux_set_window_cap(f->m, UINT32_MAX);
  feed_data(f, 512 * 1024);
  mux_now(f->m, 1063);
  assert_int_equal(mux_stream_consumed(f->m, 1, 512 * 1024), 0);
  assert_true(mux_stream_recv_window(f->m, 1) > 512 * 1024);
  fx_free(f);
}

/* A stream opened after another grew starts at that window: the ACK
 * (or SYN) announces the rest, within a quarter of the budget left. */
static void test_autotune_seeds_new_streams(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  f = tuned_stream(&cfg);
  mux_now(f->m, 1060);
  feed_data(f, 128 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 896 * 1024);
  out_none(f);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  assert_int_equal(mux_stream_ack(f->m, 3), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 3, 768 * 1024);
  out_none(f);
  assert_int_equal(mux_stream_recv_window(f->m, 3), 1024 * 1024);
  assert_int_equal(mux_window_extra(f->m), 2 * 768 * 1024);
  /* The peer may send the whole seeded window at once. */
  {
    static uint8_t buf[4096];
    for(int i = 0; i < 256; i++)
      feed_ok(f, MUX_TYPE_DATA, 0, 3, sizeof(buf), buf, sizeof(buf));
    assert_false(mux_is_dead(f->m));
  }
  /* With little budget left, a quarter of it. */
  mux_config_default(&cfg);
  fx_free(f);
  cfg.window_budget = 1024 * 1024;
  f = tuned_stream(&cfg);
  mux_now(f->m, 1060);
  feed_data(f, 128 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 896 * 1024);
  out_none(f);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  assert_int_equal(mux_stream_ack(f->m, 3), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 3, 64 * 1024);
  fx_free(f);
}

static void test_autotune_slow_consumer(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  f = tuned_stream(&cfg);
  /* The bytes arrived at once but the application took 400 ms for them:
   * the consumer, not the window, is the limit. */
  feed_data(f, 128 * 1024);
  mux_now(f->m, 1400);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 128 * 1024);
  out_none(f);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 256 * 1024);
  assert_int_equal(mux_window_extra(f->m), 0);
  fx_free(f);
}

static void test_autotune_limits(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  uint32_t t = 1060;
  mux_config_default(&cfg);
  cfg.max_window = 1024 * 1024;
  cfg.window_budget = 512 * 1024;
  f = tuned_stream(&cfg);
  /* Fast epochs double the window up to the budget (256 KiB + 512 KiB),
   * never to max_window beyond it. */
  for(int i = 0; i < 4; i++, t += 5) {
    int64_t w = mux_stream_recv_window(f->m, 1);
    mux_now(f->m, t);
    feed_data(f, (uint32_t)(w / 2));
    assert_int_equal(mux_stream_consumed(f->m, 1, (size_t)(w / 2)), 0);
    while(mux_pending_total(f->m))
      (void)mux_send(f->m, f->data, 12);
  }
  assert_int_equal(mux_stream_recv_window(f->m, 1), 768 * 1024);
  assert_int_equal(mux_window_extra(f->m), 512 * 1024);
  /* Closing the stream gives its growth back to the session. */
  assert_int_equal(mux_stream_reset(f->m, 1), 0);
  assert_int_equal(mux_window_extra(f->m), 0);
  fx_free(f);
}

/* A ledger (mux_config_t.ledger) that lets windows grow up to a cap,
 * as a relay's memory budget near its limit does. */
typedef struct ledger_stub {
  size_t held;    /* charged: stream state and chunks */
  size_t cap;     /* growth room left */
  unsigned asked; /* room() calls */
} ledger_stub_t;

static void stub_charge(size_t n, void *ud)
{
  ((ledger_stub_t *)ud)->held += n;
}

static void stub_give(size_t n, void *ud)
{
  ledger_stub_t *l = ud;
  assert_true(n <= l->held);
  l->held -= n;
}

static size_t stub_room(size_t n, void *ud)
{
  ledger_stub_t *l = ud;
  l->asked++;
  if(n > l->cap)
    n = l->cap;
  l->cap -= n;
  return n;
}

/* Only the stream's state (and the output queue's chunks) is charged:
 * a window is credit, never charged, base or grown; growth only by the
 * room the ledger gives; all of the charge comes back. */
static void test_ledger_limits_growth(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  ledger_stub_t l = {0, SIZE_MAX, 0};
  mux_config_default(&cfg);
  cfg.ledger = (mux_ledger_t){stub_charge, stub_give, stub_room, &l};
  f = tuned_stream(&cfg);
  assert_true(l.held >= mux_stream_state_size());
  assert_true(l.held < 256 * 1024); /* no window in it */
  size_t opened = l.held;
  l.cap = 128 * 1024;
  mux_now(f->m, 1090);
  feed_data(f, 128 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  /* Doubling would ask 256 KiB: the ledger had room for 128. */
  assert_int_equal(l.asked, 1);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 384 * 1024);
  assert_int_equal(mux_window_extra(f->m), 128 * 1024);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 256 * 1024);
  out_none(f);
  /* No room: the next fast epoch grants the same window again. */
  mux_now(f->m, 1095);
  feed_data(f, 192 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 192 * 1024), 0);
  assert_int_equal(mux_stream_recv_window(f->m, 1), 384 * 1024);
  assert_true(l.held <= opened + 4 * 65600); /* chunks at most */
  assert_int_equal(mux_stream_reset(f->m, 1), 0);
  fx_free(f);
  assert_int_equal(l.held, 0);
}

/* A download's bytes come a round trip after the open: its first epoch
 * starts at the first byte, so bytes arriving at the link's pace get
 * the bandwidth-delay product at the first grant (timed from the open,
 * 128 KiB in 151 ms would only quadruple the window to 1 MiB). */
static void test_autotune_first_epoch_at_first_byte(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  f = fx_new_cfg(&cfg);
  mux_now(f->m, 1000);
  mux_measure_rtt(f->m);
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 1);
  mux_now(f->m, 1150);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 1, NULL, 0);
  assert_int_equal(mux_rtt(f->m), 150);
  mux_now(f->m, 2000);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 1, 0);
  mux_now(f->m, 2150);
  feed_data(f, 128 * 1024);
  mux_now(f->m, 2151);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  /* 2 x 128 KiB x 150 ms / 1 ms = 37.5 MiB, capped at max_window */
  assert_int_equal(mux_stream_recv_window(f->m, 1), 32 * 1024 * 1024);
  fx_free(f);
}

/* An auto-tuned server session whose round trip (50 ms) is known, with
 * stream 1 opened by the peer at t=2000 and left unacknowledged, as the
 * relay leaves a stream while its target is dialled. */
static fx_t *deferred_stream_rtt50(void)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  f = fx_new_cfg(&cfg);
  f->open_rc = MUX_ACCEPT_DEFER; /* acknowledged once the target is up */
  mux_now(f->m, 1000);
  mux_measure_rtt(f->m);
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 1);
  mux_now(f->m, 1050);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 1, NULL, 0);
  assert_int_equal(mux_rtt(f->m), 50);
  mux_now(f->m, 2000);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  return f;
}

/* The target is up at `now`: stream 1's ACK goes out, and nothing else. */
static void ack_deferred(fx_t *f, uint64_t now)
{
  mux_now(f->m, now);
  assert_int_equal(mux_stream_ack(f->m, 1), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 1, 0);
  out_none(f);
}

/* An upload's first bytes come a round trip after the ACK (a beacon
 * controller sends only its target line with the SYN and waits for the
 * ACK): the first epoch starts at the first byte after the ACK, not at
 * the target line, so bytes arriving at the link's pace still get the
 * bandwidth-delay product at the first grant. */
static void test_autotune_first_epoch_after_ack(void **state)
{
  static const uint8_t line[] = "127.0.0.1:22\n";
  fx_t *f = deferred_stream_rtt50();
  feed_ok(f, MUX_TYPE_DATA, 0, 1, sizeof(line) - 1, line, sizeof(line) - 1);
  assert_int_equal(mux_stream_consumed(f->m, 1, sizeof(line) - 1), 0);
  ack_deferred(f, 2001);
  mux_now(f->m, 2051);
  feed_data(f, 128 * 1024);
  mux_now(f->m, 2052);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  /* 2 x 128 KiB x 50 ms / 1 ms = 12.5 MiB; timed from the target line
   * (52 ms) it would only have been fourfold, 1 MiB. */
  assert_int_equal(mux_stream_recv_window(f->m, 1), 12800 * 1024);
  fx_free(f);
}

/* A peer that sends its bytes with the SYN (Go's yamux does) did not
 * wait for the ACK: its first epoch keeps running from its first byte,
 * so a slow dial is not taken for a fast path. */
static void test_autotune_epoch_kept_for_bytes_before_ack(void **state)
{
  fx_t *f = deferred_stream_rtt50();
  feed_data(f, 64 * 1024); /* held while the target is dialled */
  ack_deferred(f, 2080);
  mux_now(f->m, 2081);
  feed_data(f, 64 * 1024);
  mux_now(f->m, 2082);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  /* 128 KiB in 82 ms from the first byte at a 50 ms round trip: the
   * window doubles. Timed from the byte after the ACK (1 ms) it would
   * have jumped to 12.5 MiB. */
  assert_int_equal(mux_stream_recv_window(f->m, 1), 512 * 1024);
  fx_free(f);
}

static void test_autotune_probe_not_fatal(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg); /* keep-alive off */
  f = server_with_stream_cfg(&cfg);
  mux_now(f->m, 1000);
  feed_data(f, 128 * 1024);
  assert_int_equal(mux_stream_consumed(f->m, 1, 128 * 1024), 0);
  /* A probe the peer never answers has no deadline without keep-alive. */
  assert_int_equal(mux_next_deadline(f->m), UINT64_MAX);
  assert_int_equal(mux_tick(f->m, 1000000), 0);
  assert_false(mux_is_dead(f->m));
  fx_free(f);
}

static void test_large_window_update(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  uint8_t *big = calloc(1, 1280 * 1024);
  int64_t n;
  mux_config_default(&cfg);
  cfg.max_outbuf = 4 * 1024 * 1024;
  f = fx_new_cfg(&cfg);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 1024 * 1024, NULL, 0);
  assert_int_equal(mux_stream_send_window(f->m, 1), 1280 * 1024);
  n = write_all(f, 1, big, 1280 * 1024 + 1);
  assert_int_equal(n, 1280 * 1024);
  assert_int_equal(mux_stream_send_window(f->m, 1), 0);
  /* Overflowing 2^32-1 is a protocol error. */
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 0xfffffff0u, NULL, 0);
  assert_int_equal(feed(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 0x10, NULL, 0),
                   BEACON_EPROTO);
  assert_true(mux_is_dead(f->m));
  /* Go Away goes ahead of the queued data (a chunk boundary). */
  out_bytes(f, GA_PROTO);
  free(big);
  fx_free(f);
}

static void test_fin(void **state)
{
  static const uint8_t fin[] = {0, 1, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};
  fx_t *f = server_with_stream();
  assert_int_equal(mux_stream_write(f->m, 1, (const uint8_t *)"x", 1), 1);
  assert_int_equal(mux_stream_close(f->m, 1), 0);
  assert_int_equal(mux_stream_close(f->m, 1), 0); /* no second FIN */
  out_frame(f, MUX_TYPE_DATA, 0, 1, 1);
  {
    uint8_t x;
    assert_int_equal(mux_send(f->m, &x, 1), 1);
    assert_int_equal(x, 'x');
  }
  out_bytes(f, fin);
  out_none(f);
  assert_int_equal(mux_stream_write(f->m, 1, (const uint8_t *)"y", 1),
                   BEACON_ECLOSED);
  assert_int_equal(mux_stream_send_window(f->m, 1), BEACON_ECLOSED);
  /* Data still flows the other way; FIN with payload: data, then FIN,
   * then the stream is gone. */
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_FIN, 1, 2, "ok", 2);
  assert_int_equal(f->nev, 3);
  assert_int_equal(f->ev[0].type, EV_DATA);
  assert_int_equal(f->ev[1].type, EV_FIN);
  assert_int_equal(f->ev[2].type, EV_CLOSED);
  assert_ptr_equal(f->ev[2].sud, (void *)(uintptr_t)0x1001);
  assert_int_equal(mux_stream_count(f->m), 0);
  fx_free(f);
}

static void test_peer_fin_first(void **state)
{
  fx_t *f = server_with_stream();
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_FIN, 1, 0, NULL, 0);
  assert_int_equal(f->nev, 1);
  assert_int_equal(f->ev[0].type, EV_FIN);
  /* We may still write after the peer's FIN. */
  assert_int_equal(mux_stream_write(f->m, 1, (const uint8_t *)"z", 1), 1);
  /* Data after the peer's FIN: Go accepts it; we drain it. */
  feed_ok(f, MUX_TYPE_DATA, 0, 1, 3, "abc", 3);
  assert_int_equal(f->nev, 1);
  assert_false(mux_is_dead(f->m));
  /* Consuming after FIN sends no window update. */
  assert_int_equal(mux_stream_close(f->m, 1), 0);
  assert_int_equal(f->nev, 2);
  assert_int_equal(f->ev[1].type, EV_CLOSED);
  out_frame(f, MUX_TYPE_DATA, 0, 1, 1);
  mux_advance(f->m, 1);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_FIN, 1, 0);
  out_none(f);
  /* Late FIN/data for the finished stream are ignored. */
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_FIN, 1, 3, "abc", 3);
  assert_false(mux_is_dead(f->m));
  fx_free(f);
}

static void test_duplicate_fin(void **state)
{
  fx_t *f = server_with_stream();
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_FIN, 1, 0, NULL, 0);
  assert_proto_err(f, feed(f, MUX_TYPE_DATA, MUX_FLAG_FIN, 1, 0, NULL, 0));
  fx_free(f);
}

static void test_rst(void **state)
{
  static const uint8_t rst[] = {0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0};
  fx_t *f = server_with_stream();
  assert_int_equal(mux_stream_reset(f->m, 1), 0);
  assert_int_equal(f->nev, 1);
  assert_int_equal(f->ev[0].type, EV_CLOSED);
  out_bytes(f, rst);
  out_none(f);
  assert_int_equal(mux_stream_reset(f->m, 1), BEACON_ECLOSED);
  assert_int_equal(mux_stream_consumed(f->m, 1, 0), BEACON_ECLOSED);
  assert_int_equal(mux_stream_close(f->m, 1), BEACON_ECLOSED);
  /* Peer RST: on_reset then on_stream_closed. */
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 3, 0);
  f->nev = 0;
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_RST, 3, 4, "late", 4);
  assert_int_equal(f->nev, 2);
  assert_int_equal(f->ev[0].type, EV_RESET);
  assert_int_equal(f->ev[1].type, EV_CLOSED);
  assert_int_equal(mux_stream_count(f->m), 0);
  out_none(f);
  fx_free(f);
}

/* Resetting a stream while the peer is still sending never costs the
 * session: late Data (split over several mux_recv calls), Window Update
 * and FIN for the dead id are drained and ignored. */
static void test_late_frames_after_rst(void **state)
{
  fx_t *f = server_with_stream();
  uint8_t b[MUX_HEADER_SIZE + 1000];
  size_t i;
  memset(b, 'q', sizeof(b));
  assert_int_equal(mux_stream_reset(f->m, 1), 0);
  hdr(b, MUX_TYPE_DATA, 0, 1, 1000);
  /* Byte by byte for the header, then uneven pieces of payload. */
  for(i = 0; i < MUX_HEADER_SIZE; i++)
    assert_int_equal(mux_recv(f->m, b + i, 1), 1);
  assert_int_equal(mux_recv(f->m, b + 12, 300), 300);
  assert_int_equal(mux_recv(f->m, b + 312, 1), 1);
  assert_int_equal(mux_recv(f->m, b + 313, 699), 699);
  /* More than the window would allow: still only drained. */
  for(i = 0; i < 70; i++) {
    hdr(b, MUX_TYPE_DATA, 0, 1, 4096);
    assert_int_equal(mux_recv(f->m, b, 12), 12);
    {
      static uint8_t z[4096];
      assert_int_equal(mux_recv(f->m, z, 4096), 4096);
    }
  }
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 0xffffffffu, NULL, 0);
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_FIN, 1, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 1, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_ACK, 7, 2, "zz", 2);
  assert_false(mux_is_dead(f->m));
  assert_int_equal(f->nev, 1); /* only the on_stream_closed of reset */
  /* The parser is still aligned: a new stream works. */
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_SYN, 3, 2, "ok", 2);
  assert_int_equal(f->ev[f->nev - 1].type, EV_DATA);
  assert_int_equal(f->ev[f->nev - 1].id, 3);
  fx_free(f);
}

/* The application resets the stream from inside on_data while the rest
 * of the payload is still arriving. */
static void test_reset_inside_data(void **state)
{
  fx_t *f = server_with_stream();
  uint8_t b[MUX_HEADER_SIZE + 100];
  memset(b, 'r', sizeof(b));
  hdr(b, MUX_TYPE_DATA, MUX_FLAG_FIN, 1, 100);
  f->reset_in_data = 1;
  assert_int_equal(mux_recv(f->m, b, 50), 50);
  f->reset_in_data = 0;
  assert_int_equal(mux_recv(f->m, b + 50, 62), 62);
  assert_int_equal(f->nev, 2);
  assert_int_equal(f->ev[0].type, EV_DATA);
  assert_int_equal(f->ev[0].val, 38);
  assert_int_equal(f->ev[1].type, EV_CLOSED);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 1, 0);
  assert_false(mux_is_dead(f->m));
  fx_free(f);
}

static void test_split_payload(void **state)
{
  fx_t *f = server_with_stream();
  uint8_t b[MUX_HEADER_SIZE + 10];
  hdr(b, MUX_TYPE_DATA, 0, 1, 10);
  memcpy(b + 12, "0123456789", 10);
  f->consume_in_data = 1;
  assert_int_equal(mux_recv(f->m, b, 15), 15);
  assert_int_equal(mux_recv(f->m, b + 15, 7), 7);
  assert_int_equal(f->nev, 2);
  assert_int_equal(f->ev[0].val, 3);
  assert_int_equal(f->ev[1].val, 7);
  assert_memory_equal(f->data, "0123456789", 10);
  fx_free(f);
}

static void test_ping(void **state)
{
  static const uint8_t ans[] = {0, 2, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4};
  static const uint8_t ask[] = {0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
  fx_t *f = fx_new(1);
  uint32_t op = 0;
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 0x01020304, NULL, 0);
  out_bytes(f, ans);
  out_none(f);
  assert_int_equal(mux_ping(f->m, 100, &op), 0);
  assert_int_equal(op, 1);
  out_bytes(f, ask);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 99, NULL, 0); /* unknown */
  assert_int_equal(f->nev, 0);
  assert_int_equal(mux_tick(f->m, 130), 0);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 1, NULL, 0);
  assert_int_equal(f->nev, 1);
  assert_int_equal(f->ev[0].type, EV_PING_ACK);
  assert_int_equal(f->ev[0].id, 1);
  assert_int_equal(f->ev[0].val, 30);
  fx_free(f);
}

/* Ping answers do not wait behind queued bulk data. */
static void test_ping_answer_priority(void **state)
{
  fx_t *f = server_with_stream();
  static uint8_t big[200000];
  const uint8_t *p;
  size_t n;
  /* Two frames' worth: the stream's share of the queue. */
  assert_true(mux_stream_write(f->m, 1, big, sizeof(big)) > 128 * 1024);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 7, NULL, 0);
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 7);
  /* Mid-chunk the answer waits for the chunk's end, never longer. */
  n = mux_pending(f->m, &p);
  assert_true(n > 1000);
  mux_advance(f->m, 100);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 8, NULL, 0);
  n = mux_pending(f->m, &p);
  mux_advance(f->m, n);
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 8);
  fx_free(f);
}

/* A peer that pings but never reads cannot grow our queue forever. */
static void test_ping_flood_bounded(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  uint8_t b[12 * 64];
  int i;
  mux_config_default(&cfg);
  cfg.max_outbuf = 4096;
  f = fx_new_cfg(&cfg);
  for(i = 0; i < 64; i++)
    hdr(b + 12 * i, MUX_TYPE_PING, MUX_FLAG_SYN, 0, (uint32_t)i);
  for(i = 0; i < 1000; i++)
    assert_int_equal(mux_recv(f->m, b, sizeof(b)), (int)sizeof(b));
  assert_true(mux_pending_total(f->m) <= 4096 + 256 * 1024 + 12);
  fx_free(f);
}

static void test_go_away_send(void **state)
{
  static const uint8_t ga[] = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  fx_t *f = fx_new(0);
  assert_int_equal(mux_is_going_away(f->m), 0);
  assert_int_equal(mux_go_away(f->m, MUX_GO_AWAY_NORMAL), 0);
  assert_int_equal(mux_go_away(f->m, MUX_GO_AWAY_NORMAL), 0);
  out_bytes(f, ga);
  out_none(f);
  assert_int_equal(mux_is_going_away(f->m), 1);
  assert_int_equal(mux_open(f->m, NULL), BEACON_EGOAWAY);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  assert_int_equal(f->nev, 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 1, 0);
  out_none(f);
  fx_free(f);
}

static void test_go_away_recv(void **state)
{
  fx_t *f = fx_new(1);
  assert_int_equal(mux_open(f->m, NULL), 1);
  mux_advance(f->m, 12);
  feed_ok(f, MUX_TYPE_GO_AWAY, 0, 0, MUX_GO_AWAY_INTERNAL_ERR, NULL, 0);
  assert_int_equal(f->nev, 1);
  assert_int_equal(f->ev[0].type, EV_GO_AWAY);
  assert_int_equal(f->ev[0].val, 2);
  assert_int_equal(mux_open(f->m, NULL), BEACON_EGOAWAY);
  /* The existing stream may finish. */
  assert_int_equal(mux_stream_write(f->m, 1, (const uint8_t *)"a", 1), 1);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 2, 0, NULL, 0);
  /* The RST for the refused stream is a priority reply. */
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 2, 0);
  out_frame(f, MUX_TYPE_DATA, 0, 1, 1);
  mux_advance(f->m, 1);
  out_none(f);
  fx_free(f);
}

static void test_keepalive(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  cfg.is_client = 1;
  cfg.keepalive_ms = 1000;
  cfg.keepalive_timeout_ms = 500;
  f = fx_new_cfg(&cfg);
  assert_int_equal(mux_next_deadline(f->m), 1000);
  assert_int_equal(mux_tick(f->m, 999), 0);
  out_none(f);
  assert_int_equal(mux_tick(f->m, 1000), 0);
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 1);
  assert_int_equal(mux_next_deadline(f->m), 1500);
  assert_int_equal(mux_tick(f->m, 1200), 0);
  out_none(f);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 1, NULL, 0);
  assert_int_equal(f->ev[0].type, EV_PING_ACK);
  assert_int_equal(f->ev[0].val, 200);
  assert_int_equal(mux_next_deadline(f->m), 2000);
  assert_int_equal(mux_tick(f->m, 2000), 0);
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 2);
  assert_int_equal(mux_tick(f->m, 2499), 0);
  assert_int_equal(mux_tick(f->m, 2500), BEACON_ETIMEDOUT);
  assert_true(mux_is_dead(f->m));
  assert_int_equal(mux_next_deadline(f->m), UINT64_MAX);
  assert_int_equal(mux_tick(f->m, 2600), BEACON_ETIMEDOUT);
  out_none(f);
  fx_free(f);
}

/* A caller that stops reading (its memory share is full) keeps the
 * session: an outstanding ping's deadline restarts while it does not
 * read, and the late answer is no round-trip sample. */
static void test_keepalive_not_reading(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  cfg.is_client = 1;
  cfg.keepalive_ms = 1000;
  cfg.keepalive_timeout_ms = 500;
  f = fx_new_cfg(&cfg);
  mux_not_reading(f->m, 900); /* no ping out: nothing to defer */
  assert_int_equal(mux_next_deadline(f->m), 1000);
  assert_int_equal(mux_tick(f->m, 1000), 0);
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 1);
  mux_not_reading(f->m, 1400);
  assert_int_equal(mux_next_deadline(f->m), 1900);
  assert_int_equal(mux_tick(f->m, 1600), 0);
  assert_false(mux_is_dead(f->m));
  mux_now(f->m, 1800);
  feed_ok(f, MUX_TYPE_PING, MUX_FLAG_ACK, 0, 1, NULL, 0);
  assert_int_equal(mux_rtt(f->m), 0); /* 800 ms was not the path's */
  assert_int_equal(mux_tick(f->m, 2000), 0);
  out_frame(f, MUX_TYPE_PING, MUX_FLAG_SYN, 0, 2);
  assert_int_equal(mux_tick(f->m, 2500), BEACON_ETIMEDOUT); /* reading */
  fx_free(f);
}

static void test_err_version(void **state)
{
  fx_t *f = fx_new(0);
  uint8_t b[12] = {1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_proto_err(f, mux_recv(f->m, b, 12));
  fx_free(f);
}

static void test_err_type(void **state)
{
  fx_t *f = fx_new(0);
  assert_proto_err(f, feed(f, 4, 0, 0, 0, NULL, 0));
  fx_free(f);
}

static void test_err_dup_syn(void **state)
{
  fx_t *f = server_with_stream();
  assert_proto_err(f, feed(f, MUX_TYPE_DATA, MUX_FLAG_SYN, 1, 0, NULL, 0));
  fx_free(f);
}

static void test_err_parity(void **state)
{
  fx_t *s = fx_new(0);
  fx_t *c = fx_new(1);
  fx_t *z = fx_new(1);
  assert_proto_err(
      s, feed(s, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 2, 0, NULL, 0));
  assert_proto_err(
      c, feed(c, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0));
  assert_proto_err(
      z, feed(z, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 0, 0, NULL, 0));
  assert_int_equal(s->nev + c->nev + z->nev, 0);
  fx_free(s);
  fx_free(c);
  fx_free(z);
}

static void test_err_window(void **state)
{
  fx_t *f = fx_new(0);
  assert_proto_err(
      f, feed(f, MUX_TYPE_DATA, MUX_FLAG_SYN, 1, 256 * 1024 + 1, NULL, 0));
  fx_free(f);
}

static void test_backlog(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  cfg.accept_backlog = 2;
  f = fx_new_cfg(&cfg);
  f->open_rc = MUX_ACCEPT_DEFER;
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  out_none(f);
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_SYN, 5, 3, "abc", 3);
  assert_int_equal(f->nev, 2); /* no on_stream_open for 5 */
  assert_int_equal(f->nrefused, 1);
  assert_int_equal(f->last_refused_id, 5);
  assert_int_equal(f->last_refused_why, MUX_REFUSED_BACKLOG);
  assert_string_equal(mux_refusal_name(f->last_refused_why), "accept_backlog");
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 5, 0);
  out_none(f);
  /* Acknowledging one frees a backlog slot. */
  assert_int_equal(mux_stream_ack(f->m, 1), 0);
  assert_int_equal(mux_stream_ack(f->m, 1), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 1, 0);
  out_none(f);
  /* The first write on a deferred stream carries the ACK. */
  assert_int_equal(mux_stream_write(f->m, 3, (const uint8_t *)"w", 1), 1);
  out_frame(f, MUX_TYPE_DATA, MUX_FLAG_ACK, 3, 1);
  mux_advance(f->m, 1);
  f->open_rc = 0;
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 7, 0, NULL, 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 7, 0);
  assert_int_equal(mux_stream_count(f->m), 3);
  fx_free(f);
}

static void test_max_streams(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  mux_config_default(&cfg);
  cfg.max_streams = 2;
  f = fx_new_cfg(&cfg);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  assert_int_equal(mux_open(f->m, NULL), 2);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 1, 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 2, 0);
  assert_int_equal(mux_open(f->m, NULL), BEACON_ELIMIT);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 3, 0);
  out_none(f);
  assert_int_equal(f->nev, 1);
  assert_int_equal(f->nrefused, 1);
  assert_int_equal(f->last_refused_why, MUX_REFUSED_MAX_STREAMS);
  assert_string_equal(mux_refusal_name(MUX_REFUSED_MAX_STREAMS),
                      "max_streams");
  assert_string_equal(mux_refusal_name(MUX_REFUSED_GOING_AWAY), "going_away");
  assert_string_equal(mux_refusal_name(MUX_REFUSED_OUTPUT_FULL),
                      "output_full");
  assert_string_equal(mux_refusal_name(0), "none");
  /* Peer resets its stream: room for one more. */
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 1, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 5, 0, NULL, 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_ACK, 5, 0);
  fx_free(f);
}

static void test_writable_window(void **state)
{
  fx_t *f = server_with_stream();
  static uint8_t big[256 * 1024 + 10];
  assert_int_equal(write_all(f, 1, big, sizeof(big)), 256 * 1024);
  f->nev = 0;
  assert_int_equal(mux_stream_write(f->m, 1, big, 10), 0);
  assert_int_equal(f->nev, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 5, NULL, 0);
  assert_int_equal(f->nev, 1);
  assert_int_equal(f->ev[0].type, EV_WRITABLE);
  assert_int_equal(mux_stream_write(f->m, 1, big, 10), 5);
  fx_free(f);
}

/* A bulk stream holds at most two frames in the queue, so a small write
 * on another stream waits behind those, not behind a megabyte; the bulk
 * stream is told to go on once its frames went out. */
static void test_stream_queue_share(void **state)
{
  fx_t *f = server_with_stream();
  static uint8_t big[1024 * 1024];
  uint8_t sink[65536];
  int64_t n;
  size_t ahead, sent;
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 4 * 1024 * 1024, NULL, 0);
  f->nev = 0;
  assert_int_equal(mux_stream_write_room(f->m, 1), MUX_STREAM_QUEUED_MAX);
  n = mux_stream_write(f->m, 1, big, sizeof(big));
  assert_true(n >= 128 * 1024 && n <= (int64_t)MUX_STREAM_QUEUED_MAX);
  assert_int_equal(mux_stream_write_room(f->m, 1), 0);
  assert_int_equal(mux_stream_write(f->m, 1, big, 10), 0);
  ahead = mux_pending_total(f->m);
  assert_true(ahead <= MUX_STREAM_QUEUED_MAX + 4 * MUX_HEADER_SIZE);
  assert_int_equal(mux_stream_write(f->m, 3, big, 64), 64);
  assert_int_equal(f->nev, 0);
  /* Once its first frame is out, stream 1 is down to half its share
   * and is told. */
  sent = 0;
  while(!f->nev && sent < ahead) {
    assert_int_equal(mux_send(f->m, sink, 4096), 4096);
    sent += 4096;
  }
  assert_true(sent >= 65536 && sent <= 65536 + 4096 + 2 * MUX_HEADER_SIZE);
  assert_int_equal(f->nev, 1);
  assert_int_equal(f->ev[0].type, EV_WRITABLE);
  assert_int_equal(f->ev[0].id, 1);
  /* The 64 bytes and stream 3's ACK still come before anything stream 1
   * writes now. */
  n = mux_stream_write(f->m, 1, big, sizeof(big));
  assert_true(n > 0 && n <= (int64_t)MUX_STREAM_QUEUED_MAX / 2 + 64);
  fx_free(f);
}

/* A session's share per stream can be raised (a near path): a stream
 * then queues up to the new share, never below one full frame. */
static void test_stream_queue_max_set(void **state)
{
  fx_t *f = server_with_stream();
  static uint8_t big[1024 * 1024];
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, 0, 1, 4 * 1024 * 1024, NULL, 0);
  mux_set_stream_queue_max(f->m, 8 * (65536 + MUX_HEADER_SIZE));
  assert_int_equal(mux_stream_write_room(f->m, 1), 8 * (65536 + 12));
  int64_t n = mux_stream_write(f->m, 1, big, sizeof(big));
  assert_true(n > 7 * 65536 && n <= 8 * (65536 + 12));
  assert_int_equal(mux_stream_write_room(f->m, 1), 0);
  mux_set_stream_queue_max(f->m, 1);
  assert_int_equal(mux_stream_write_room(f->m, 1), 0);
  fx_free(f);
}

/* A reset may carry a reason code in its length (connect results): it
 * goes out as given and comes in through mux_reset_code(); a reset with
 * a huge "delta" is no window overflow. */
static void test_reset_code(void **state)
{
  fx_t *f = server_with_stream();
  assert_int_equal(mux_stream_reset_code(f->m, 1, 5), 0);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 1, 5);
  out_none(f);
  fx_free(f);
  f = fx_new(1);
  assert_int_equal(mux_open(f->m, NULL), 1);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 1, 0xfffffff0u, NULL, 0);
  assert_false(mux_is_dead(f->m));
  assert_int_equal(f->ev[0].type, EV_RESET);
  assert_int_equal(f->ev[0].val, 0xfffffff0u);
  assert_int_equal(mux_reset_code(f->m), 0); /* only inside on_reset */
  assert_int_equal(mux_stream_count(f->m), 0);
  fx_free(f);
}

static void test_writable_outbuf(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  uint8_t buf[1000];
  size_t total = 0;
  mux_config_default(&cfg);
  cfg.max_outbuf = 100;
  f = fx_new_cfg(&cfg);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  memset(buf, 'b', sizeof(buf));
  /* 24 bytes of ACKs are queued: 100 - 24 - 12 = 64 fit. */
  assert_int_equal(mux_stream_write(f->m, 1, buf, 1000), 64);
  assert_int_equal(mux_stream_write(f->m, 3, buf, 1000), 0);
  assert_int_equal(f->nev, 2);
  assert_int_equal(mux_send(f->m, buf, 30), 30);
  assert_int_equal(f->nev, 2); /* still above half of max_outbuf */
  assert_int_equal(mux_send(f->m, buf, 30), 30);
  assert_int_equal(f->nev, 4);
  assert_int_equal(f->ev[2].type, EV_WRITABLE);
  assert_int_equal(f->ev[3].type, EV_WRITABLE);
  while(mux_send(f->m, buf, sizeof(buf)))
    total++;
  assert_true(total > 0);
  out_none(f);
  fx_free(f);
}

/* A woken writer that fills the queue exactly (its write is not short)
 * must not strand the other waiting streams: each is told in turn as
 * the queue drains. */
static void test_writable_exact_refill(void **state)
{
  mux_config_t cfg;
  fx_t *f;
  uint8_t buf[1000];
  int woken[6] = {0};
  int i;
  mux_config_default(&cfg);
  cfg.max_outbuf = 100;
  f = fx_new_cfg(&cfg);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 5, 0, NULL, 0);
  while(mux_send(f->m, buf, sizeof(buf)))
    ;
  f->nev = 0;
  memset(buf, 'e', sizeof(buf));
  assert_int_equal(mux_stream_write(f->m, 1, buf, 1000), 88);
  assert_int_equal(mux_stream_write(f->m, 3, buf, 1000), 0);
  assert_int_equal(mux_stream_write(f->m, 5, buf, 1000), 0);
  /* Each wake-up refills the queue to the byte: 12 + 88 = 100. */
  f->write_in_writable = 88;
  for(i = 0; i < 3; i++)
    assert_int_equal(mux_send(f->m, buf, 100), 100);
  for(i = 0; i < f->nev; i++)
    if(f->ev[i].type == EV_WRITABLE)
      woken[f->ev[i].id]++;
  assert_int_equal(woken[1], 1);
  assert_int_equal(woken[3], 1);
  assert_int_equal(woken[5], 1);
  fx_free(f);
}

static void test_shutdown(void **state)
{
  fx_t *f = fx_new(1);
  int i;
  int closed = 0;
  for(i = 0; i < 40; i++)
    assert_true(mux_open(f->m, NULL) > 0);
  mux_shutdown(f->m);
  for(i = 0; i < f->nev; i++)
    closed += f->ev[i].type == EV_CLOSED;
  assert_int_equal(closed, 40);
  assert_int_equal(mux_stream_count(f->m), 0);
  assert_true(mux_is_dead(f->m));
  assert_int_equal(mux_recv(f->m, (const uint8_t *)"x", 1), BEACON_ECLOSED);
  assert_int_equal(mux_ping(f->m, 0, NULL), BEACON_ECLOSED);
  assert_int_equal(mux_go_away(f->m, 0), BEACON_ECLOSED);
  mux_shutdown(f->m);
  fx_free(f);
}

/* Many streams: the id table grows and survives deletes in any order. */
static void test_table_churn(void **state)
{
  fx_t *f = fx_new(1);
  uint32_t ids[2000];
  int i;
  for(i = 0; i < 2000; i++)
    ids[i] = (uint32_t)mux_open(f->m, NULL);
  for(i = 0; i < 2000; i += 3)
    assert_int_equal(mux_stream_reset(f->m, ids[i]), 0);
  for(i = 0; i < 2000; i++)
    assert_int_equal(mux_stream_send_window(f->m, ids[i]),
                     i % 3 ? 256 * 1024 : BEACON_ECLOSED);
  for(i = 1; i < 2000; i += 3)
    assert_int_equal(mux_stream_reset(f->m, ids[i]), 0);
  assert_int_equal(mux_stream_count(f->m), 666);
  fx_free(f);
}

/* Random opens and resets against a reference list: lookups stay right
 * through probe chains, backward shifts and growth. */
static void test_table_random(void **state)
{
  fx_t *f = fx_new(1);
  static uint32_t live[3000];
  uint32_t nlive = 0;
  uint64_t x = 88172645463325252ull;
  int round;
  for(round = 0; round < 20000; round++) {
    uint32_t k;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if(nlive < 3000 && (x % 3 || !nlive)) {
      int64_t id = mux_open(f->m, NULL);
      assert_true(id > 0);
      live[nlive++] = (uint32_t)id;
    } else {
      k = (uint32_t)(x >> 20) % nlive;
      assert_int_equal(mux_stream_reset(f->m, live[k]), 0);
      assert_int_equal(mux_stream_reset(f->m, live[k]), BEACON_ECLOSED);
      live[k] = live[--nlive];
    }
    mux_advance(f->m, mux_pending_total(f->m));
    if(round % 1000 == 0) {
      for(k = 0; k < nlive; k++)
        assert_int_equal(mux_stream_send_window(f->m, live[k]), 256 * 1024);
    }
  }
  assert_int_equal(mux_stream_count(f->m), nlive);
  for(; nlive; nlive--)
    assert_int_equal(mux_stream_send_window(f->m, live[nlive - 1]),
                     256 * 1024);
  fx_free(f);
}

/* Each callback may reset its stream; the core never touches it after. */
static void test_reset_from_callbacks(void **state)
{
  fx_t *f = fx_new(0);
  uint8_t b[64];
  f->reset_on = EV_OPEN;
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_SYN, 1, 3, "abc", 3);
  assert_int_equal(f->nev, 2); /* open, closed; data drained */
  assert_int_equal(f->ev[1].type, EV_CLOSED);
  out_frame(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_RST, 1, 0);
  out_none(f);
  f->reset_on = EV_FIN;
  f->nev = 0;
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 3, 0, NULL, 0);
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_FIN, 3, 0, NULL, 0); /* empty FIN */
  assert_int_equal(f->ev[1].type, EV_FIN);
  assert_int_equal(f->ev[2].type, EV_CLOSED);
  assert_int_equal(mux_stream_count(f->m), 0);
  (void)mux_send(f->m, b, sizeof(b));
  f->reset_on = EV_ACK;
  f->nev = 0;
  assert_int_equal(mux_open(f->m, NULL), 2);
  feed_ok(f, MUX_TYPE_DATA, MUX_FLAG_ACK | MUX_FLAG_FIN, 2, 2, "zz", 2);
  assert_int_equal(f->nev, 2); /* ack, closed: no data, no fin */
  assert_int_equal(f->ev[1].type, EV_CLOSED);
  f->reset_on = 0;
  assert_false(mux_is_dead(f->m));
  fx_free(f);
}

static void test_shutdown_from_callback(void **state)
{
  fx_t *f = fx_new(0);
  f->shutdown_on = EV_DATA;
  feed_ok(f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 1, 0, NULL, 0);
  assert_int_equal(feed(f, MUX_TYPE_DATA, 0, 1, 2, "ab", 2), BEACON_ECLOSED);
  assert_true(mux_is_dead(f->m));
  assert_int_equal(f->ev[f->nev - 1].type, EV_CLOSED);
  assert_int_equal(mux_tick(f->m, 5), BEACON_ECLOSED);
  fx_free(f);
}

/* Spare output chunks are all freed by mux_tick() once the queue is
 * idle: an idle session with streams holds (and is charged) no 64 KiB
 * chunk, only its streams' state. */
static void test_trim_spares(void **state)
{
  mux_config_t cfg;
  ledger_stub_t l = {0, SIZE_MAX, 0};
  mux_config_default(&cfg);
  cfg.ledger = (mux_ledger_t){stub_charge, stub_give, stub_room, &l};
  fx_t *f = server_with_stream_cfg(&cfg);
  static uint8_t big[200000];
  assert_int_equal(write_all(f, 1, big, sizeof(big)), sizeof(big));
  assert_true(l.held > 65536);
  assert_int_equal(mux_tick(f->m, 1), 0);
  assert_int_equal(l.held, mux_stream_state_size());
  assert_int_equal(mux_stream_write(f->m, 1, big, 10), 10);
  assert_true(l.held > 65536); /* a chunk again, while it is needed */
  fx_free(f);
  assert_int_equal(l.held, 0);
}

/* ---- allocation failure ------------------------------------------------ */

typedef struct fail_alloc {
  long budget; /* allocations left before failing; <0 = unlimited */
  long live;
} fail_alloc_t;

static void *fa_malloc(size_t n, void *ud)
{
  fail_alloc_t *a = ud;
  void *p;
  if(!a->budget)
    return NULL;
  if(a->budget > 0)
    a->budget--;
  p = malloc(n);
  if(p)
    a->live++;
  return p;
}

static void fa_free(void *p, void *ud)
{
  fail_alloc_t *a = ud;
  a->live--;
  free(p);
}

static void test_alloc_failure(void **state)
{
  long k;
  int saw_enomem = 0;
  for(k = 0; k < 40; k++) {
    fail_alloc_t a = {k, 0};
    mux_allocator_t al = {fa_malloc, fa_free, NULL, &a};
    mux_config_t cfg;
    fx_t f;
    int i;
    int rc;
    static uint8_t big[100000];
    mux_config_default(&cfg);
    cfg.is_client = 1;
    cfg.alloc = &al;
    memset(&f, 0, sizeof(f));
    f.m = mux_new(&cfg, &cbs, &f, 0);
    if(!f.m) {
      assert_int_equal(k, 0);
      continue;
    }
    /* Opens until memory runs out: each failure is clean. */
    for(i = 0; i < 30; i++) {
      int64_t id = mux_open(f.m, NULL);
      if(id == BEACON_ENOMEM) {
        saw_enomem = 1;
        continue;
      }
      assert_true(id > 0);
    }
    {
      int64_t n = mux_stream_write(f.m, 1, big, sizeof(big));
      assert_true(n == BEACON_ENOMEM || n == BEACON_ECLOSED || n >= 0);
    }
    f.open_rc = 0;
    rc = feed(&f, MUX_TYPE_WINDOW_UPDATE, MUX_FLAG_SYN, 2, 0, NULL, 0);
    if(rc == BEACON_ENOMEM) {
      uint8_t ga[12];
      assert_true(mux_is_dead(f.m));
      /* Go Away (internal error) was still queued, ahead of the rest. */
      assert_int_equal(mux_send(f.m, ga, 12), 12);
      assert_int_equal(ga[1], MUX_TYPE_GO_AWAY);
      assert_int_equal(ga[11], MUX_GO_AWAY_INTERNAL_ERR);
    } else {
      assert_int_equal(rc, 12);
    }
    mux_shutdown(f.m);
    mux_free(f.m);
    assert_int_equal(a.live, 0);
  }
  assert_true(saw_enomem);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_codec),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_open_client_server),
      cmocka_unit_test(test_accept_and_data),
      cmocka_unit_test(test_syn_with_data),
      cmocka_unit_test(test_refused_by_app),
      cmocka_unit_test(test_window_grant),
      cmocka_unit_test(test_window_grant_large),
      cmocka_unit_test(test_autotune_grows),
      cmocka_unit_test(test_autotune_ramps),
      cmocka_unit_test(test_autotune_window_cap),
      cmocka_unit_test(test_autotune_seeds_new_streams),
      cmocka_unit_test(test_autotune_slow_consumer),
      cmocka_unit_test(test_autotune_limits),
      cmocka_unit_test(test_ledger_limits_growth),
      cmocka_unit_test(test_autotune_first_epoch_at_first_byte),
      cmocka_unit_test(test_autotune_first_epoch_after_ack),
      cmocka_unit_test(test_autotune_epoch_kept_for_bytes_before_ack),
      cmocka_unit_test(test_autotune_probe_not_fatal),
      cmocka_unit_test(test_large_window_update),
      cmocka_unit_test(test_fin),
      cmocka_unit_test(test_peer_fin_first),
      cmocka_unit_test(test_duplicate_fin),
      cmocka_unit_test(test_rst),
      cmocka_unit_test(test_late_frames_after_rst),
      cmocka_unit_test(test_reset_inside_data),
      cmocka_unit_test(test_split_payload),
      cmocka_unit_test(test_ping),
      cmocka_unit_test(test_ping_answer_priority),
      cmocka_unit_test(test_ping_flood_bounded),
      cmocka_unit_test(test_go_away_send),
      cmocka_unit_test(test_go_away_recv),
      cmocka_unit_test(test_keepalive),
      cmocka_unit_test(test_keepalive_not_reading),
      cmocka_unit_test(test_err_version),
      cmocka_unit_test(test_err_type),
      cmocka_unit_test(test_err_dup_syn),
      cmocka_unit_test(test_err_parity),
      cmocka_unit_test(test_err_window),
      cmocka_unit_test(test_backlog),
      cmocka_unit_test(test_max_streams),
      cmocka_unit_test(test_writable_window),
      cmocka_unit_test(test_stream_queue_share),
      cmocka_unit_test(test_stream_queue_max_set),
      cmocka_unit_test(test_reset_code),
      cmocka_unit_test(test_writable_outbuf),
      cmocka_unit_test(test_writable_exact_refill),
      cmocka_unit_test(test_shutdown),
      cmocka_unit_test(test_table_churn),
      cmocka_unit_test(test_table_random),
      cmocka_unit_test(test_reset_from_callbacks),
      cmocka_unit_test(test_shutdown_from_callback),
      cmocka_unit_test(test_trim_spares),
      cmocka_unit_test(test_alloc_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
