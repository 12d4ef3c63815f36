/*
 * prom.c - the relay's Prometheus metric families, bound to the counters
 * the workers already keep in relay_metrics_t (no work on the data path),
 * the target connect histogram, and the expiry checks of the relay's own
 * certificate and of controllers'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/expiry_window.h"
#include "log/log.h"
#include "metrics/connect_seconds.h"
#include "metrics/process.h"
#include "relay/prom.h"

static const char *const directions[] = {"up", "down"};
/* beacon_dial_failures_total's labels (common/outcome.h; not_found was
 * "resolve"): the relay has no tunnel to fail, and counts policy
 * refusals and budgets in families of their own. */
#define NDIAL_LABELS 5
static const outcome_label_t dial_labels[NDIAL_LABELS] = {
    OUTCOME_LABEL_NOT_FOUND, OUTCOME_LABEL_REFUSED, OUTCOME_LABEL_TIMEOUT,
    OUTCOME_LABEL_UNREACHABLE, OUTCOME_LABEL_OTHER};
static const char *dial_reasons[NDIAL_LABELS];
static const char *const hs_reasons[] = {"timeout", "verify", "tls",
                                         "not_allowed"};
/* enum admission_verdict order, from ADMISSION_FULL */
static const char *const admission_reasons[] = {"max_handshakes", "per_source",
                                                "early_drop", "evicted"};
/* The session's refusals (enum mux_refusal), then the relay's own:
 * streams over a budget (--max-dials-per-tunnel, memory), refused with
 * beacon/1 code 7 relay_limit, the word of OUTCOME_RESOURCE as in
 * stream_done (filled in by relay_prom_init). */
static const char *refusal_reasons[] = {"going_away", "max_streams",
                                        "accept_backlog", "output_full", NULL};

/* Names and sizes are constants: a failure here is a programming error
 * that the unit tests catch, not a runtime condition. */
static void family(metrics_registry_t *reg, metric_t *f, metric_type_t type,
                   const char *name, const char *help, const char *label,
                   const char *const *values, size_t n)
{
  metric_init(f, type, name, help, label, values, n);
  metrics_register(reg, f);
}

/* A family whose cells are relay counters read in place: cells[i] for
 * value i, or cells[0] alone for a family without a label (n 0). */
static void bound(metrics_registry_t *reg, metric_t *f, metric_type_t type,
                  const char *name, const char *help, const char *label,
                  const char *const *values, size_t n,
                  const atomic_uint_fast64_t *cells)
{
  family(reg, f, type, name, help, label, values, n);
  for(size_t i = 0; i < (n ? n : 1); i++)
    metric_bind(f, i, &cells[i]);
}

