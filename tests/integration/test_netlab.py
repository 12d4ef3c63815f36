"""beacon across a packet-level lossy path (tests/tools/netlab).

netlab creates two network namespaces and carries IP packets between
them through tun devices, dropping some: real kernel TCP on both sides
retransmits. The controller side (connect, forward) lives in namespace A
(10.77.0.1), the relay and its backends in namespace B (10.77.0.2, the
backends on B's own loopback). Nothing leaves the namespaces; netlab's
holders die with it. Correctness only: bench/run.py --loss-only measures
speed.
"""
import ctypes
import hashlib
import os
import socket
import statistics
import subprocess
import time

import harness
from backends import Echo, Sink, Source

CLONE_NEWNET = 0x40000000
RELAY_PORT = 7443  # the namespaces are private: no port can clash
_libc = ctypes.CDLL(None, use_errno=True)


def netlab_bin():
    path = os.path.join(os.environ.get("BEACON_BUILD_DIR", ""), "netlab")
    if not os.access(path, os.X_OK):
        raise harness.Failure("netlab not built in BEACON_BUILD_DIR")
    return path


class Lab:
    """A running netlab: .a and .b are (holder pid, address)."""

    def __init__(self, env, *args):
        if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
            harness.skip("netlab needs root and /dev/net/tun")
        self.proc = env.start([netlab_bin()] + [str(a) for a in args],
                              name="netlab", stdout=subprocess.PIPE)
        got = {}
        for _ in range(3):
            line = self.proc.readline(timeout=10) or ""
            parts = line.split()
            if parts[:1] in (["ns-a"], ["ns-b"]):
                got[parts[0]] = (int(parts[1]), parts[2])
        harness.check(len(got) == 2 and line.strip() == "ready",
                      "netlab did not start: %r\n%s" %
                      (got, self.proc.log_text()))
        self.a, self.b = got["ns-a"], got["ns-b"]

    def argv(self, side, argv):
        pid = (self.a if side == "a" else self.b)[0]
        return ["nsenter", "--net=/proc/%d/ns/net" % pid, "--"] + \
            [str(x) for x in argv]

    def inside(self, side):
        return _InNetns((self.a if side == "a" else self.b)[0])

    def counters(self):
        """Stops netlab; its per-direction counters {name: {key: n}}."""
        harness.check_eq(self.proc.stop(timeout=10), 0, "netlab exit code")
        out = {}
        for line in self.proc.log_text().splitlines():
            if line.startswith("netlab "):
                words = line.split()
                out[words[1].rstrip(":")] = {
                    words[i]: int(words[i + 1])
                    for i in range(2, len(words) - 1, 2)}
        return out


class _InNetns:
    """Sockets made inside the with block belong to the namespace of
    pid (only this thread moves; it comes back on exit)."""

    def __init__(self, pid):
        self.pid = pid

    def _enter(self, path):
        fd = os.open(path, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET):
                raise harness.Failure("setns %s: %s" %
                                      (path, os.strerror(ctypes.get_errno())))
        finally:
            os.close(fd)

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self._enter("/proc/%d/ns/net" % self.pid)
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self.home, CLONE_NEWNET):
                raise harness.Failure("setns back failed")
        finally:
            os.close(self.home)
        return False


def wait_listening(proc, port, timeout=20.0):
    """Until proc listens on port in its own namespace (/proc/PID/net/tcp
    is the table of the process's namespace)."""
    def listening():
        harness.check(proc.alive(), "%s exited:\n%s" %
                      (proc.name, proc.log_text()))
        with open("/proc/%d/net/tcp" % proc.pid) as f:
            rows = f.read().splitlines()[1:]
        return any(r.split()[3] == "0A" and
                   int(r.split()[1].rsplit(":", 1)[1], 16) == port
                   for r in rows)
    harness.eventually(listening, timeout=timeout,
                       msg="%s not listening on %d" % (proc.name, port))


def start_relay(env, lab, extra=()):
    crt, key = env.issue("relay-lab", cn="relay-lab", usage="server",
                         san=lab.b[1])
    cfg = env.config_dir("relay-lab-cfg", {
        "relay.crt": crt, "relay.key": key,
        "fleet-ca.crt": os.path.join(env.pki(), "fleet-ca.crt")})
    argv = [env.need_bin(), "egress", "--config-dir", cfg,
            "--tunnel-addr", "%s:%d" % (lab.b[1], RELAY_PORT),
            "--allow", "127.0.0.0/8", "--workers", "1",
            "--log-level", "debug"] + list(extra)
    p = env.start(lab.argv("b", argv), name="relay")
    wait_listening(p, RELAY_PORT)
    p.addr = "%s:%d" % (lab.b[1], RELAY_PORT)
    return p


