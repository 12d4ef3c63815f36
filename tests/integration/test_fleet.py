"""Fleet discovery (docs/OPERATIONS.md "Fleet discovery"): `beacon
forward` looks its pool names up again after their TTL, through c-ares,
and its members follow: a hosts-file name that moves to another relay,
and `--relay srv:NAME` against a DNS server of the test's own. Names
come from files bound over /etc/hosts and /etc/resolv.conf in a private
mount (and network) namespace; nothing leaves the machine.
"""

import os
import re
import socket
import sys
import time

import harness
from backends import Echo
from test_pool import (HostsPool, Load, echo_once, http_get, relay_metric,
                       start_relay)

INSIDE = "BEACON_FLEET_NS"
# The re-resolution floor (src/client/fleet.h FLEET_TTL_FLOOR_S): the
# hosts file gives no TTL, so the floor is the interval.
FLOOR_S = 5


def via(log, name):
    """Streams the forward's log says went through member name."""
    return len(re.findall(r"conn_done .*relay=%s " % re.escape(name), log))


def wait_via(fwd, counts, msg):
    """Waits until the forward's log shows counts {member: streams} (the
    last conn_done lines come just after the echo)."""
    got = {}

    def done():
        log = fwd.log_text()
        got.update({n: via(log, n) for n in counts})
        return got == counts
    harness.eventually(done, timeout=5, interval=0.05,
                       msg="%s: %r, want %r" % (msg, got, counts))


def up(mport, name):
    _, text = http_get(mport, "/metrics")
    return relay_metric(text, "beacon_relay_up", name) == 1


@harness.timeout(150)
def test_hosts_file_moves_pool(env):
    """A pool name whose /etc/hosts line moves from one relay's address
    to another's: within the re-resolution interval new connections go
    to the second relay, the first one drains, and a client loop running
    all the time sees no failed connection."""
    pool = HostsPool(env, "127.0.0.1 localhost\n")
    port, fwd, lport, mport = pool.port, pool.fwd, pool.lport, pool.mport
    first, second, hosts = pool.first, pool.second, pool.hosts
    old, new = "localhost:%d" % port, "localhost:%d/127.0.0.2" % port
    harness.eventually(lambda: up(mport, old), timeout=20, interval=0.2,
                       msg="the first relay is not up")
    # A connection open across the move: it stays on the old relay and
    # must keep working until it closes (drained, not dropped).
    held = socket.create_connection(("127.0.0.1", lport), timeout=10)
    env.add_cleanup(held.close)
    held.sendall(b"before\n")
    harness.check_eq(harness.recv_exact(held, 7), b"before\n", "held echo")
    load = Load(lport, threads=2, pause=0.02)
    env.add_cleanup(load.stop)
    time.sleep(2)
    # In place (same inode): the bind mount follows the file, not a name.
    with open(hosts, "r+") as f:
        f.write("127.0.0.2 localhost\n")
        f.truncate()
    moved_at = time.monotonic()
    harness.eventually(lambda: via(fwd.log_text(), new) > 0,
                       timeout=FLOOR_S + 10, interval=0.1,
                       msg="no connection through the moved name")
    took = time.monotonic() - moved_at
    sys.stdout.write("moved after %.1f s\n" % took)
    harness.check(took <= FLOOR_S + 5, "moved only after %.1f s" % took)
    time.sleep(2)
    held.sendall(b"after\n")
    harness.check_eq(harness.recv_exact(held, 6), b"after\n",
                     "the connection open across the move")
    before = via(fwd.log_text(), old)
    held.close()
    harness.eventually(lambda: via(fwd.log_text(), old) > before, timeout=5,
                       interval=0.1, msg="the held connection never ended")
    count_old = via(fwd.log_text(), old)
    time.sleep(2)
    load.stop()
    log = fwd.log_text()
    harness.check_eq(via(log, old), count_old,
                     "new connections still went to the old address")
    failed = [r for r in load.results if r[2]]
    harness.check(len(load.results) > 50,
                  "few connections: %d" % len(load.results))
    harness.check_eq(failed, [], "failed connections while both were up")
    harness.check("relay_removed" in log, "the old member was not removed")
    harness.check("tunnel_up" in second.log_text(), "relay2 never used")
    harness.check(first.alive() and second.alive(),
                  "a relay died")


