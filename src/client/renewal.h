/*
 * renewal.h - when a controller moves its tunnels to a renewed
 * certificate (docs/LIBRARY.md "Certificate renewal"). Sans-I/O: the
 * caller passes the certificates' validity and the clock, in Unix
 * seconds; rotation.c acts on the answer.
 */
#ifndef BEACON_CLIENT_RENEWAL_H
#define BEACON_CLIENT_RENEWAL_H

#include <stdint.h>

/* A tunnel is replaced at most this long before its certificate's
 * notAfter, earlier when two thirds of the lifetime come sooner. */
#define RENEWAL_LEAD_SECONDS 300
/* After a renewed connection failed, the next try waits this long (ms). */
#define RENEWAL_RETRY_MS 5000

/* When a tunnel made with a certificate valid from not_before to
 * not_after should move to a renewed one: two thirds into the lifetime
 * or RENEWAL_LEAD_SECONDS before not_after, whichever is sooner, and
 * never before not_before (a certificate shorter than the lead is due
 * as soon as a renewed one exists). 0 when not_after is unknown (0):
 * never due. */
int64_t renewal_rotate_at(int64_t not_before, int64_t not_after);

enum renewal_action {
  RENEWAL_WAIT = 0, /* not due yet, or nothing known */
  RENEWAL_ROTATE,   /* due, and a certificate that lasts longer is loaded */
  RENEWAL_NO_NEWER  /* due, but the loaded certificate is the same age */
};

/* What to do at now with a tunnel made with a certificate valid from
 * tunnel_nb to tunnel_na, when the newest certificate loaded from disk
 * expires at loaded_na. A loaded certificate counts as renewed only if
 * it outlives the tunnel's. */
enum renewal_action renewal_decide(int64_t tunnel_nb, int64_t tunnel_na,
                                   int64_t loaded_na, int64_t now);

#endif
