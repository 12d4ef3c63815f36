/*
 * resources.c - descriptors, the budgets' defaults and giving memory
 * back after a burst (resources.h).
 *
 * glibc keeps freed heap memory for reuse, so without help a relay's
 * RSS stays at the peak of its worst burst. Two things bring it down:
 * a fixed mmap threshold (glibc otherwise raises it up to 32 MiB as big
 * blocks are freed, after which big buffers come from the heap and stay
 * there), so buffers of 256 KiB and more are mapped and unmapped, and a
 * malloc_trim(0) once the held bytes fell after a burst, which returns
 * the free pages of every arena. M_ARENA_MAX bounds the arenas to one
 * per worker and one for the control loop, so a few threads do not
 * keep eight per core of free memory each.
 */
#include "relay/resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "beacon/beacon.h"
#include "log/log.h"

/* How often the control loop looks at the held bytes, and by how much
 * they must have fallen from the peak since the last trim. */
#define TRIM_PERIOD_MS 2000
#define TRIM_DROP ((uint64_t)8 << 20)
#define MMAP_THRESHOLD (256 * 1024)

/* The cgroup v2 memory.max of this process's group (a container's or a
 * systemd unit's MemoryMax=), or 0 when there is none. */
static uint64_t cgroup_memory_max(void)
{
  char line[64];
  uint64_t v = 0;
  FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
  if(!f)
    return 0;
  if(fgets(line, sizeof(line), f) && line[0] >= '0' && line[0] <= '9')
    v = strtoull(line, NULL, 10);
  fclose(f);
  return v;
}

uint64_t relay_default_memory_limit(void)
{
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  uint64_t ram = pages > 0 && size > 0 ? (uint64_t)pages * size : 0;
  uint64_t cg = cgroup_memory_max();
  if(cg && (!ram || cg < ram))
    ram = cg;
  uint64_t quarter = ram / 4;
  return quarter < RELAY_MEMORY_MIN ? RELAY_MEMORY_MIN : quarter;
}

uint64_t relay_fd_reserve(uint64_t fd_limit)
{
  uint64_t r = fd_limit / 8;
  if(r < 64)
    r = 64;
  if(r > 4096)
    r = 4096;
  return r < fd_limit ? r : fd_limit / 2;
}

uint32_t relay_derive_max_tunnels(uint64_t memory_limit, uint64_t fd_limit,
                                  uint64_t fd_reserve)
{
  uint64_t by_mem = memory_limit / 2 / BUDGET_TUNNEL_IDLE_BYTES;
  uint64_t pool = fd_limit > fd_reserve ? fd_limit - fd_reserve : 0;
  uint64_t by_fd = pool - pool / 4;
  uint64_t n = by_mem < by_fd ? by_mem : by_fd;
  if(n > (1u << 20))
    n = 1u << 20;
  return n ? (uint32_t)n : 1;
}

static uint64_t raise_nofile(void)
{
  struct rlimit rl;
  if(getrlimit(RLIMIT_NOFILE, &rl))
    return 1024;
  if(rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if(setrlimit(RLIMIT_NOFILE, &rl))
      (void)getrlimit(RLIMIT_NOFILE, &rl);
  }
  /* An unlimited soft limit still has the kernel's nr_open behind it. */
  if(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 24))
    return 1u << 24;
  return (uint64_t)rl.rlim_cur;
}

static void tune_allocator(unsigned workers)
{
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
  mallopt(M_ARENA_MAX, (int)(workers + 1));
#else
  (void)workers;
#endif
}

int relay_resources_init(relay_t *r, char *err, size_t errlen)
{
  uint64_t mem =
      r->cfg.memory_limit ? r->cfg.memory_limit : relay_default_memory_limit();
  uint64_t fds = raise_nofile();
  /* The reserve holds every handshake --max-handshakes lets in, and the
   * listeners, loops and metrics connections besides. */
  uint64_t reserve = relay_fd_reserve(fds);
  if(reserve < (uint64_t)r->cfg.max_handshakes + 64)
    reserve = (uint64_t)r->cfg.max_handshakes + 64;
  if(reserve > fds / 2)
    reserve = fds / 2;
  if(budget_init(&r->budget, mem, fds, reserve)) {
    snprintf(err, errlen, "descriptor limit %llu is too low",
             (unsigned long long)fds);
    return BEACON_EINVAL;
  }
  r->cfg.memory_limit = (size_t)mem;
  int derived = !r->cfg.max_tunnels;
  if(derived)
    r->cfg.max_tunnels = relay_derive_max_tunnels(mem, fds, reserve);
  tune_allocator(r->nworkers);
  log_line_t l;
  if(log_begin(&l, LOG_INFO, "budgets")) {
    log_u64(&l, "memory_limit", mem);
    log_u64(&l, "fd_limit", fds);
    log_u64(&l, "fd_reserve", reserve);
    log_u64(&l, "max_tunnels", r->cfg.max_tunnels);
    log_str(&l, "max_tunnels_from", derived ? "budgets" : "flag");
    log_u64(&l, "tunnel_bytes", BUDGET_TUNNEL_IDLE_BYTES);
    log_end(&l);
  }
  return 0;
}

/* The ledger sees a burst end (windows given back) before the streams
 * behind it are freed, so a fall is trimmed a period later, once the
 * held bytes stopped falling. */
static void on_trim_timer(uv_timer_t *h)
{
  relay_t *r = h->data;
  uint64_t now = budget_mem_used(&r->budget);
  if(now > r->trim_mark) {
    r->trim_mark = now; /* the peak of this burst so far */
    r->trim_pending = 0;
    return;
  }
  if(r->trim_mark - now >= TRIM_DROP) {
    r->trim_mark = now;
    r->trim_pending = 1;
    return;
  }
  if(!r->trim_pending)
    return;
  r->trim_pending = 0;
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void relay_resources_start(relay_t *r)
{
  uv_timer_init(&r->loop, &r->trim_timer);
  r->trim_timer.data = r;
  r->trim_mark = 0;
  r->trim_pending = 0;
  uv_timer_start(&r->trim_timer, on_trim_timer, TRIM_PERIOD_MS,
                 TRIM_PERIOD_MS);
}

static void trim_closed(uv_handle_t *h)
{
}

void relay_resources_stop(relay_t *r)
{
  uv_close((uv_handle_t *)&r->trim_timer, trim_closed);
}
