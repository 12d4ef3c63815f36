/*
 * own_files.h - libbeacon's warnings about the controller's own identity
 * files, through the configuration's log hook (beacon_config_set_log()):
 * a private key others may read, a certificate near its expiry.
 */
#ifndef BEACON_CLIENT_OWN_FILES_H
#define BEACON_CLIENT_OWN_FILES_H

#include <time.h>

#include "client/client_int.h"

/* A certificate this close to its notAfter is warned about, or, when it
 * lives less than three times that, in the last third of its lifetime
 * (common/expiry_window.h). */
#define CLIENT_CERT_WARN_SECONDS (14 * 86400)

/* One warning through the configuration's log hook (or stderr). */
void client_own_warn(const beacon_config_t *cfg, const char *event,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks the key's mode and the certificate's notAfter (from ctx) at now
 * and warns about each problem. */
void client_own_files_check(const beacon_config_t *cfg, const tls_ctx_t *ctx,
                            time_t now);

/* Warns when the certificate of ctx is within that window at now; 1
 * when it did. An expired one is not
 * warned about here: dialling refuses it (chain.c). */
int client_own_cert_expiring(const beacon_config_t *cfg, const tls_ctx_t *ctx,
                             time_t now);

#endif
