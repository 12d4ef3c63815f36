/* netlab: a packet-level WAN path between two network namespaces, for
 * tests and benchmarks (no tc netem needed).
 *
 *   netlab [--rate-mbit R] [--delay-ms D] [--queue-bytes N | --queue-ms M]
 *          [--loss PCT] [--burst-loss P_GB,P_BG[,LOSS_BAD[,LOSS_GOOD]]]
 *          [--reorder PCT[,EXTRA_MS]] [--mtu N] [--seed N]
 *          [--addr-a A.B.C.D] [--addr-b A.B.C.D]
 *
 * netlab forks two children that each hold a new network namespace (they
 * die with netlab: PR_SET_PDEATHSIG), creates a tun device in each, gives
 * them addresses of one /30 (default 10.77.0.1 in A, 10.77.0.2 in B) and
 * brings lo up in both. It then carries every IP packet from one tun to
 * the other, in each direction independently:
 *
 *   loss (random, or Gilbert-Elliott bursts) -> bottleneck queue of
 *   --queue-bytes, drop-tail -> serialised at the link rate -> one-way
 *   delay -> (optionally held back EXTRA_MS, so later packets overtake
 *   it) -> written to the other tun.
 *
 * Real kernel TCP on both sides sees real loss, queueing and reordering.
 * Every random choice comes from a PRNG seeded by --seed, one stream per
 * direction, so a run is repeatable for the same packet sequence.
 *
 * Prints `ns-a PID ADDR` and `ns-b PID ADDR` then `ready`; run programs
 * inside with `nsenter --net=/proc/PID/ns/net`. SIGTERM/SIGINT end it and
 * print per-direction counters to stderr. Needs CAP_NET_ADMIN and
 * CAP_SYS_ADMIN (root, or inside `unshare -r`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PACKET 65536

struct options {
  double rate_mbit; /* 0: unlimited */
  double delay_ms;  /* one way */
  double queue_bytes;
  double queue_ms;
  double loss;                /* probability, random mode */
  int burst;                  /* Gilbert-Elliott instead of random */
  double p_gb, p_bg;          /* good->bad, bad->good per packet */
  double loss_bad, loss_good; /* loss probability in each state */
  double reorder, reorder_ms; /* probability, extra hold */
  int mtu;
  uint64_t seed;
  struct in_addr addr_a, addr_b;
};

struct packet {
  struct packet *next;
  uint64_t due_ns;
  size_t len;
  unsigned char data[];
};

/* One direction: in_fd -> emulated link -> out_fd. */
struct direction {
  const char *name;
  int in_fd, out_fd;
  uint64_t rng;
  int bad_state;
  uint64_t link_free_ns;      /* when the link finishes its last packet */
  struct packet *head, *tail; /* the delay line, in due order */
  uint64_t passed, lost, queue_drops, reordered, write_drops;
};

static struct options opt;
static volatile sig_atomic_t stop;

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, fast, and the same on every machine. */
static double rand01(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) / (double)(1ull << 53);
}

static int lose(struct direction *d)
{
  if(!opt.burst)
    return opt.loss > 0 && rand01(&d->rng) < opt.loss;
  /* Gilbert-Elliott: move between the states first, then lose with the
   * state's probability. */
  double u = rand01(&d->rng);
  if(d->bad_state ? u < opt.p_bg : u < opt.p_gb)
    d->bad_state = !d->bad_state;
  double p = d->bad_state ? opt.loss_bad : opt.loss_good;
  return p > 0 && rand01(&d->rng) < p;
}

static double bytes_per_ns(void)
{
  return opt.rate_mbit / 8e3; /* Mbit/s -> bytes per ns */
}

/* Inserts p by due time; the delay line is in order except for packets
 * held back for reordering, so the walk from the tail is short. */
static void delay_line_insert(struct direction *d, struct packet *p)
{
  if(!d->tail || d->tail->due_ns <= p->due_ns) {
    p->next = NULL;
    if(d->tail)
      d->tail->next = p;
    else
      d->head = p;
    d->tail = p;
    return;
  }
  struct packet **pp = &d->head;
  while(*pp && (*pp)->due_ns <= p->due_ns)
    pp = &(*pp)->next;
  p->next = *pp;
  *pp = p;
}

