/*
 * registry.c - metric families and the Prometheus text format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/, 0.0.4).
 */
#include "metrics/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "beacon/beacon.h"
#include "common/text_out.h"

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels take no ':' and may
 * not start with "__" (reserved). */
static int valid_name(const char *s, int label)
{
  if(!s || !*s)
    return 0;
  if(label && s[0] == '_' && s[1] == '_')
    return 0;
  for(size_t i = 0; s[i]; i++) {
    unsigned char c = (unsigned char)s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
             (!label && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if(!ok)
      return 0;
  }
  return 1;
}

int metric_init(metric_t *m, metric_type_t type, const char *name,
                const char *help, const char *label, const char *const *values,
                size_t nvalues)
{
  if(!m || !valid_name(name, 0) ||
     (type != METRIC_COUNTER && type != METRIC_GAUGE))
    return BEACON_EINVAL;
  if(label) {
    if(!valid_name(label, 1) || !values || !nvalues)
      return BEACON_EINVAL;
    if(nvalues > METRICS_MAX_VALUES)
      return BEACON_ELIMIT;
    for(size_t i = 0; i < nvalues; i++)
      if(!values[i])
        return BEACON_EINVAL;
  } else {
    values = NULL;
    nvalues = 1;
  }
  m->name = name;
  m->help = help ? help : "";
  m->label = label;
  m->values = values;
  m->nvalues = nvalues;
  m->type = type;
  for(size_t i = 0; i < METRICS_MAX_VALUES; i++) {
    atomic_init(&m->cell[i], 0);
    m->bound[i] = NULL;
  }
  m->decimals = 0;
  m->collect = NULL;
  return 0;
}

int metric_bind(metric_t *m, size_t idx, const atomic_uint_fast64_t *src)
{
  if(!m || !src || idx >= m->nvalues)
    return BEACON_EINVAL;
  m->bound[idx] = src;
  return 0;
}

void metric_add(metric_t *m, size_t idx, uint64_t n)
{
  if(idx < m->nvalues)
    atomic_fetch_add_explicit(&m->cell[idx], n, memory_order_relaxed);
}

void metric_inc(metric_t *m, size_t idx)
{
  metric_add(m, idx, 1);
}

void metric_dec(metric_t *m, size_t idx)
{
  metric_add(m, idx, UINT64_MAX);
}

void metric_set(metric_t *m, size_t idx, int64_t v)
{
  if(idx < m->nvalues)
    atomic_store_explicit(&m->cell[idx], (uint64_t)v, memory_order_relaxed);
}

uint64_t metric_get(const metric_t *m, size_t idx)
{
  if(idx >= m->nvalues)
    return 0;
  /* C11 atomic loads take a non-const pointer. */
  if(m->bound[idx])
    return atomic_load_explicit((atomic_uint_fast64_t *)m->bound[idx],
                                memory_order_relaxed);
  return atomic_load_explicit((atomic_uint_least64_t *)&m->cell[idx],
                              memory_order_relaxed);
}

void metrics_registry_init(metrics_registry_t *r)
{
  memset(r, 0, sizeof(*r));
}

int metrics_register(metrics_registry_t *r, metric_t *m)
{
  if(!r || !m || !m->name)
    return BEACON_EINVAL;
  for(size_t i = 0; i < r->n; i++)
    if(!strcmp(r->fam[i]->name, m->name))
      return BEACON_EINVAL;
  if(r->n == METRICS_MAX_FAMILIES)
    return BEACON_ELIMIT;
  r->fam[r->n++] = m;
  return 0;
}

/* HELP text escapes '\' and newline; label values also escape '"'. */
static void put_escaped(text_out_t *o, const char *s, int quote)
{
  for(; *s; s++) {
    if(*s == '\\')
      text_out_put(o, "\\\\", 2);
    else if(*s == '\n')
      text_out_put(o, "\\n", 2);
    else if(quote && *s == '"')
      text_out_put(o, "\\\"", 2);
    else
      text_out_put(o, s, 1);
  }
}

/* " 12.345678\n" for v = 12345678 with 6 decimals. */
static void put_value(text_out_t *o, const metric_t *m, uint64_t v)
{
  char num[48];
  int neg = m->type == METRIC_GAUGE && (int64_t)v < 0;
  uint64_t mag = neg ? 0 - v : v;
  if(!m->decimals) {
    snprintf(num, sizeof(num), " %s%" PRIu64 "\n", neg ? "-" : "", mag);
  } else {
    uint64_t unit = 1;
    for(unsigned i = 0; i < m->decimals && i < 18; i++)
      unit *= 10;
    snprintf(num, sizeof(num), " %s%" PRIu64 ".%0*" PRIu64 "\n",
             neg ? "-" : "", mag / unit, (int)m->decimals, mag % unit);
  }
  text_out_str(o, num);
}

/* The fixed-point v as the shortest decimal ("0.0025", "1"). */
static void put_fixed(text_out_t *o, uint64_t v, unsigned decimals)
{
  char num[48];
  uint64_t unit = 1;
  unsigned d = decimals < 18 ? decimals : 18;
  for(unsigned i = 0; i < d; i++)
    unit *= 10;
  uint64_t frac = v % unit;
  if(!frac) {
    snprintf(num, sizeof(num), "%" PRIu64, v / unit);
  } else {
    while(frac % 10 == 0) {
      frac /= 10;
      d--;
    }
    snprintf(num, sizeof(num), "%" PRIu64 ".%0*" PRIu64, v / unit, (int)d,
             frac);
  }
  text_out_str(o, num);
}

/* The start of a sample of label value i: `name_suffix{label="value"`
 * (the caller closes the brace), with a "," when more labels follow;
 * only `name_suffix` when there is no label and none follows. */
static void put_labels(text_out_t *o, const metric_t *m, const char *suffix,
                       size_t i, int more)
{
  text_out_str(o, m->name);
  text_out_str(o, suffix);
  if(!m->label && !more)
    return;
  text_out_put(o, "{", 1);
  if(m->label) {
    text_out_str(o, m->label);
    text_out_put(o, "=\"", 2);
    put_escaped(o, m->values[i], 1);
    text_out_put(o, "\"", 1);
    if(more)
      text_out_put(o, ",", 1);
  }
}

/* Cumulative _bucket lines, then _sum and _count, per label value. */
static void render_histogram(text_out_t *o, const metric_histogram_t *h)
{
  const metric_t *m = &h->base;
  char num[32];
  for(size_t i = 0; i < m->nvalues; i++) {
    uint64_t cum = 0;
    for(size_t b = 0; b <= h->nbounds; b++) {
      cum += atomic_load_explicit((atomic_uint_least64_t *)&h->bucket[i][b],
                                  memory_order_relaxed);
      put_labels(o, m, "_bucket", i, 1);
      text_out_str(o, "le=\"");
      if(b < h->nbounds)
        put_fixed(o, h->bounds[b], m->decimals);
      else
        text_out_str(o, "+Inf");
      snprintf(num, sizeof(num), "\"} %" PRIu64 "\n", cum);
      text_out_str(o, num);
    }
    put_labels(o, m, "_sum", i, 0);
    text_out_str(o, m->label ? "} " : " ");
    put_fixed(o,
              atomic_load_explicit((atomic_uint_least64_t *)&h->sum[i],
                                   memory_order_relaxed),
              m->decimals);
    text_out_put(o, "\n", 1);
    put_labels(o, m, "_count", i, 0);
    snprintf(num, sizeof(num), "%s %" PRIu64 "\n", m->label ? "}" : "", cum);
    text_out_str(o, num);
  }
}

static void render_family(text_out_t *o, const metric_t *m)
{
  if(m->collect)
    m->collect((metric_t *)m);

  text_out_str(o, "# HELP ");
  text_out_str(o, m->name);
  text_out_put(o, " ", 1);
  put_escaped(o, m->help, 0);
  text_out_str(o, "\n# TYPE ");
  text_out_str(o, m->name);
  text_out_str(o, m->type == METRIC_COUNTER ? " counter\n"
                  : m->type == METRIC_GAUGE ? " gauge\n"
                                            : " histogram\n");
  if(m->type == METRIC_HISTOGRAM) {
    render_histogram(o, (const metric_histogram_t *)m);
    return;
  }
  for(size_t i = 0; i < m->nvalues; i++) {
    uint64_t v = metric_get(m, i);
    text_out_str(o, m->name);
    if(m->label) {
      text_out_put(o, "{", 1);
      text_out_str(o, m->label);
      text_out_put(o, "=\"", 2);
      put_escaped(o, m->values[i], 1);
      text_out_put(o, "\"}", 2);
    }
    put_value(o, m, v);
  }
}

size_t metrics_render(const metrics_registry_t *r, char *buf, size_t cap)
{
  text_out_t o;
  text_out_init(&o, buf, cap ? cap - 1 : 0);

  for(size_t i = 0; i < r->n; i++)
    render_family(&o, r->fam[i]);
  if(cap)
    buf[o.len < o.cap ? o.len : o.cap] = '\0';
  return o.len;
}

int64_t metrics_now_unix(void)
{
  struct timespec ts;
  if(clock_gettime(CLOCK_REALTIME, &ts))
    return 0;
  return (int64_t)ts.tv_sec;
}