# ---- SRV, against the test's own DNS server ---------------------------------

private_resolver = harness.private_resolver(
    INSIDE, "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n",
    "127.0.0.1 localhost\n")


@harness.timeout(150)
@private_resolver
def test_srv_priority_and_change(env):
    """--relay srv:NAME: the lower priority takes every stream while it
    is up, the higher one only once it is down; a record added to the
    name becomes a member within the re-resolution interval."""
    from dnsserver import DnsServer
    p1, p2, p3 = env.free_port(), env.free_port(), env.free_port()
    name = "_beacon._tcp.fleet.test"
    dns = DnsServer(("127.0.0.1", 53), {
        name: [("SRV", (10, 1, p1, "localhost"), 1),
               ("SRV", (20, 1, p2, "localhost"), 1)]})
    env.add_cleanup(dns.close)
    r1 = start_relay(env, port=p1, name="relay1")
    r2 = start_relay(env, port=p2, name="relay2")
    echo = env.use(Echo())
    lport, mport = env.free_port(), env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay", "srv:" + name,
                     "--config-dir", env.pki(), "--metrics-addr", str(mport),
                     "-L", "%d:%s" % (lport, echo.addr)], name="forward")
    env.wait_listening(fwd, lport)
    m1, m2, m3 = ("localhost:%d" % p for p in (p1, p2, p3))
    harness.eventually(lambda: up(mport, m1) and up(mport, m2), timeout=20,
                       interval=0.2, msg="the SRV members are not both up")
    for i in range(20):
        echo_once(lport, b"srv %d\n" % i)
    wait_via(fwd, {m1: 20, m2: 0}, "streams by priority")
    r1.kill()
    harness.eventually(lambda: not up(mport, m1), timeout=15, interval=0.1,
                       msg="the killed member still counts as up")
    for i in range(10):
        echo_once(lport, b"fallback %d\n" % i)
    wait_via(fwd, {m2: 10}, "streams on priority 20")
    # A third relay joins the name, in front of the others.
    r3 = start_relay(env, port=p3, name="relay3")
    dns.set(name, [("SRV", (5, 1, p3, "localhost"), 1),
                   ("SRV", (20, 1, p2, "localhost"), 1)])
    harness.eventually(lambda: up(mport, m3), timeout=FLOOR_S + 10,
                       interval=0.2, msg="the added record is not a member")
    for i in range(10):
        echo_once(lport, b"joined %d\n" % i)
    wait_via(fwd, {m3: 10, m2: 10}, "streams on the new priority 5")
    harness.check("relay_removed" in fwd.log_text(), "the dropped record stays")
    harness.check(dns.count(name) >= 2, "the name was not looked up again")
    harness.check(r2.alive() and r3.alive(), "a relay died")


@harness.timeout(150)
@private_resolver
def test_fleet_discovery_walkthrough(env):
    """docs/OPERATIONS.md "Fleet discovery", its sh block run as written
    with `sh -e` in an empty directory, the build's beacon on the PATH,
    against the SRV records the section names (fixed ports: the case
    has a network namespace of its own)."""
    from dnsserver import DnsServer
    from walkthrough import run_walkthrough
    dns = DnsServer(("127.0.0.1", 53), {
        "_beacon._tcp.fleet.example": [
            ("SRV", (10, 1, 8456, "localhost"), 60),
            ("SRV", (20, 1, 8457, "localhost"), 60)]})
    env.add_cleanup(dns.close)
    out, _ = run_walkthrough(env, "Fleet discovery", own_netns=False,
                             timeout=90)
    harness.check_eq(out.count("200\n"), 2, "answers through the pool:\n" +
                     out)
    for port in (8456, 8457):
        harness.check('beacon_relay_up{relay="localhost:%d"} 1' % port in out,
                      "member localhost:%d not up:\n%s" % (port, out))
    harness.check(dns.count("_beacon._tcp.fleet.example") >= 1,
                  "the SRV name was never asked for")


if __name__ == "__main__":
    harness.main()
