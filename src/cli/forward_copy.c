/* forward_copy.c - the poll copy engine (cli/forward_copy.h). */
#include "cli/forward_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static int set_nonblock(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void hard_close(int fd)
{
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* One direction: src -> dst. 0, or -errno of the side that failed
 * (*who: 0 = src, 1 = dst). */
static int step(int src, int dst, half_t *h, int *who)
{
  if(!h->len && !h->eof) {
    ssize_t n = read(src, h->buf, sizeof(h->buf));
    if(n < 0 && errno != EAGAIN && errno != EINTR) {
      *who = 0;
      return -errno;
    }
    if(n == 0)
      h->eof = 1;
    if(n > 0) {
      h->off = 0;
      h->len = (size_t)n;
    }
  }
  while(h->len) {
    ssize_t n = write(dst, h->buf + h->off, h->len);
    if(n < 0) {
      if(errno == EAGAIN || errno == EINTR)
        break;
      *who = 1;
      return -errno;
    }
    h->off += (size_t)n;
    h->len -= (size_t)n;
    h->bytes += (uint64_t)n;
    if(h->counter)
      metric_add(h->counter, h->dir, (uint64_t)n);
  }
  if(h->eof && !h->len && !h->done) {
    shutdown(dst, SHUT_WR);
    h->done = 1;
  }
  return 0;
}

outcome_t forward_copy_both(int a, int b, half_t *ab, half_t *ba)
{
  set_nonblock(a);
  set_nonblock(b);
  while(!ab->done || !ba->done) {
    struct pollfd p[2] = {{.fd = a}, {.fd = b}};
    if(!ab->done)
      ab->len ? (p[1].events |= POLLOUT) : (p[0].events |= POLLIN);
    if(!ba->done)
      ba->len ? (p[0].events |= POLLOUT) : (p[1].events |= POLLIN);
    if(poll(p, 2, -1) < 0 && errno != EINTR)
      return OUTCOME_LOCAL_ERROR;
    int who = 0, rc = 0;
    if(!ab->done)
      rc = step(a, b, ab, &who);
    if(rc) {
      hard_close(who ? a : b);
      return rc == -ECONNRESET
                 ? (who ? OUTCOME_RESET_BY_TARGET : OUTCOME_RESET_BY_CLIENT)
                 : OUTCOME_LOCAL_ERROR;
    }
    if(!ba->done)
      rc = step(b, a, ba, &who);
    if(rc) {
      hard_close(who ? b : a);
      return rc == -ECONNRESET
                 ? (who ? OUTCOME_RESET_BY_CLIENT : OUTCOME_RESET_BY_TARGET)
                 : OUTCOME_LOCAL_ERROR;
    }
  }
  return OUTCOME_OK;
}
