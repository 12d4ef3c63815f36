/*
 * prom.h - the relay's exported metric families and the certificate
 * expiry gauge (prom.c, docs/OPERATIONS.md "Metrics").
 */
#ifndef BEACON_RELAY_PROM_H
#define BEACON_RELAY_PROM_H

#include "relay/relay_int.h"

void relay_prom_init(relay_prom_t *p, relay_metrics_t *m);
/* The budgets' gauges: held bytes and descriptors, and their limits. */
void relay_prom_budget(relay_prom_t *p, budget_t *b);
/* Adds the refusals by default class of the relay's policy. */
void relay_prom_policy(relay_prom_t *p, const policy_t *policy);
/* The same family, counting a reloaded policy's refusals (control loop;
 * they start again from 0). */
void relay_prom_policy_rebind(relay_prom_t *p, const policy_t *policy);
/* The certificate lifetime families (relay/revocation.h): the relay's
 * own notAfter, the controllers' earliest (collect_tunnel_min fills it
 * when scraped), the CRLs' nextUpdate, tunnels ended for a certificate. */
void relay_prom_cert_lifetimes(relay_prom_t *p, relay_metrics_t *m,
                               void (*collect_tunnel_min)(metric_t *));
/* Counts one target dial of ns nanoseconds in
 * beacon_target_connect_seconds by its outcome (outcome_classify on
 * OUTCOME_AT_DIAL). Any worker thread. */
void relay_prom_target_connect(relay_t *r, outcome_t o, uint64_t ns);
/* Sets beacon_relay_cert_expiry_timestamp_seconds from ctx and logs a
 * warning when it is within RELAY_CERT_WARN_SECONDS, or, for a
 * certificate that lives less than three times that, in the last third
 * of its lifetime (common/expiry_window.h). Returns the milliseconds
 * until the next check is due: a day, or less when the window opens
 * sooner. */
uint64_t relay_cert_check(relay_t *r, const struct tls_ctx *ctx);
/* A controller came up with a certificate valid from not_before until
 * not_after: within RELAY_CLIENT_CERT_WARN_SECONDS of its end (or, when
 * it lives less than three times that, in its last third) it counts in
 * beacon_client_cert_expiring_total and is logged (client_cert_expiring),
 * once a day per controller. Any worker thread. */
void relay_client_cert_check(relay_t *r, int64_t not_before, int64_t not_after,
                             const char *peer, const char *subject,
                             const char *spki);

#endif
