/*
 * test_conn.c - the connection core (src/conn/conn.c): a controller and
 * a relay conn_t wired back to back through memory, with real TLS
 * certificates from pki_init() in a temporary directory and a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beacon/beacon.h"
#include "conn/conn.h"
#include "fixture_pki.h"
#include "tls/tls.h"

static int group_setup(void **state)
{
  (void)state;
  if(fixture_dir_make("conn"))
    return -1;
  return fixture_pki_init("pki");
}

static int group_teardown(void **state)
{
  (void)state;
  return fixture_dir_remove();
}

/* ---- one side: what its callbacks saw ---------------------------------- */

typedef struct side {
  conn_t *c;
  const char *name;
  int refuse; /* on_handshake refuses the peer */
  int up;
  int hs_failed_rc;
  int mux_error;
  int closes;
  enum conn_close_reason why;
  int recv_done;
  size_t plaintext;              /* bytes seen by on_plaintext */
  int deadlines;                 /* on_deadline calls */
  conn_deadline_t *fired[4];     /* in firing order */
  conn_deadline_t *stop_on_fire; /* on_deadline stops this one */
  uint32_t opened, closed_streams, go_away_code;
  int go_aways;
  int echo; /* write received data back */
  uint8_t got[1 << 16];
  size_t ngot;
  int fin;
} side_t;

static int on_handshake(conn_t *c, void *ud)
{
  side_t *s = ud;
  char subj[256];
  assert_int_equal(tls_conn_peer_subject(conn_tls(c), subj, sizeof(subj)), 0);
  return s->refuse ? -1 : 0;
}

static void on_handshake_failed(conn_t *c, int rc, const char *detail,
                                void *ud)
{
  ((side_t *)ud)->hs_failed_rc = rc;
}

static void on_up(conn_t *c, void *ud)
{
  side_t *s = ud;
  assert_non_null(conn_mux(c));
  s->up = 1;
}

static void on_plaintext(conn_t *c, const uint8_t *p, size_t n, void *ud)
{
  assert_false(conn_in_recv(c));
  ((side_t *)ud)->plaintext += n;
}

static void on_recv_done(conn_t *c, void *ud)
{
  assert_false(conn_in_recv(c));
  ((side_t *)ud)->recv_done++;
}

static void on_mux_error(conn_t *c, int rc, void *ud)
{
  ((side_t *)ud)->mux_error = rc;
}

static void on_close(conn_t *c, enum conn_close_reason why, void *ud)
{
  side_t *s = ud;
  assert_int_equal(conn_state(c), CONN_CLOSING);
  assert_int_equal(conn_close_reason(c), why);
  s->closes++;
  s->why = why;
}

static void on_deadline(conn_t *c, conn_deadline_t *d, uint64_t now, void *ud)
{
  side_t *s = ud;
  assert_false(conn_deadline_running(d));
  assert_true(d->when <= now);
  if(s->deadlines < 4)
    s->fired[s->deadlines] = d;
  s->deadlines++;
  if(s->stop_on_fire)
    conn_deadline_stop(s->stop_on_fire);
}

static const conn_callbacks_t cbs = {
    .on_handshake = on_handshake,
    .on_handshake_failed = on_handshake_failed,
    .on_up = on_up,
    .on_plaintext = on_plaintext,
    .on_recv_done = on_recv_done,
    .on_mux_error = on_mux_error,
    .on_close = on_close,
    .on_deadline = on_deadline,
};

static int m_open(mux_t *m, uint32_t id, void **sud, void *ud)
{
  ((side_t *)ud)->opened++;
  return 0;
}

static void m_data(mux_t *m, uint32_t id, void *sud, const uint8_t *p,
                   size_t n, void *ud)
{
  side_t *s = ud;
  assert_true(s->ngot + n <= sizeof(s->got));
  memcpy(s->got + s->ngot, p, n);
  s->ngot += n;
  assert_int_equal(mux_stream_consumed(m, id, n), 0);
  if(s->echo)
    assert_int_equal(mux_stream_write(m, id, p, n), (int64_t)n);
}

static void m_fin(mux_t *m, uint32_t id, void *sud, void *ud)
{
  side_t *s = ud;
  s->fin = 1;
  if(s->echo)
    assert_int_equal(mux_stream_close(m, id), 0);
}

static void m_closed(mux_t *m, uint32_t id, void *sud, void *ud)
{
  ((side_t *)ud)->closed_streams++;
}

