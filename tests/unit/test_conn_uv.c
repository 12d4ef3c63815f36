/*
 * test_conn_uv.c - a stream's writes to its local socket
 * (src/conn/conn_uv.c conn_uv_send) over a real AF_UNIX socket pair on
 * a libuv loop: what the socket takes at once, the rest queued in
 * order and reported once written, byte for byte; nothing tried while
 * a write is queued; an error from a dead peer; queued writes cancelled
 * when the socket closes.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn/conn_uv.h"

#define TOTAL (4u << 20) /* far more than the socket buffers hold */
#define PIECE 100000     /* odd sizes: pieces end mid-buffer */

static uint8_t src[TOTAL];

typedef struct rig {
  uv_loop_t loop;
  uv_pipe_t out, in; /* out: the sender's end; in: the reader's */
  conn_uv_sender_t snd;
  uint8_t *got;
  size_t ngot;
  size_t reported; /* bytes reported by the callback */
  size_t direct;   /* bytes taken at once */
  int calls, errors, cancelled;
  uint8_t rbuf[65536];
} rig_t;

static void on_written(void *owner, size_t len, int status)
{
  rig_t *r = owner;
  r->calls++;
  if(status == UV_ECANCELED)
    r->cancelled++;
  else if(status < 0)
    r->errors++;
  else
    r->reported += len;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  rig_t *r = h->data;
  *b = uv_buf_init((char *)r->rbuf, sizeof(r->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
  rig_t *r = st->data;
  if(n <= 0)
    return;
  assert_true(r->ngot + (size_t)n <= TOTAL);
  memcpy(r->got + r->ngot, b->base, (size_t)n);
  r->ngot += (size_t)n;
  if(r->ngot == TOTAL)
    uv_read_stop(st);
}

static void rig_open(rig_t *r, int small_buffers)
{
  memset(r, 0, sizeof(*r));
  int fds[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  if(small_buffers) {
    int sz = 4096;
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
  }
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_int_equal(uv_pipe_init(&r->loop, &r->out, 0), 0);
  assert_int_equal(uv_pipe_init(&r->loop, &r->in, 0), 0);
  assert_int_equal(uv_pipe_open(&r->out, fds[0]), 0);
  assert_int_equal(uv_pipe_open(&r->in, fds[1]), 0);
  r->out.data = r->in.data = r;
  r->got = malloc(TOTAL);
  assert_non_null(r->got);
  conn_uv_sender_init(&r->snd, (uv_stream_t *)&r->out, on_written, r);
  for(size_t i = 0; i < TOTAL; i++)
    src[i] = (uint8_t)(i * 13 + i / 977);
}

static void rig_close(rig_t *r)
{
  if(!uv_is_closing((uv_handle_t *)&r->out))
    uv_close((uv_handle_t *)&r->out, NULL);
  if(!uv_is_closing((uv_handle_t *)&r->in))
    uv_close((uv_handle_t *)&r->in, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r->loop), 0);
  free(r->got);
}

/* Everything arrives once, in order, whether taken at once or queued,
 * and the queued part is reported exactly. */
static void test_order_and_report(void **state)
{
  rig_t r;
  rig_open(&r, 1);
  int queued_once = 0;
  for(size_t off = 0; off < TOTAL;) {
    /* three buffers per call, as the relay's gather hands them */
    uv_buf_t b[3];
    size_t n = 0;
    unsigned nb = 0;
    for(int i = 0; i < 3 && off + n < TOTAL; i++) {
      size_t len = PIECE / 3 + (size_t)i;
      if(off + n + len > TOTAL)
        len = TOTAL - off - n;
      b[nb++] = uv_buf_init((char *)src + off + n, (unsigned)len);
      n += len;
    }
    size_t before = r.snd.inflight;
    int64_t took = conn_uv_send(&r.snd, b, nb);
    assert_true(took >= 0);
    if(before)
      assert_int_equal(took, 0); /* nothing tried behind a queued write */
    assert_int_equal(r.snd.inflight, before + n - (size_t)took);
    if((size_t)took < n)
      queued_once = 1;
    r.direct += (size_t)took;
    off += n;
  }
  assert_true(queued_once); /* the small buffers made it queue */
  assert_int_equal(uv_read_start((uv_stream_t *)&r.in, on_alloc, on_read), 0);
  while(r.ngot < TOTAL || r.snd.inflight)
    assert_true(uv_run(&r.loop, UV_RUN_ONCE) || r.ngot == TOTAL);
  assert_int_equal(r.ngot, TOTAL);
  assert_memory_equal(r.got, src, TOTAL);
  assert_int_equal(r.snd.inflight, 0);
  assert_int_equal(r.direct + r.reported, TOTAL);
  assert_int_equal(r.errors, 0);
  rig_close(&r);
}

/* A peer that is gone: an error, and nothing queued. */
static void test_dead_peer(void **state)
{
  rig_t r;
  rig_open(&r, 0);
  uv_close((uv_handle_t *)&r.in, NULL);
  uv_run(&r.loop, UV_RUN_NOWAIT);
  uv_buf_t b = uv_buf_init((char *)src, 1000);
  int64_t took = conn_uv_send(&r.snd, &b, 1);
  assert_true(took < 0);
  assert_int_not_equal(took, UV_ENOMEM);
  assert_int_equal(r.snd.inflight, 0);
  assert_int_equal(r.calls, 0);
  rig_close(&r);
}

/* Queued writes of a socket that closes come back cancelled, each
 * once, and the count of bytes in flight returns to zero. */
static void test_cancelled_on_close(void **state)
{
  rig_t r;
  rig_open(&r, 1);
  uv_buf_t b = uv_buf_init((char *)src, TOTAL / 2);
  int64_t took = conn_uv_send(&r.snd, &b, 1);
  assert_true(took >= 0 && (size_t)took < TOTAL / 2);
  b = uv_buf_init((char *)src + TOTAL / 2, TOTAL / 2);
  assert_int_equal(conn_uv_send(&r.snd, &b, 1), 0); /* behind the queue */
  assert_int_equal(r.snd.inflight, TOTAL - (size_t)took);
  uv_close((uv_handle_t *)&r.out, NULL);
  uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(r.cancelled, 2);
  assert_int_equal(r.snd.inflight, 0);
  rig_close(&r);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN); /* the dead peer's write must fail, not kill */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_and_report),
      cmocka_unit_test(test_dead_peer),
      cmocka_unit_test(test_cancelled_on_close),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
