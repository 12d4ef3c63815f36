/*
 * relay_recheck.h - a tunnel re-checks the relays it is connected to
 * after its identity files are reloaded (relay_recheck.c), as a relay
 * re-checks its controllers (docs/SECURITY.md "Revoking and pinning
 * relays"): a CRL that newly lists a relay, or a CA file that no longer
 * trusts it, must reach connections already up, not only new handshakes.
 *
 * Contract:
 *   - beacon_tunnel_reload() counts a reload in t->ctx_gen (any thread);
 *     the loop's next rotation tick (client/rotation.h, every second)
 *     verifies the relay certificate of every hop of every chain that is
 *     up and was not checked at this count, against the context now
 *     loaded (tls/peer_cert.h), except hops whose handshake used it.
 *   - A relay found revoked or untrusted: a warning through the log hook
 *     (`relay_revoked`, `relay_untrusted`) naming the relay, its
 *     certificate's serial and how many streams end, then its chain is
 *     closed at once, its streams ended: traffic does not go on through
 *     a relay the controller no longer trusts. The pool's next
 *     connection to it fails its handshake like any new one.
 *   - A CRL that cannot decide (none for the relay's CA that verifies)
 *     keeps the connection, with a `relay_recheck_undecided` warning.
 *   - A chain whose handshake was in flight during the reload is checked
 *     once it is up.
 *   Loop thread only.
 */
#ifndef BEACON_CLIENT_RELAY_RECHECK_H
#define BEACON_CLIENT_RELAY_RECHECK_H

#include "client/client_int.h"

/* Re-checks the chains that are up and not yet checked against the
 * context loaded now; cheap when nothing was reloaded. */
void client_relay_recheck(beacon_tunnel_t *t);

#endif