static void m_go_away(mux_t *m, uint32_t code, void *ud)
{
  side_t *s = ud;
  s->go_aways++;
  s->go_away_code = code;
}

static const mux_callbacks_t mcbs = {
    .on_stream_open = m_open,
    .on_data = m_data,
    .on_fin = m_fin,
    .on_stream_closed = m_closed,
    .on_go_away = m_go_away,
};

static uint64_t now = 1000;

static conn_t *make(side_t *s, int client, const conn_config_t *base)
{
  tls_ctx_t *ctx = client ? fixture_client_ctx("pki/controller", NULL)
                          : fixture_server_ctx(NULL);
  conn_config_t cfg;
  if(base)
    cfg = *base;
  else
    conn_config_default(&cfg);
  cfg.mux.is_client = client;
  s->name = client ? "controller" : "relay";
  s->c = conn_new(&cfg, ctx, client ? "localhost" : NULL, &cbs, &mcbs, s, now);
  tls_ctx_unref(ctx);
  assert_non_null(s->c);
  return s->c;
}

/* Flushes a and delivers its ciphertext to b; returns the byte count. */
static size_t move(side_t *a, side_t *b)
{
  static uint8_t buf[1 << 16];
  size_t total = 0;
  if(conn_state(a->c) != CONN_CLOSING)
    conn_flush(a->c, now);
  for(;;) {
    const uint8_t *p;
    size_t n = conn_pending(a->c, &p);
    if(!n)
      break;
    if(n > sizeof(buf))
      n = sizeof(buf);
    memcpy(buf, p, n);
    conn_advance(a->c, n);
    total += n;
    if(b->c && conn_state(b->c) != CONN_CLOSING)
      conn_feed(b->c, buf, n, now);
    if(conn_state(a->c) != CONN_CLOSING)
      conn_flush(a->c, now);
  }
  return total;
}

static void exchange(side_t *a, side_t *b)
{
  for(int i = 0; i < 50; i++)
    if(!move(a, b) + !move(b, a) == 2)
      return;
  fail_msg("no quiescence");
}

static void up_pair(side_t *cl, side_t *sv, const conn_config_t *ccfg,
                    const conn_config_t *scfg)
{
  memset(cl, 0, sizeof(*cl));
  memset(sv, 0, sizeof(*sv));
  make(cl, 1, ccfg);
  make(sv, 0, scfg);
  assert_int_equal(conn_state(cl->c), CONN_HANDSHAKE);
  assert_null(conn_mux(sv->c));
  exchange(cl, sv);
  assert_true(cl->up);
  assert_true(sv->up);
  assert_int_equal(conn_state(cl->c), CONN_UP);
  assert_int_equal(conn_state(sv->c), CONN_UP);
}

static void down_pair(side_t *cl, side_t *sv)
{
  conn_free(cl->c);
  conn_free(sv->c);
}

/* ---- tests ---------------------------------------------------------------
 */

static void test_reason_names(void **state)
{
  (void)state;
  assert_string_equal(conn_close_reason_name(CONN_CLOSE_NONE), "closed");
  assert_string_equal(conn_close_reason_name(CONN_CLOSE_KEEPALIVE_TIMEOUT),
                      "keepalive_timeout");
  assert_string_equal(conn_close_reason_name(CONN_CLOSE_WRITE_TIMEOUT),
                      "write_timeout");
  assert_string_equal(conn_close_reason_name(CONN_CLOSE_NOTIFY),
                      "close_notify");
  assert_string_equal(conn_close_reason_name(CONN_CLOSE_REASON_COUNT),
                      "closed");
  for(int r = 0; r < CONN_CLOSE_REASON_COUNT; r++) {
    assert_non_null(conn_close_reason_name(r));
    int hard = r == CONN_CLOSE_WRITE_TIMEOUT || r == CONN_CLOSE_WRITE_ERROR ||
               r == CONN_CLOSE_READ_ERROR || r == CONN_CLOSE_ABORT;
    assert_int_equal(conn_close_reason_is_hard(r), hard);
  }
}

/* Handshake, a stream echoed both ways, FIN both ways, a clean close
 * seen by the peer as close_notify. */
