/* forward_front.c - SOCKS5 and HTTP CONNECT handshakes and answers for
 * one connection (cli/forward_front.h). */
#include "cli/forward_front.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

int front_send_all(int fd, const void *p, size_t n)
{
  const uint8_t *b = p;
  while(n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if(w < 0) {
      if(errno == EINTR)
        continue;
      return BEACON_EIO;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

int front_send_counted(int fd, const void *p, size_t n, half_t *h)
{
  if(front_send_all(fd, p, n))
    return BEACON_EIO;
  if(h) {
    h->bytes += n;
    if(h->counter)
      metric_add(h->counter, h->dir, n);
  }
  return 0;
}

int front_http_answer(int fd, int status, const char *why, half_t *h)
{
  char resp[512];
  size_t n = proxy_http_response(resp, sizeof(resp), status, why);
  return front_send_counted(fd, resp, n, h);
}

/* After an error answer: half-close and read what the client still
 * sends (up to a second, 64 KiB), so that closing with unread bytes does
 * not turn into a reset that destroys the answer in flight (nginx's
 * lingering close). */
static void linger_close(int fd)
{
  char b[4096];
  uint64_t deadline = forward_mono_ms() + 1000;
  size_t total = 0;
  shutdown(fd, SHUT_WR);
  while(total < 64 * 1024) {
    uint64_t now = forward_mono_ms();
    if(now >= deadline)
      break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if(poll(&p, 1, (int)(deadline - now)) <= 0)
      break;
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    if(n <= 0)
      break;
    total += (size_t)n;
  }
}

/* Feeds one read to the parser; sends SOCKS replies. BEACON_EAGAIN for
 * more, 0 when complete, or an error as front_read_handshake(). */
static int feed(front_t *f, int fd, const uint8_t *buf, size_t n)
{
  size_t used = n;
  proxy_socks_t *sk = f->kind == FRONT_SOCKS ? &f->socks : NULL;
  int rc = sk ? proxy_socks_feed(sk, buf, &used)
              : proxy_http_feed(&f->http, buf, &used);
  if(sk && sk->reply_len) {
    if(front_send_all(fd, sk->reply, sk->reply_len))
      return BEACON_EIO;
    sk->reply_len = 0;
  }
  if(rc == BEACON_EAGAIN)
    return rc;
  if(rc)
    return BEACON_EPROTO;
  f->rest_len = n - used;
  memcpy(f->rest, buf + used, f->rest_len);
  return 0;
}

int front_read_handshake(front_t *f, int fd)
{
  uint64_t deadline = forward_mono_ms() + FRONT_HEADER_TIMEOUT_MS;
  uint8_t buf[FRONT_REST_MAX];
  proxy_socks_init(&f->socks);
  proxy_http_init(&f->http);
  f->rest_len = 0;
  for(;;) {
    uint64_t now = forward_mono_ms();
    if(now >= deadline)
      return BEACON_ETIMEDOUT;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if(poll(&p, 1, (int)(deadline - now)) <= 0)
      continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if(n <= 0)
      return BEACON_ECLOSED;
    int rc = feed(f, fd, buf, (size_t)n);
    if(rc != BEACON_EAGAIN)
      return rc;
  }
}

const char *front_target(const front_t *f)
{
  return f->kind == FRONT_SOCKS ? f->socks.target : f->http.target;
}

void front_refuse_request(const front_t *f, int fd)
{
  if(f->kind != FRONT_HTTP)
    return;
  int status = f->http.status;
  const char *why = status == 405
                        ? "CONNECT, or a request with an absolute http:// URI"
                    : status == 431 ? "request header too large"
                                    : "malformed CONNECT request";
  if(!front_http_answer(fd, status, why, NULL))
    linger_close(fd);
}

void front_answer_failure(const front_t *f, int fd, outcome_t o,
                          const char *detail)
{
  if(f->kind == FRONT_SOCKS) {
    uint8_t r[SOCKS_REPLY_SIZE];
    (void)front_send_all(fd, r, proxy_socks_reply(r, outcome_socks_reply(o)));
  } else {
    (void)front_http_answer(fd, outcome_http_status(o), detail, NULL);
  }
}

void front_answer_success(const front_t *f, int fd)
{
  if(f->kind == FRONT_SOCKS) {
    uint8_t r[SOCKS_REPLY_SIZE];
    (void)front_send_all(fd, r, proxy_socks_reply(r, SOCKS_OK));
  } else {
    char resp[128];
    (void)front_send_all(fd, resp,
                         proxy_http_response(resp, sizeof(resp), 200, NULL));
  }
}