/* A packet arrived at the link at time t. */
static void link_admit(struct direction *d, const unsigned char *buf,
                       size_t len, uint64_t t)
{
  if(lose(d)) {
    d->lost++;
    return;
  }
  uint64_t start = d->link_free_ns > t ? d->link_free_ns : t;
  uint64_t tx_ns = 0;
  if(opt.rate_mbit > 0) {
    /* Bytes still waiting for the link: the drop-tail queue's fill. */
    double backlog = (double)(start - t) * bytes_per_ns();
    if(backlog + (double)len > opt.queue_bytes) {
      d->queue_drops++;
      return;
    }
    tx_ns = (uint64_t)((double)len / bytes_per_ns());
  }
  struct packet *p = malloc(sizeof(*p) + len);
  if(!p) {
    d->queue_drops++;
    return;
  }
  d->link_free_ns = start + tx_ns;
  p->due_ns = d->link_free_ns + (uint64_t)(opt.delay_ms * 1e6);
  if(opt.reorder > 0 && rand01(&d->rng) < opt.reorder) {
    p->due_ns += (uint64_t)(opt.reorder_ms * 1e6);
    d->reordered++;
  }
  p->len = len;
  memcpy(p->data, buf, len);
  delay_line_insert(d, p);
}

static void deliver_due(struct direction *d, uint64_t t)
{
  while(d->head && d->head->due_ns <= t) {
    struct packet *p = d->head;
    d->head = p->next;
    if(!d->head)
      d->tail = NULL;
    if(write(d->out_fd, p->data, p->len) == (ssize_t)p->len)
      d->passed++;
    else
      d->write_drops++;
    free(p);
  }
}

static void read_all(struct direction *d, unsigned char *buf)
{
  for(int i = 0; i < 256; i++) { /* bounded: the other side gets a turn */
    ssize_t n = read(d->in_fd, buf, MAX_PACKET);
    if(n <= 0)
      return;
    link_admit(d, buf, (size_t)n, now_ns());
  }
}

/* ---- namespaces and devices ------------------------------------------- */

static int ifreq_ioctl(int sock, unsigned long req, struct ifreq *ifr,
                       const char *what)
{
  if(ioctl(sock, req, ifr) == 0)
    return 0;
  fprintf(stderr, "netlab: %s %s: %s\n", what, ifr->ifr_name, strerror(errno));
  return -1;
}

static void set_addr(struct sockaddr *sa, struct in_addr a)
{
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = a};
  memcpy(sa, &sin, sizeof(sin));
}

static int link_up(int sock, const char *name)
{
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if(ifreq_ioctl(sock, SIOCGIFFLAGS, &ifr, "get flags"))
    return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ifreq_ioctl(sock, SIOCSIFFLAGS, &ifr, "up");
}

/* In the current namespace: lo up, a tun "lab0" with addr/30. Returns
 * the tun's fd or -1. */
static int make_tun(struct in_addr addr)
{
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if(fd < 0) {
    perror("netlab: /dev/net/tun");
    return -1;
  }
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "lab0");
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int ok = sock >= 0 && ifreq_ioctl(fd, TUNSETIFF, &ifr, "TUNSETIFF") == 0;
  struct in_addr mask = {htonl(0xfffffffcu)};
  if(ok) {
    set_addr(&ifr.ifr_addr, addr);
    ok = ifreq_ioctl(sock, SIOCSIFADDR, &ifr, "address") == 0;
  }
  if(ok) {
    set_addr(&ifr.ifr_netmask, mask);
    ok = ifreq_ioctl(sock, SIOCSIFNETMASK, &ifr, "netmask") == 0;
  }
  if(ok) {
    ifr.ifr_mtu = opt.mtu;
    ok = ifreq_ioctl(sock, SIOCSIFMTU, &ifr, "mtu") == 0;
  }
  ok = ok && link_up(sock, "lab0") == 0 && link_up(sock, "lo") == 0;
  if(sock >= 0)
    close(sock);
  if(!ok) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A child that holds a new network namespace until netlab exits. */