static void test_handshake_and_stream(void **state)
{
  (void)state;
  side_t cl, sv;
  up_pair(&cl, &sv, NULL, NULL);
  sv.echo = 1;
  int64_t id = mux_open(conn_mux(cl.c), NULL);
  assert_true(id > 0);
  static uint8_t data[40000];
  for(size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)(i * 7);
  assert_int_equal(
      mux_stream_write(conn_mux(cl.c), (uint32_t)id, data, sizeof(data)),
      (int64_t)sizeof(data));
  assert_int_equal(mux_stream_close(conn_mux(cl.c), (uint32_t)id), 0);
  exchange(&cl, &sv);
  assert_int_equal(sv.opened, 1);
  assert_int_equal(sv.ngot, sizeof(data));
  assert_int_equal(cl.ngot, sizeof(data));
  assert_memory_equal(cl.got, data, sizeof(data));
  assert_true(cl.fin);
  assert_true(sv.recv_done > 0);
  /* the tap saw every frame: headers plus the payload */
  assert_true(sv.plaintext > sizeof(data));
  assert_int_equal(cl.closed_streams, 1);
  assert_int_equal(sv.closed_streams, 1);
  assert_int_equal(conn_waiting(cl.c), 0);

  conn_close(sv.c, CONN_CLOSE_DRAIN, now);
  assert_int_equal(sv.closes, 1);
  assert_int_equal(sv.why, CONN_CLOSE_DRAIN);
  /* A soft close still sends close_notify. */
  assert_true(move(&sv, &cl) > 0);
  assert_int_equal(cl.closes, 1);
  assert_int_equal(cl.why, CONN_CLOSE_NOTIFY);
  /* Closing again changes nothing. */
  conn_close(sv.c, CONN_CLOSE_EOF, now);
  assert_int_equal(sv.closes, 1);
  assert_int_equal(conn_close_reason(sv.c), CONN_CLOSE_DRAIN);
  down_pair(&cl, &sv);
}

/* A tunnel without streams holds no ciphertext buffer once its queues
 * drain; one with a live stream keeps them for the next records. */
static void test_idle_buffers(void **state)
{
  (void)state;
  side_t cl, sv;
  up_pair(&cl, &sv, NULL, NULL);
  assert_int_equal(tls_conn_trim(conn_tls(cl.c)), 0);
  assert_int_equal(tls_conn_trim(conn_tls(sv.c)), 0);

  int64_t id = mux_open(conn_mux(cl.c), NULL);
  assert_true(id > 0);
  assert_int_equal(
      mux_stream_write(conn_mux(cl.c), (uint32_t)id, (const uint8_t *)"x", 1),
      1);
  exchange(&cl, &sv);
  assert_int_equal(sv.ngot, 1);
  assert_true(tls_conn_trim(conn_tls(sv.c)) > 0);
  assert_true(tls_conn_trim(conn_tls(cl.c)) > 0);

  /* The stream ends both ways: the queues that carried its last frames
   * are given back as they drain, and the session still works. */
  assert_int_equal(mux_stream_close(conn_mux(cl.c), (uint32_t)id), 0);
  exchange(&cl, &sv);
  assert_true(sv.fin);
  assert_int_equal(mux_stream_close(conn_mux(sv.c), (uint32_t)id), 0);
  exchange(&cl, &sv);
  assert_int_equal(mux_stream_count(conn_mux(sv.c)), 0);
  assert_int_equal(mux_stream_count(conn_mux(cl.c)), 0);
  assert_int_equal(tls_conn_trim(conn_tls(sv.c)), 0);
  assert_int_equal(tls_conn_trim(conn_tls(cl.c)), 0);
  sv.echo = 1;
  id = mux_open(conn_mux(cl.c), NULL);
  assert_true(id > 0);
  assert_int_equal(
      mux_stream_write(conn_mux(cl.c), (uint32_t)id, (const uint8_t *)"yz", 2),
      2);
  exchange(&cl, &sv);
  assert_int_equal(sv.ngot, 3);
  assert_int_equal(cl.ngot, 2);
  down_pair(&cl, &sv);
}

