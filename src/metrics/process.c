/*
 * process.c - process_* metrics from /proc/self and getrusage(), the
 * names and meanings of the Prometheus client libraries, so dashboards
 * made for any exporter work. Read when scraped (metric_t.collect): a
 * scrape costs a few small reads, the data path nothing.
 */
#include "metrics/process.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "beacon/beacon.h"

static const char *const build_version[] = {BEACON_VERSION};

static struct {
  int init;
  metric_t cpu, rss, open_fds, max_fds, start_time, build_info;
} proc;

static void collect_cpu(metric_t *m)
{
  struct rusage ru;
  if(getrusage(RUSAGE_SELF, &ru))
    return;
  int64_t us = ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
               ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
  metric_set(m, 0, us);
}

static void collect_rss(metric_t *m)
{
  unsigned long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if(!f)
    return;
  if(fscanf(f, "%lu %lu", &size, &resident) == 2)
    metric_set(m, 0, (int64_t)resident * sysconf(_SC_PAGESIZE));
  fclose(f);
}

static void collect_open_fds(metric_t *m)
{
  DIR *d = opendir("/proc/self/fd");
  if(!d)
    return;
  int64_t n = 0;
  struct dirent *e;
  while((e = readdir(d)))
    if(e->d_name[0] != '.')
      n++;
  closedir(d);
  metric_set(m, 0, n - 1); /* not the descriptor reading the directory */
}

static void collect_max_fds(metric_t *m)
{
  struct rlimit rl;
  if(!getrlimit(RLIMIT_NOFILE, &rl))
    metric_set(
        m, 0, rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur);
}

/* When the kernel started this process: boot time (/proc/stat btime)
 * plus field 22 of /proc/self/stat in clock ticks; now if unreadable. */
static int64_t start_time(void)
{
  char buf[1024];
  int64_t btime = -1;
  unsigned long long ticks = 0;
  FILE *f = fopen("/proc/stat", "r");
  while(f && fgets(buf, sizeof(buf), f))
    if(sscanf(buf, "btime %lld", (long long *)&btime) == 1)
      break;
  if(f)
    fclose(f);
  f = fopen("/proc/self/stat", "r");
  size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
  if(f)
    fclose(f);
  buf[n] = '\0';
  /* the command name may hold spaces and ')': fields follow the last ')' */
  const char *p = strrchr(buf, ')');
  long hz = sysconf(_SC_CLK_TCK);
  if(btime < 0 || !p || hz <= 0 ||
     sscanf(p + 2,
            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
            "%*d %*d %*d %*d %llu",
            &ticks) != 1)
    return metrics_now_unix();
  return btime + (int64_t)(ticks / (unsigned long long)hz);
}

int metrics_process_register(metrics_registry_t *reg)
{
  if(!proc.init) {
    proc.init = 1;
    metric_init(&proc.cpu, METRIC_COUNTER, "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.", NULL, NULL,
                0);
    proc.cpu.decimals = 6;
    proc.cpu.collect = collect_cpu;
    metric_init(&proc.rss, METRIC_GAUGE, "process_resident_memory_bytes",
                "Resident memory size in bytes.", NULL, NULL, 0);
    proc.rss.collect = collect_rss;
    metric_init(&proc.open_fds, METRIC_GAUGE, "process_open_fds",
                "Number of open file descriptors.", NULL, NULL, 0);
    proc.open_fds.collect = collect_open_fds;
    metric_init(&proc.max_fds, METRIC_GAUGE, "process_max_fds",
                "Maximum number of open file descriptors.", NULL, NULL, 0);
    proc.max_fds.collect = collect_max_fds;
    metric_init(&proc.start_time, METRIC_GAUGE, "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.", NULL,
                NULL, 0);
    metric_set(&proc.start_time, 0, start_time());
    metric_init(&proc.build_info, METRIC_GAUGE, "beacon_build_info",
                "The running beacon's version; the value is always 1.",
                "version", build_version, 1);
    metric_set(&proc.build_info, 0, 1);
  }
  metric_t *all[] = {&proc.cpu,     &proc.rss,        &proc.open_fds,
                     &proc.max_fds, &proc.start_time, &proc.build_info};
  for(size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
    int rc = metrics_register(reg, all[i]);
    if(rc)
      return rc;
  }
  return 0;
}