static pid_t spawn_holder(void)
{
  int ready[2];
  if(pipe(ready))
    return -1;
  pid_t pid = fork();
  if(pid == 0) {
    close(ready[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char ok = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
    if(ok == 'n')
      perror("netlab: unshare(CLONE_NEWNET)");
    if(write(ready[1], &ok, 1) != 1 || ok == 'n')
      _exit(1);
    for(;;)
      pause();
  }
  close(ready[1]);
  char c = 0;
  if(pid < 0 || read(ready[0], &c, 1) != 1 || c != 'y')
    pid = -1;
  close(ready[0]);
  return pid;
}

/* The tun inside pid's namespace; netlab itself returns to its own. */
static int tun_in(pid_t pid, struct in_addr addr)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  int fd = -1;
  if(home >= 0 && ns >= 0 && setns(ns, CLONE_NEWNET) == 0) {
    fd = make_tun(addr);
    if(setns(home, CLONE_NEWNET)) {
      perror("netlab: setns back");
      exit(1);
    }
  } else {
    perror("netlab: setns");
  }
  if(home >= 0)
    close(home);
  if(ns >= 0)
    close(ns);
  return fd;
}

/* ---- options ---------------------------------------------------------- */

static void usage(void)
{
  fprintf(stderr,
          "usage: netlab [--rate-mbit R] [--delay-ms ONE_WAY] "
          "[--queue-bytes N | --queue-ms M]\n"
          "              [--loss PCT] [--burst-loss "
          "P_GB,P_BG[,LOSS_BAD[,LOSS_GOOD]]] (percent)\n"
          "              [--reorder PCT[,EXTRA_MS]] [--mtu N] [--seed N]\n"
          "              [--addr-a IP] [--addr-b IP]\n");
  exit(2);
}

static double number(const char *s)
{
  char *end;
  double v = strtod(s, &end);
  if(end == s || *end || v < 0)
    usage();
  return v;
}

/* "a,b[,c[,d]]" in percent into out[]; returns how many. */
static int numbers(const char *s, double *out, int max)
{
  int n = 0;
  char *copy = strdup(s), *save = NULL;
  for(char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
    out[n < max ? n++ : (usage(), 0)] = number(t);
  free(copy);
  return n;
}

static void parse(int argc, char **argv)
{
  opt.mtu = 1500;
  opt.seed = 1;
  opt.queue_ms = -1;
  opt.queue_bytes = -1;
  inet_pton(AF_INET, "10.77.0.1", &opt.addr_a);
  inet_pton(AF_INET, "10.77.0.2", &opt.addr_b);
  for(int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if(!v)
      usage();
    i++;
    if(!strcmp(a, "--rate-mbit"))
      opt.rate_mbit = number(v);
    else if(!strcmp(a, "--delay-ms"))
      opt.delay_ms = number(v);
    else if(!strcmp(a, "--queue-bytes"))
      opt.queue_bytes = number(v);
    else if(!strcmp(a, "--queue-ms"))
      opt.queue_ms = number(v);
    else if(!strcmp(a, "--loss"))
      opt.loss = number(v) / 100;
    else if(!strcmp(a, "--burst-loss")) {
      double g[4] = {0, 0, 100, 0};
      if(numbers(v, g, 4) < 2)
        usage();
      opt.burst = 1;
      opt.p_gb = g[0] / 100, opt.p_bg = g[1] / 100;
      opt.loss_bad = g[2] / 100, opt.loss_good = g[3] / 100;
    } else if(!strcmp(a, "--reorder")) {
      double r[2] = {0, 0};
      numbers(v, r, 2);
      opt.reorder = r[0] / 100;
      opt.reorder_ms = r[1] > 0 ? r[1] : 2 * opt.delay_ms / 10 + 1;
    } else if(!strcmp(a, "--mtu"))
      opt.mtu = (int)number(v);
    else if(!strcmp(a, "--seed"))
      opt.seed = (uint64_t)number(v);
    else if(!strcmp(a, "--addr-a") && inet_pton(AF_INET, v, &opt.addr_a) == 1)
      ;
    else if(!strcmp(a, "--addr-b") && inet_pton(AF_INET, v, &opt.addr_b) == 1)
      ;
    else
      usage();
  }
  if(opt.mtu < 576 || opt.mtu > MAX_PACKET)
    usage();
  /* Default bottleneck: one bandwidth-delay product of the round trip
   * (the classic rule), at least 64 packets. */
  if(opt.queue_bytes < 0) {
    double ms = opt.queue_ms >= 0 ? opt.queue_ms : 2 * opt.delay_ms;
    opt.queue_bytes = opt.rate_mbit * 1e3 / 8 * ms;
    if(opt.queue_ms < 0 && opt.queue_bytes < 64.0 * opt.mtu)
      opt.queue_bytes = 64.0 * opt.mtu;
  }
}

/* ---- main ------------------------------------------------------------- */

static void on_signal(int sig)
{
  (void)sig;
  stop = 1;
}

/* How long poll may sleep: until the earliest due packet, at most 100 ms
 * (ppoll takes nanoseconds; the timer slack is set to 1 us in main). */
static struct timespec next_timeout(const struct direction *d, int n,
                                    uint64_t t)
{
  uint64_t wait = 100000000u;
  for(int i = 0; i < n; i++) {
    if(!d[i].head)
      continue;
    uint64_t due = d[i].head->due_ns;
    uint64_t w = due <= t ? 0 : due - t;
    wait = w < wait ? w : wait;
  }
  struct timespec ts = {(time_t)(wait / 1000000000u),
                        (long)(wait % 1000000000u)};
  return ts;
}

int main(int argc, char **argv)
{
  parse(argc, argv);
  pid_t a = spawn_holder(), b = spawn_holder();
  if(a < 0 || b < 0)
    return 1;
  int fa = tun_in(a, opt.addr_a), fb = tun_in(b, opt.addr_b);
  if(fa < 0 || fb < 0)
    return 1;
  char sa[INET_ADDRSTRLEN], sb[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &opt.addr_a, sa, sizeof(sa));
  inet_ntop(AF_INET, &opt.addr_b, sb, sizeof(sb));
  printf("ns-a %d %s\nns-b %d %s\nready\n", (int)a, sa, (int)b, sb);
  fflush(stdout);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1000UL);

  struct direction d[2] = {
      {.name = "a->b", .in_fd = fa, .out_fd = fb, .rng = opt.seed},
      {.name = "b->a", .in_fd = fb, .out_fd = fa, .rng = ~opt.seed},
  };
  static unsigned char buf[MAX_PACKET];
  while(!stop) {
    struct pollfd pf[2] = {{fa, POLLIN, 0}, {fb, POLLIN, 0}};
    struct timespec timeout = next_timeout(d, 2, now_ns());
    if(ppoll(pf, 2, &timeout, NULL) < 0 && errno != EINTR)
      break;
    for(int i = 0; i < 2; i++)
      if(pf[i].revents & POLLIN)
        read_all(&d[i], buf);
    uint64_t t = now_ns();
    deliver_due(&d[0], t);
    deliver_due(&d[1], t);
  }
  for(int i = 0; i < 2; i++)
    fprintf(stderr,
            "netlab %s: passed %llu lost %llu queue-drops %llu "
            "reordered %llu write-drops %llu\n",
            d[i].name, (unsigned long long)d[i].passed,
            (unsigned long long)d[i].lost,
            (unsigned long long)d[i].queue_drops,
            (unsigned long long)d[i].reordered,
            (unsigned long long)d[i].write_drops);
  /* Packets still in the delay lines when it stops are dropped. */
  for(int i = 0; i < 2; i++)
    while(d[i].head) {
      struct packet *p = d[i].head;
      d[i].head = p->next;
      free(p);
    }
  kill(a, SIGKILL);
  kill(b, SIGKILL);
  waitpid(a, NULL, 0);
  waitpid(b, NULL, 0);
  return 0;
}