/* Pings that are not answered end the session: keepalive_timeout. */
static void test_keepalive_timeout(void **state)
{
  (void)state;
  side_t cl, sv;
  conn_config_t scfg;
  conn_config_default(&scfg);
  scfg.mux.keepalive_ms = 1000;
  scfg.mux.keepalive_timeout_ms = 500;
  up_pair(&cl, &sv, NULL, &scfg);
  int64_t id = mux_open(conn_mux(cl.c), NULL);
  assert_true(id > 0);
  exchange(&cl, &sv);
  assert_int_equal(sv.opened, 1);

  /* Answered pings keep it up. */
  for(int i = 0; i < 3; i++) {
    uint64_t dl = conn_next_deadline(sv.c);
    assert_true(dl != UINT64_MAX && dl > now);
    now = dl;
    assert_int_equal(conn_tick(sv.c, now), 0);
    exchange(&cl, &sv);
    assert_int_equal(conn_state(sv.c), CONN_UP);
  }
  /* Now the controller stops answering. */
  for(int i = 0; i < 4 && conn_state(sv.c) == CONN_UP; i++) {
    now = conn_next_deadline(sv.c);
    assert_int_equal(conn_tick(sv.c, now), 0);
    conn_flush(sv.c, now);
  }
  assert_int_equal(sv.why, CONN_CLOSE_KEEPALIVE_TIMEOUT);
  assert_string_equal(conn_close_reason_name(sv.why), "keepalive_timeout");
  assert_int_equal(sv.closed_streams, 1);
  assert_false(conn_want_read(sv.c));
  down_pair(&cl, &sv);
}

/* Ciphertext that waits with no progress for write_timeout_ms ends the
 * connection (hard: nothing more is queued); progress restarts the
 * clock, and a closing connection lingers at most that long. */
static void test_write_stall(void **state)
{
  (void)state;
  side_t cl, sv;
  conn_config_t scfg;
  conn_config_default(&scfg);
  scfg.write_timeout_ms = 2000;
  up_pair(&cl, &sv, NULL, &scfg);
  sv.echo = 1;
  int64_t id = mux_open(conn_mux(cl.c), NULL);
  static uint8_t data[20000];
  memset(data, 'x', sizeof(data));
  assert_int_equal(
      mux_stream_write(conn_mux(cl.c), (uint32_t)id, data, sizeof(data)),
      (int64_t)sizeof(data));
  move(&cl, &sv); /* the relay now has echo output to send */
  assert_int_equal(conn_flush(sv.c, now), 0);
  const uint8_t *p;
  size_t n = conn_pending(sv.c, &p);
  assert_true(n > 0);
  assert_int_equal(conn_next_deadline(sv.c), now + 2000);

  /* The adapter copies it into a write of its own: still waiting. */
  conn_advance_queued(sv.c, n);
  assert_int_equal(conn_queued(sv.c), n);
  assert_int_equal(conn_waiting(sv.c), n);
  now += 1500;
  assert_int_equal(conn_tick(sv.c, now), 0);
  assert_int_equal(conn_state(sv.c), CONN_UP);
  conn_write_done(sv.c, n / 2, now); /* progress */
  assert_int_equal(conn_next_deadline(sv.c), now + 2000);
  now += 1999;
  assert_int_equal(conn_tick(sv.c, now), 0);
  assert_int_equal(conn_state(sv.c), CONN_UP);
  now += 1;
  assert_int_equal(conn_tick(sv.c, now), 0);
  assert_int_equal(sv.why, CONN_CLOSE_WRITE_TIMEOUT);
  assert_true(conn_close_reason_is_hard(sv.why));
  /* Hard: no close_notify was queued. */
  assert_int_equal(conn_pending(sv.c, &p), 0);
  /* The linger is bounded too. */
  assert_int_equal(conn_next_deadline(sv.c), now + 2000);
  assert_int_equal(conn_tick(sv.c, now + 1999), 0);
  assert_int_equal(conn_tick(sv.c, now + 2000), CONN_TICK_DROP);
  down_pair(&cl, &sv);
}

