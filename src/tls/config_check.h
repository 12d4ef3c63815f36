/*
 * config_check.h - do the TLS files fit together? (docs/OPERATIONS.md "Key
 * and certificate checks"). Each file may parse and the key may match its
 * certificate, and still every handshake fails: a controller's certificate
 * installed as relay.crt, a leaf from another CA, a leaf in place of the
 * Fleet CA, a CRL that expired or that no configured CA signed. This says
 * so at start and under --check-config, naming the file and the problem,
 * and warns about what expires soon.
 */
#ifndef BEACON_TLS_CONFIG_CHECK_H
#define BEACON_TLS_CONFIG_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tls/tls.h"

#define TLS_CHECK_WARN_SECS (7L * 86400L)

/* One warning: the file, the end it is near (seconds since the epoch)
 * and a sentence naming both. */
typedef void (*tls_check_warn_fn)(const char *file, int64_t end,
                                  const char *msg, void *arg);

/* Checks, at now, for role (a relay is TLS_SERVER, a controller
 * TLS_CLIENT):
 *  - every certificate of the CA file ca is a CA certificate;
 *  - the first certificate of cert is for serverAuth (relay) or
 *    clientAuth (controller), and chains to a CA of ca (with the
 *    certificates after it in cert as intermediates);
 *  - every CRL of crl (NULL: none) was signed by a CA of ca, and is valid
 *    at now.
 * Warns (warn may be NULL) when the leaf, a CA or a CRL's nextUpdate is
 * within TLS_CHECK_WARN_SECS of now, or, for one that lives less than
 * three times that, within the last third of its lifetime (its renewal
 * at two thirds is overdue). Files that do not parse pass: loading
 * them (tls_ctx_new) says that better. 0, or BEACON_ECONFIG (BEACON_ENOMEM)
 * with the message in err. */
int tls_config_check(enum tls_role role, const char *cert, const char *ca,
                     const char *crl, time_t now, tls_check_warn_fn warn,
                     void *arg, char *err, size_t errlen);

#endif