void relay_prom_init(relay_prom_t *p, relay_metrics_t *m)
{
  metrics_registry_t *reg = &p->reg;

  metrics_registry_init(reg);
  bound(reg, &p->tunnels_open, METRIC_GAUGE, "beacon_tunnels_open",
        "Controller tunnels currently open.", NULL, NULL, 0, &m->tunnels_open);
  bound(reg, &p->tunnels_total, METRIC_COUNTER, "beacon_tunnels_total",
        "Controller tunnels established.", NULL, NULL, 0, &m->tunnels_total);
  bound(reg, &p->streams_open, METRIC_GAUGE, "beacon_streams_open",
        "Streams currently open.", NULL, NULL, 0, &m->streams_open);
  bound(reg, &p->streams_total, METRIC_COUNTER, "beacon_streams_total",
        "Streams opened by controllers.", NULL, NULL, 0, &m->streams_total);
  family(reg, &p->bytes, METRIC_COUNTER, "beacon_bytes_total",
         "Payload bytes relayed (up: controller to target).", "direction",
         directions, 2);
  metric_bind(&p->bytes, 0, &m->bytes_up);
  metric_bind(&p->bytes, 1, &m->bytes_down);
  for(size_t i = 0; i < NDIAL_LABELS; i++)
    dial_reasons[i] = outcome_label_names[dial_labels[i]];
  family(reg, &p->dial_failures, METRIC_COUNTER, "beacon_dial_failures_total",
         "Targets that could not be dialled.", "reason", dial_reasons,
         NDIAL_LABELS);
  for(size_t i = 0; i < NDIAL_LABELS; i++)
    metric_bind(&p->dial_failures, i, &m->dial_fail[dial_labels[i]]);
  refusal_reasons[RELAY_REFUSED_RESOURCE - 1] = outcome_word(OUTCOME_RESOURCE);
  bound(reg, &p->policy_refusals, METRIC_COUNTER,
        "beacon_policy_refusals_total",
        "Streams refused by the destination policy.", NULL, NULL, 0,
        &m->policy_refusals);
  family(reg, &p->hs_failures, METRIC_COUNTER,
         "beacon_handshake_failures_total", "Tunnel handshakes that failed.",
         "reason", hs_reasons, 4);
  metric_bind(&p->hs_failures, 0, &m->hs_fail_timeout);
  metric_bind(&p->hs_failures, 1, &m->hs_fail_verify);
  metric_bind(&p->hs_failures, 2, &m->hs_fail_tls);
  metric_bind(&p->hs_failures, 3, &m->hs_fail_not_allowed);
  bound(reg, &p->hs_refused, METRIC_COUNTER, "beacon_handshake_refusals_total",
        "Connections closed by the pre-authentication budget: at accept, "
        "or evicted (the oldest handshake) to make room.",
        "reason", admission_reasons, 4, &m->hs_refused[1]);
  bound(reg, &p->handshakes_in_progress, METRIC_GAUGE,
        "beacon_handshakes_in_progress",
        "Connections in their TLS handshake, all workers.", NULL, NULL, 0,
        &m->handshakes_in_progress);
  bound(reg, &p->tunnels_refused, METRIC_COUNTER,
        "beacon_tunnels_refused_total",
        "Controllers refused after their handshake: over --max-tunnels.", NULL,
        NULL, 0, &m->tunnels_refused);
  bound(reg, &p->keepalive_timeouts, METRIC_COUNTER,
        "beacon_keepalive_timeouts_total",
        "Tunnels closed for an unanswered ping.", NULL, NULL, 0,
        &m->keepalive_timeouts);
  bound(reg, &p->streams_refused, METRIC_COUNTER,
        "beacon_streams_refused_total",
        "Streams reset on arrival (stream cap, backlog, go away, memory or "
        "descriptor budget).",
        "reason", refusal_reasons, 5, &m->streams_refused[1]);
  family(reg, &p->cert_expiry, METRIC_GAUGE,
         "beacon_relay_cert_expiry_timestamp_seconds",
         "notAfter of the relay certificate in use, Unix time.", NULL, NULL,
         0);
  family(reg, &p->client_cert_expiring, METRIC_COUNTER,
         "beacon_client_cert_expiring_total",
         "Tunnels whose controller certificate expires within 14 days, or "
         "is in the last third of a shorter lifetime.",
         NULL, NULL, 0);
  metric_histogram_init(
      &p->target_connect, "beacon_target_connect_seconds",
      "Time to connect to a target, from the target line to the connect "
      "result, by outcome.",
      "outcome", outcome_label_names, OUTCOME_LABEL_TUNNEL,
      connect_seconds_bounds_us, connect_seconds_nbounds, 6);
  metrics_register(reg, &p->target_connect.base);
  metrics_process_register(reg); /* process_*, beacon_build_info */
}

void relay_prom_budget(relay_prom_t *p, budget_t *b)
{
  metrics_registry_t *reg = &p->reg;
  bound(reg, &p->memory_held, METRIC_GAUGE, "beacon_memory_held_bytes",
        "Bytes the relay holds for tunnels and streams (--memory-limit).",
        NULL, NULL, 0, &b->mem.used);
  family(reg, &p->memory_limit, METRIC_GAUGE, "beacon_memory_limit_bytes",
         "The --memory-limit.", NULL, NULL, 0);
  metric_set(&p->memory_limit, 0, (int64_t)b->mem.limit);
  bound(reg, &p->fds_held, METRIC_GAUGE, "beacon_fds_held",
        "Descriptors held by tunnels and their streams.", NULL, NULL, 0,
        &b->fd.used);
  family(reg, &p->fds_limit, METRIC_GAUGE, "beacon_fds_limit",
         "Descriptors tunnels and streams may hold: RLIMIT_NOFILE less the "
         "reserve for accepting and handshaking.",
         NULL, NULL, 0);
  metric_set(&p->fds_limit, 0, (int64_t)b->fd.limit);
}

void relay_prom_policy(relay_prom_t *p, const policy_t *policy)
{
  static const char *names[POLICY_CLASS_COUNT - 1];
  for(size_t i = 1; i < POLICY_CLASS_COUNT; i++)
    names[i - 1] = policy_class_name((policy_class_t)i);
  family(&p->reg, &p->policy_classes, METRIC_COUNTER,
         "beacon_policy_class_refusals_total",
         "Addresses refused by a default policy class.", "class", names,
         POLICY_CLASS_COUNT - 1);
  for(size_t i = 1; i < POLICY_CLASS_COUNT; i++)
    metric_bind(&p->policy_classes, i - 1,
                policy_refusals_of(policy, (policy_class_t)i));
}

void relay_prom_policy_rebind(relay_prom_t *p, const policy_t *policy)
{
  for(size_t i = 1; i < POLICY_CLASS_COUNT; i++)
    metric_bind(&p->policy_classes, i - 1,
                policy_refusals_of(policy, (policy_class_t)i));
}