/* The high-water mark stops encrypting; reads stop at their own mark. */
static void test_high_water(void **state)
{
  (void)state;
  side_t cl, sv;
  conn_config_t ccfg;
  conn_config_default(&ccfg);
  ccfg.high_water = 32 * 1024;
  ccfg.read_high_water = 32 * 1024;
  ccfg.flush_slice = 16 * 1024;
  up_pair(&cl, &sv, &ccfg, NULL);
  int64_t id = mux_open(conn_mux(cl.c), NULL);
  static uint8_t data[200000];
  memset(data, 'y', sizeof(data));
  int64_t took =
      mux_stream_write(conn_mux(cl.c), (uint32_t)id, data, sizeof(data));
  assert_true(took > 100000);
  assert_true(conn_want_read(cl.c));
  assert_true(conn_want_flush(cl.c));
  conn_flush(cl.c, now);
  size_t w = conn_waiting(cl.c);
  assert_true(w >= 32 * 1024 && w < 32 * 1024 + 17 * 1024);
  assert_false(conn_want_flush(cl.c));
  assert_true(conn_unencrypted(cl.c) > 0);
  assert_false(conn_want_read(cl.c));
  /* Copied into writes of our own: still counts. */
  const uint8_t *p;
  conn_advance_queued(cl.c, conn_pending(cl.c, &p));
  conn_flush(cl.c, now);
  assert_int_equal(conn_waiting(cl.c), w);
  assert_int_equal(conn_queued(cl.c), w);
  assert_false(conn_want_read(cl.c));
  conn_write_done(cl.c, conn_queued(cl.c), now);
  assert_true(conn_want_read(cl.c));
  assert_true(conn_want_flush(cl.c));
  down_pair(&cl, &sv);
}

/* Yamux garbage from the peer: on_mux_error, protocol_error, and the Go
 * Away (code 1) and close_notify still reach the peer. */
