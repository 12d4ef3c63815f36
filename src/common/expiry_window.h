/*
 * expiry_window.h - when a certificate's coming end is worth a warning
 * (expiry_window.c): a fixed time before its notAfter (30 days for the
 * relay's own certificate, 14 for a controller's), or, for one that
 * lives less than three times that, its last third. A certificate
 * renewed at two thirds of its life (docs/OPERATIONS.md "Short-lived
 * certificates") is then quiet until a renewal is overdue: a 24-hour one
 * is warned about in its last 8 hours, not from the start. The rule of
 * --check-config's tls_file_expiring (tls/config_check.h), with the
 * callers' own fixed times. Sans-I/O: times in, a verdict out.
 */
#ifndef BEACON_EXPIRY_WINDOW_H
#define BEACON_EXPIRY_WINDOW_H

#include <stdint.h>

/* Seconds before not_after from which to warn: fixed, or a third of the
 * lifetime when that is shorter. An unknown or empty lifetime
 * (not_before 0, or not after not_after) gets fixed. */
int64_t expiry_window(int64_t not_before, int64_t not_after, int64_t fixed);

/* 1 when now is inside that window (not_after included, an expired
 * certificate too); 0 otherwise or when not_after is 0 (unknown). */
int expiry_window_due(int64_t not_before, int64_t not_after, int64_t fixed,
                      int64_t now);

/* Seconds from now until expiry_window_due turns 1: 0 when it is already,
 * -1 when not_after is unknown (0). A periodic check sleeps no longer
 * than this, so a short-lived certificate is warned about on time. */
int64_t expiry_window_opens_in(int64_t not_before, int64_t not_after,
                               int64_t fixed, int64_t now);

#endif