def congestion_of(lab, side, port):
    """The congestion control `ss` reports for the TCP socket of this
    namespace with port as either end (None if none is connected)."""
    r = subprocess.run(lab.argv(side, ["ss", "-tinH", "state", "established",
                                       "( sport = :%d or dport = :%d )" %
                                       (port, port)]),
                       capture_output=True, text=True, timeout=10)
    for word in r.stdout.split():
        if word in ("bbr", "cubic", "reno"):
            return word
    return None


@harness.heavy
@harness.timeout(90)
def test_integrity_under_loss(env):
    """connect -> relay across 1 % random loss and a burst-loss mode,
    several MiB up and down, hash-checked; netlab really dropped."""
    n = (1 << 20) if harness.SANITIZED else (4 << 20)
    lab = Lab(env, "--rate-mbit", 100, "--delay-ms", 10, "--loss", 1,
              "--reorder", "0.5", "--seed", 21)
    relay = start_relay(env, lab)
    with lab.inside("b"):
        sink = env.use(Sink())
        src = env.use(Source(n, seed=9))
    data = harness.random_bytes(n, seed=5)
    r = env.run(lab.argv("a", [env.need_bin(), "connect", "--config-dir",
                               env.pki(), "--relay", relay.addr,
                               sink.addr]), input=data, timeout=60)
    harness.check_eq(r.returncode, 0, "upload rc, stderr %r" % r.stderr)
    harness.check_eq(r.stdout.decode().strip(),
                     "%d %s" % (n, harness.sha256_hex(data)), "upload")
    r = env.run(lab.argv("a", [env.need_bin(), "connect", "--config-dir",
                               env.pki(), "--relay", relay.addr, src.addr]),
                timeout=60)
    harness.check_eq(r.returncode, 0, "download rc, stderr %r" % r.stderr)
    harness.check_eq((len(r.stdout), hashlib.sha256(r.stdout).hexdigest()),
                     (n, src.sha256), "download")
    c = lab.counters()
    print("netlab: %r" % c)
    harness.check(c["a->b"]["lost"] > 0 and c["b->a"]["lost"] > 0,
                  "netlab dropped nothing: %r" % c)


@harness.heavy
@harness.timeout(90)
def test_tunnel_survives_heavy_loss(env):
    """One `beacon forward` tunnel across 5 % loss with bursts for about
    20 s: echo round trips and transfers keep passing on the same tunnel,
    and --congestion reaches the tunnel sockets on both ends."""
    lab = Lab(env, "--rate-mbit", 50, "--delay-ms", 10, "--loss", 5,
              "--seed", 5)
    relay = start_relay(env, lab, ["--congestion", "reno"])
    with lab.inside("b"):
        echo = env.use(Echo())
    port = 8080
    fwd = env.start(lab.argv("a", [env.need_bin(), "forward", "--relay",
                                   relay.addr, "--config-dir", env.pki(),
                                   "--congestion", "cubic", "-L",
                                   "127.0.0.1:%d:%s" % (port, echo.addr)]),
                    name="forward")
    wait_listening(fwd, port)
    rtts = []
    deadline = time.monotonic() + 20
    rounds = 0
    while time.monotonic() < deadline:
        with lab.inside("a"):
            s = socket.socket()
        with s:
            s.settimeout(30)
            s.connect(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(20):
                msg = b"%06d" % i * 8
                t = time.monotonic()
                s.sendall(msg)
                harness.check_eq(harness.recv_exact(s, len(msg)), msg, "echo")
                rtts.append((time.monotonic() - t) * 1000)
            if rounds == 0:
                harness.check_eq(congestion_of(lab, "a", RELAY_PORT), "cubic",
                                 "forward's tunnel socket")
                harness.check_eq(congestion_of(lab, "b", RELAY_PORT), "reno",
                                 "relay's tunnel socket")
            blob = harness.random_bytes(256 << 10, seed=rounds)
            s.sendall(blob)
            harness.check_eq(harness.recv_exact(s, len(blob)), blob, "bulk")
        rounds += 1
    rtts.sort()
    print("%d rounds, %d round trips across 5 %% loss: p50 %.1f ms, max "
          "%.1f ms" % (rounds, len(rtts), statistics.median(rtts), rtts[-1]))
    harness.check(rounds >= 2, "only %d rounds in 20 s" % rounds)
    harness.check(fwd.alive() and relay.alive(), "forward or relay died")
    ups = [x for x in relay.log_text().splitlines() if " tunnel_up " in x]
    downs = [x for x in relay.log_text().splitlines()
             if " tunnel_down " in x]
    harness.check(len(ups) == 1 and not downs,
                  "the tunnel did not survive: %r %r" % (ups, downs))
    c = lab.counters()
    print("netlab: %r" % c)
    harness.check(c["a->b"]["lost"] > 0, "netlab dropped nothing: %r" % c)


if __name__ == "__main__":
    harness.main()