static void test_protocol_error(void **state)
{
  (void)state;
  side_t cl, sv;
  up_pair(&cl, &sv, NULL, NULL);
  static const uint8_t bad[12] = {9, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  assert_int_equal(tls_conn_write(conn_tls(cl.c), bad, sizeof(bad)),
                   (int)sizeof(bad));
  move(&cl, &sv);
  assert_int_equal(sv.mux_error, BEACON_EPROTO);
  assert_int_equal(sv.why, CONN_CLOSE_PROTOCOL_ERROR);
  assert_string_equal(conn_close_reason_name(sv.why), "protocol_error");
  move(&sv, &cl);
  assert_int_equal(cl.go_aways, 1);
  assert_int_equal(cl.go_away_code, MUX_GO_AWAY_PROTO_ERR);
  assert_int_equal(cl.why, CONN_CLOSE_NOTIFY);
  down_pair(&cl, &sv);
}

/* The handshake deadline, and a peer the adapter refuses. */
static void test_handshake_timeout_and_refusal(void **state)
{
  (void)state;
  side_t sv;
  memset(&sv, 0, sizeof(sv));
  conn_config_t scfg;
  conn_config_default(&scfg);
  scfg.handshake_timeout_ms = 3000;
  make(&sv, 0, &scfg);
  assert_int_equal(conn_next_deadline(sv.c), now + 3000);
  now += 3000;
  assert_int_equal(conn_tick(sv.c, now), 0);
  assert_int_equal(sv.hs_failed_rc, BEACON_ETIMEDOUT);
  assert_int_equal(sv.why, CONN_CLOSE_HANDSHAKE_TIMEOUT);
  assert_null(conn_mux(sv.c));
  conn_free(sv.c);

  side_t cl;
  memset(&cl, 0, sizeof(cl));
  memset(&sv, 0, sizeof(sv));
  sv.refuse = 1;
  make(&cl, 1, NULL);
  make(&sv, 0, NULL);
  exchange(&cl, &sv);
  assert_int_equal(sv.why, CONN_CLOSE_HANDSHAKE_FAILED);
  assert_false(sv.up);
  assert_null(conn_mux(sv.c));
  down_pair(&cl, &sv);
}

/* A garbled handshake fails with the TLS layer's reason. */
static void test_handshake_garbage(void **state)
{
  (void)state;
  side_t sv;
  memset(&sv, 0, sizeof(sv));
  make(&sv, 0, NULL);
  static const uint8_t junk[64] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_true(conn_feed(sv.c, junk, sizeof(junk), now) < 0);
  assert_int_equal(sv.hs_failed_rc, BEACON_ETLS);
  assert_int_equal(sv.why, CONN_CLOSE_HANDSHAKE_FAILED);
  /* Input after the close is ignored. */
  assert_int_equal(conn_feed(sv.c, junk, sizeof(junk), now), BEACON_ECLOSED);
  conn_free(sv.c);
}

/* keep_mux_on_close: the streams outlive the close until the adapter
 * frees the connection (no callbacks then); abort is hard. */
static void test_keep_mux_on_close(void **state)
{
  (void)state;
  side_t cl, sv;
  conn_config_t ccfg;
  conn_config_default(&ccfg);
  ccfg.keep_mux_on_close = 1;
  up_pair(&cl, &sv, &ccfg, NULL);
  int64_t id = mux_open(conn_mux(cl.c), NULL);
  assert_true(id > 0);
  exchange(&cl, &sv);
  conn_close(cl.c, CONN_CLOSE_ABORT, now);
  assert_int_equal(cl.why, CONN_CLOSE_ABORT);
  assert_string_equal(conn_close_reason_name(cl.why), "abort");
  assert_int_equal(cl.closed_streams, 0);
  assert_int_equal(mux_stream_count(conn_mux(cl.c)), 1);
  const uint8_t *p;
  assert_int_equal(conn_pending(cl.c, &p), 0);
  down_pair(&cl, &sv);
  assert_int_equal(cl.closed_streams, 0);
}

/* The adapter's deadlines (one per stream's target line on the relay)
 * are merged into the one next deadline, fire once each in time order
 * whatever order they were started in, can be stopped, restarted and
 * stopped from a callback, and do not fire once the connection closes. */
static void test_deadlines(void **state)
{
  (void)state;
  side_t cl, sv;
  up_pair(&cl, &sv, NULL, NULL);
  conn_deadline_t a, b, c, d;
  conn_deadline_init(&a);
  conn_deadline_init(&b);
  conn_deadline_init(&c);
  conn_deadline_init(&d);
  assert_false(conn_deadline_running(&a));
  conn_deadline_stop(&a); /* harmless when stopped */
  assert_int_equal(conn_next_deadline(sv.c), UINT64_MAX);

  conn_deadline_start(sv.c, &b, now + 50);
  conn_deadline_start(sv.c, &c, now + 70);
  conn_deadline_start(sv.c, &a, now + 30); /* earlier than the rest */
  conn_deadline_start(sv.c, &d, now + 60); /* in the middle */
  assert_true(conn_deadline_running(&a));
  assert_int_equal(conn_next_deadline(sv.c), now + 30);
  assert_int_equal(conn_tick(sv.c, now + 29), 0);
  assert_int_equal(sv.deadlines, 0);

  /* Two pass at one tick: both fire, earliest first. */
  assert_int_equal(conn_tick(sv.c, now + 55), 0);
  assert_int_equal(sv.deadlines, 2);
  assert_ptr_equal(sv.fired[0], &a);
  assert_ptr_equal(sv.fired[1], &b);
  assert_int_equal(conn_next_deadline(sv.c), now + 60);

  /* A restart moves it; a stop removes it. */
  conn_deadline_start(sv.c, &d, now + 80);
  assert_int_equal(conn_next_deadline(sv.c), now + 70);
  conn_deadline_stop(&c);
  assert_int_equal(conn_next_deadline(sv.c), now + 80);
  conn_deadline_start(sv.c, &c, now + 90);

  /* d's callback stops c, which had passed too: c never fires. */
  sv.stop_on_fire = &c;
  assert_int_equal(conn_tick(sv.c, now + 100), 0);
  assert_int_equal(sv.deadlines, 3);
  assert_ptr_equal(sv.fired[2], &d);
  assert_false(conn_deadline_running(&c));
  assert_int_equal(conn_next_deadline(sv.c), UINT64_MAX);
  sv.stop_on_fire = NULL;

  /* Closing: a running deadline no longer fires, and conn_free leaves
   * it stopped so its owner may stop it again afterwards. */
  conn_deadline_start(sv.c, &a, now + 110);
  conn_close(sv.c, CONN_CLOSE_DRAIN, now + 105);
  assert_int_equal(conn_tick(sv.c, now + 120), 0);
  assert_int_equal(sv.deadlines, 3);
  down_pair(&cl, &sv);
  assert_false(conn_deadline_running(&a));
  conn_deadline_stop(&a);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reason_names),
      cmocka_unit_test(test_handshake_and_stream),
      cmocka_unit_test(test_idle_buffers),
      cmocka_unit_test(test_keepalive_timeout),
      cmocka_unit_test(test_write_stall),
      cmocka_unit_test(test_high_water),
      cmocka_unit_test(test_protocol_error),
      cmocka_unit_test(test_handshake_timeout_and_refusal),
      cmocka_unit_test(test_handshake_garbage),
      cmocka_unit_test(test_keep_mux_on_close),
      cmocka_unit_test(test_deadlines),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
