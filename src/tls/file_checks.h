/*
 * file_checks.h - checks on the TLS files before they are used
 * (docs/OPERATIONS.md "Certificates (enrolment)"): a private key must not be
 * readable by others, and a certificate must be within its validity
 * period. The relay refuses on either; controllers warn about the key.
 */
#ifndef BEACON_TLS_FILE_CHECKS_H
#define BEACON_TLS_FILE_CHECKS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* 0 when the key at path is readable by its owner only (as OpenSSH
 * requires), or, with allow_group, also by its group when that group is
 * one of this process's (0640 root:beacon for a relay running as user
 * beacon). BEACON_ECONFIG with the reason and the fix in msg otherwise. A
 * file that cannot be stat()ed passes: loading it reports that better. */
int tls_key_file_check(const char *path, int allow_group, char *msg,
                       size_t cap);

/* 0 when the first certificate in the PEM file at path is valid at now;
 * BEACON_ECONFIG with "expired on ..." or "not valid before ..." in msg
 * otherwise. A file that does not parse passes, as above. */
int tls_cert_file_validity(const char *path, time_t now, char *msg,
                           size_t cap);

/* notAfter of the first certificate in the PEM file at path, in seconds
 * since the epoch; 0 when it cannot be read. */
int64_t tls_cert_file_not_after(const char *path);

#endif
