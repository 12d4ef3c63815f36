/*
 * bio_queue.c - a byte-queue BIO (see bio_queue.h).
 *
 * One linear buffer: bytes live in [head, tail). A write compacts the
 * live bytes to the front only when that makes room (so a queue drained
 * as fast as it fills never moves memory) and otherwise doubles the
 * buffer; an emptied queue rewinds to offset 0 for free.
 */
#include "tls/bio_queue.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct queue {
  uint8_t *buf;
  size_t head, tail, cap;
};

#define QUEUE_MIN 256 /* small frames of idle tunnels stay small */

static BIO_METHOD *queue_method;
static pthread_once_t queue_once = PTHREAD_ONCE_INIT;

static struct queue *q_of(BIO *b)
{
  return BIO_get_data(b);
}

static int q_reserve(struct queue *q, size_t n)
{
  size_t live = q->tail - q->head;
  if(q->cap - q->tail >= n)
    return 0;
  if(q->cap - live >= n && q->head) {
    memmove(q->buf, q->buf + q->head, live);
    q->head = 0;
    q->tail = live;
    return 0;
  }
  if(n > SIZE_MAX / 2 - live)
    return -1;
  size_t cap = q->cap ? q->cap : QUEUE_MIN;
  while(cap - live < n)
    cap *= 2;
  uint8_t *nb = malloc(cap);
  if(!nb)
    return -1;
  if(live)
    memcpy(nb, q->buf + q->head, live);
  free(q->buf);
  q->buf = nb;
  q->cap = cap;
  q->head = 0;
  q->tail = live;
  return 0;
}

static int q_write(BIO *b, const char *in, size_t n, size_t *written)
{
  struct queue *q = q_of(b);
  BIO_clear_retry_flags(b);
  *written = 0;
  if(!n)
    return 1;
  if(q_reserve(q, n))
    return 0; /* no retry flag: a hard error */
  memcpy(q->buf + q->tail, in, n);
  q->tail += n;
  *written = n;
  return 1;
}

static int q_read(BIO *b, char *out, size_t cap, size_t *got)
{
  struct queue *q = q_of(b);
  size_t live = q->tail - q->head;
  BIO_clear_retry_flags(b);
  *got = 0;
  if(!live) {
    BIO_set_retry_read(b); /* empty means "later", not EOF */
    return 0;
  }
  size_t n = cap < live ? cap : live;
  memcpy(out, q->buf + q->head, n);
  bio_queue_consume(b, n);
  *got = n;
  return 1;
}

static long q_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  struct queue *q = q_of(b);
  (void)num;
  (void)ptr;
  switch(cmd) {
  case BIO_CTRL_PENDING: {
    size_t live = q->tail - q->head;
    return live > LONG_MAX ? LONG_MAX : (long)live;
  }
  case BIO_CTRL_RESET:
    q->head = q->tail = 0;
    return 1;
  case BIO_CTRL_FLUSH:
    return 1;
  default: /* WPENDING, EOF, kTLS queries and the rest: no */
    return 0;
  }
}

static int q_create(BIO *b)
{
  struct queue *q = calloc(1, sizeof(*q));
  if(!q)
    return 0;
  BIO_set_data(b, q);
  BIO_set_init(b, 1);
  return 1;
}

static int q_destroy(BIO *b)
{
  struct queue *q = q_of(b);
  if(q) {
    free(q->buf);
    free(q);
    BIO_set_data(b, NULL);
  }
  return 1;
}

static void q_method_init(void)
{
  BIO_METHOD *m =
      BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "beacon queue");
  if(!m)
    return;
  if(!BIO_meth_set_write_ex(m, q_write) || !BIO_meth_set_read_ex(m, q_read) ||
     !BIO_meth_set_ctrl(m, q_ctrl) || !BIO_meth_set_create(m, q_create) ||
     !BIO_meth_set_destroy(m, q_destroy)) {
    BIO_meth_free(m);
    return;
  }
  queue_method = m; /* lives as long as the process */
}

BIO *bio_queue_new(void)
{
  pthread_once(&queue_once, q_method_init);
  return queue_method ? BIO_new(queue_method) : NULL;
}

size_t bio_queue_pending(BIO *b)
{
  struct queue *q = q_of(b);
  return q->tail - q->head;
}

size_t bio_queue_peek(BIO *b, const uint8_t **p)
{
  struct queue *q = q_of(b);
  *p = q->buf ? q->buf + q->head : NULL;
  return q->tail - q->head;
}

void bio_queue_consume(BIO *b, size_t n)
{
  struct queue *q = q_of(b);
  q->head += n;
  if(q->head >= q->tail)
    q->head = q->tail = 0;
}

size_t bio_queue_trim(BIO *b, size_t keep)
{
  struct queue *q = q_of(b);
  if(q->tail != q->head || q->cap <= keep)
    return 0;
  size_t freed = q->cap;
  free(q->buf);
  q->buf = NULL;
  q->cap = q->head = q->tail = 0;
  return freed;
}