void relay_prom_target_connect(relay_t *r, outcome_t o, uint64_t ns)
{
  /* The histogram's labels stop before "tunnel", which a relay's own
   * dial never is (outcome_classify on OUTCOME_AT_DIAL). */
  metric_observe(&r->prom.target_connect, outcome_label(o), ns / 1000);
}

uint64_t relay_cert_check(relay_t *r, const struct tls_ctx *ctx)
{
  int64_t not_before = (int64_t)tls_ctx_cert_not_before(ctx);
  int64_t not_after = (int64_t)tls_ctx_cert_not_after(ctx);
  int64_t now = metrics_now_unix(), left = not_after - now;
  int64_t opens = expiry_window_opens_in(not_before, not_after,
                                         RELAY_CERT_WARN_SECONDS, now);
  log_line_t l;

  metric_set(&r->prom.cert_expiry, 0, not_after);
  /* The warning repeats daily while the certificate stays unrenewed. */
  if(opens != 0)
    return opens > 0 && opens < 86400 ? (uint64_t)opens * 1000 + 1000
                                      : 86400000;
  if(log_begin(&l, LOG_WARN, "cert_expiring")) {
    log_str(&l, "file", "relay.crt");
    log_time(&l, "not_after", not_after);
    log_i64(&l, "days_left", left / 86400);
    log_i64(&l, "hours_left", left / 3600);
    log_end(&l);
  }
  return 86400000;
}

/* The slot and value of this controller today: 40 bits of its SPKI hash
 * and the day number. 0 when the hash is unknown. */
static uint64_t expiry_mark(const char *spki, int64_t now, size_t *slot)
{
  char head[11];
  if(strlen(spki) < 12)
    return 0;
  memcpy(head, spki, 10);
  head[10] = 0;
  char sl[3] = {spki[10], spki[11], 0};
  *slot = (size_t)strtoul(sl, NULL, 16) % RELAY_CLIENT_EXPIRY_SLOTS;
  return (strtoull(head, NULL, 16) << 24) |
         ((uint64_t)(now / 86400) & 0xffffff);
}

void relay_client_cert_check(relay_t *r, int64_t not_before, int64_t not_after,
                             const char *peer, const char *subject,
                             const char *spki)
{
  int64_t now = metrics_now_unix();
  int64_t left = not_after - now;
  if(!expiry_window_due(not_before, not_after, RELAY_CLIENT_CERT_WARN_SECONDS,
                        now))
    return;
  metric_inc(&r->prom.client_cert_expiring, 0);
  size_t slot = 0;
  uint64_t mark = expiry_mark(spki, now, &slot);
  if(mark) {
    atomic_uint_least64_t *cell = &r->client_expiry_warned[slot];
    uint64_t seen = atomic_load_explicit(cell, memory_order_relaxed);
    /* one worker wins the day's warning for this controller */
    if(seen == mark || !atomic_compare_exchange_strong(cell, &seen, mark))
      return;
  }
  log_line_t l;
  if(log_begin(&l, LOG_WARN, "client_cert_expiring")) {
    log_str(&l, "peer", peer);
    log_str(&l, "subject", subject);
    log_str(&l, "spki", spki);
    log_time(&l, "not_after", not_after);
    log_i64(&l, "days_left", left / 86400);
    log_i64(&l, "hours_left", left / 3600);
    log_end(&l);
  }
}

void relay_prom_cert_lifetimes(relay_prom_t *p, relay_metrics_t *m,
                               void (*collect_tunnel_min)(metric_t *))
{
  static const char *const ends[] = {"revoked", "untrusted", "not_allowed",
                                     "cert_expired", "relay_cert_expiring"};
  metrics_registry_t *reg = &p->reg;
  family(reg, &p->tunnel_cert_min, METRIC_GAUGE,
         "beacon_tunnel_cert_expiry_min_timestamp_seconds",
         "Earliest notAfter of the controller certificates of the tunnels "
         "up, Unix time; 0 without tunnels.",
         NULL, NULL, 0);
  p->tunnel_cert_min.collect = collect_tunnel_min;
  family(reg, &p->crl_next_update, METRIC_GAUGE,
         "beacon_crl_next_update_timestamp_seconds",
         "Earliest nextUpdate of the CRLs loaded from crl.pem, Unix time; 0 "
         "without a CRL.",
         NULL, NULL, 0);
  bound(reg, &p->tunnels_cert_ended, METRIC_COUNTER,
        "beacon_tunnels_cert_ended_total",
        "Live tunnels ended for a certificate: revoked, no longer trusted or "
        "allowed after a reload, or at the end of the controller's or the "
        "relay's certificate.",
        "reason", ends, 5, m->tunnels_cert_ended);
}
