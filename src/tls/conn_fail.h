/*
 * conn_fail.h - a failed TLS call of a connection in words (conn_fail.c).
 */
#ifndef BEACON_TLS_CONN_FAIL_H
#define BEACON_TLS_CONN_FAIL_H

#include "tls/tls_int.h"

/* Maps a failed SSL_* call (ret, the call's result; op, its name for
 * the message) to a BEACON_E* code and sets c->err: BEACON_EAGAIN for
 * more input, 0 for the peer's close_notify. */
int tls_conn_fail(tls_conn_t *c, int ret, const char *op);

/* Sets c->err from the fatal alert the peer sent (c->alert). */
void tls_conn_alert_error(tls_conn_t *c);

#endif
