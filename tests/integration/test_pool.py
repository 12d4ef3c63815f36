"""Relay pools (docs/ARCHITECTURE.md "Relay pools"): `beacon forward` and
`beacon connect` with `--relay a,b,c`, against beacon relays and the Go
relay (when built), while members are killed, frozen and drained.
"""

import ctypes
import os
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import harness
from backends import Echo


def start_relay(env, **kw):
    return env.start_relay(extra_args=["--allow", "127.0.0.0/8"],
                           allow_loopback=False, **kw)


def go_relay(env, port=None):
    """The Go relay of tests/interop as a pool member, or None when it is
    not built (no Go toolchain)."""
    peers = os.environ.get("BEACON_GO_PEERS_DIR") or os.path.join(
        env.build_dir, "go-peers")
    binary = os.path.join(peers, "go-relay")
    if not os.access(binary, os.X_OK):
        return None
    pki = env.pki()
    port = port or env.free_port()
    p = env.start([binary, "-listen", "127.0.0.1:%d" % port, "-quiet",
                   "-cert", os.path.join(pki, "relay.crt"),
                   "-key", os.path.join(pki, "relay.key"),
                   "-ca", os.path.join(pki, "fleet-ca.crt")], name="go-relay")
    env.wait_listening(p, port)
    p.port = port
    p.addr = "127.0.0.1:%d" % port
    return p


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def relay_metric(text, name, relay):
    m = re.search(r'^%s\{relay="%s"\} (\S+)$' % (name, re.escape(relay)),
                  text, re.M)
    return float(m.group(1)) if m else None


def start_forward(env, relays, target, *extra):
    port, mport = env.free_port(), env.free_port()
    argv = [env.need_bin(), "forward", "--relay",
            ",".join(r if isinstance(r, str) else r.addr for r in relays),
            "--config-dir", env.pki(), "--timeout", "5",
            "--metrics-addr", str(mport), "-L", "%d:%s" % (port, target)]
    fwd = env.start(argv + list(extra), name="forward")
    env.wait_listening(fwd, port)
    env.wait_listening(fwd, mport)
    return fwd, port, mport


def echo_once(port, data, timeout=10):
    """One new connection through the forward, one echo round trip.
    Returns the seconds it took, or raises."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(data)
        if harness.recv_exact(s, len(data)) != data:
            raise ConnectionError("echo mismatch")
    return time.monotonic() - t0


class Load:
    """Threads opening new echo connections through the forward until
    stopped; each result is (start, seconds or None, error)."""

    def __init__(self, port, threads=4, pause=0.01):
        self.port = port
        self.pause = pause
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,),
                                         daemon=True) for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, i):
        n = 0
        while not self.stopping.is_set():
            n += 1
            start = time.monotonic()
            try:
                took = echo_once(self.port, b"load %d %d\n" % (i, n))
                r = (start, took, None)
            except OSError as e:
                r = (start, None, repr(e))
            with self.lock:
                self.results.append(r)
            time.sleep(self.pause)

    def between(self, t0, t1):
        with self.lock:
            return [r for r in self.results if t0 <= r[0] < t1]

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(15)


def p99(values):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * 0.99))] if v else 0.0


def wait_members_up(mport, relays, timeout=40):
    def all_up():
        _, text = http_get(mport, "/metrics")
        return all(relay_metric(text, "beacon_relay_up", r.addr) == 1
                   for r in relays)
    harness.eventually(all_up, timeout=timeout, interval=0.2,
                       msg="not every pool member came back up")


def relays_of(log_text, since=0):
    """relay= of every conn_done line after offset since."""
    return re.findall(r"conn_done .*relay=(\S+)", log_text[since:])


@harness.timeout(100)
def test_forward_pool_survives_faults(env):
    """`beacon forward` over four members under a steady load of new
    connections: a drained (SIGTERM) relay's live streams finish intact,
    a killed and a frozen relay cost no connection and little time, and
    after recovery the streams spread over every member again."""
    echo = env.use(Echo())
    beacons = [start_relay(env, name="relay%d" % i) for i in range(3)]
    go = go_relay(env)
    members = beacons + ([go] if go else [])
    for r in beacons:
        env.add_cleanup(lambda r=r: r.send_signal(signal.SIGCONT))
    fwd, port, mport = start_forward(env, members, echo.addr)
    wait_members_up(mport, members, timeout=15)
    status, body = http_get(mport, "/healthz")
    harness.check_eq((status, body), (200, "ok\n"), "healthz, all up")

    load = Load(port)
    env.add_cleanup(load.stop)
    time.sleep(1.5)

    # Drain: live streams on the relay that got SIGTERM finish intact.
    held = []
    drained = beacons[2]
    live = 0
    while live < 2 and len(held) < 40:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            line = b"held %d\n" % len(held)
            s.sendall(line)
            harness.check_eq(harness.recv_exact(s, len(line)), line,
                             "held echo")
            held.append(s)
        time.sleep(1.2)  # the pool publishes its counters every second
        _, text = http_get(mport, "/metrics")
        live = relay_metric(text, "beacon_relay_streams_open",
                            drained.addr) or 0
    harness.check(live >= 2, "%d of %d held streams on the relay to drain"
                  % (live, len(held)))
    t_faults = time.monotonic()
    drained.send_signal(signal.SIGTERM)
    drained.wait_log(r"drain", timeout=10)
    time.sleep(1.0)
    payload = harness.random_bytes(128 * 1024, seed=5)
    for i, s in enumerate(held):
        s.sendall(payload)
        harness.check(harness.recv_exact(s, len(payload)) == payload,
                      "held connection %d broke during the drain" % i)
        s.shutdown(socket.SHUT_WR)
        harness.check_eq(s.recv(1), b"", "EOF after half-close")
        s.close()
    harness.check_eq(drained.wait(timeout=20), 0, "drained relay exit code")

    # Kill one, freeze another: the Go relay (or relay1) stays healthy.
    beacons[0].kill()
    time.sleep(2.0)
    frozen = beacons[1] if go else None
    if frozen:
        frozen.send_signal(signal.SIGSTOP)
    time.sleep(4.0)
    status, body = http_get(mport, "/healthz")
    harness.check_eq((status, body), (200, "degraded\n"), "healthz, faults")
    t_recover = time.monotonic()

    # Bring them back on the same addresses.
    beacons[0] = start_relay(env, port=beacons[0].port, name="relay0b")
    beacons[2] = start_relay(env, port=drained.port, name="relay2b")
    if frozen:
        frozen.send_signal(signal.SIGCONT)
    members = beacons + ([go] if go else [])
    wait_members_up(mport, members, timeout=45)
    mark = len(fwd.log_text())
    t_back = time.monotonic()
    time.sleep(3.0)
    load.stop()

    faults = load.between(t_faults, t_recover)
    failed = [r for r in load.results if r[1] is None]
    took = [r[1] for r in faults if r[1] is not None]
    sys_note = "%d connections during faults, p99 %.3fs, max %.3fs" % (
        len(faults), p99(took), max(took or [0]))
    print(sys_note)
    harness.check(len(faults) >= 50, "too little load: " + sys_note)
    # A connection caught in flight on the killed or frozen relay is
    # lost; a dial never is (the forward logs no dial failure).
    log = fwd.log_text()
    dial_failures = re.findall(r"conn_done .*reason=\S+.*", log)
    harness.check(not dial_failures, "dials failed: %r" % dial_failures[:5])
    harness.check(len(failed) <= 4, "connections failed: %r" % failed[:8])
    harness.check(p99(took) < 2.5, "connect p99 during faults: " + sys_note)
    # only connections already acknowledged by the frozen relay wait for
    # it to thaw
    slow = [t for t in took if t >= 2.5]
    harness.check(len(slow) <= 4, "slow connections: " + sys_note)

    # After recovery new streams spread over every member again.
    after = relays_of(log, mark)
    counts = {r.addr: after.count(r.addr) for r in members}
    harness.check(len(after) >= 40, "too few streams after recovery")
    for addr, n in counts.items():
        harness.check(n >= len(after) // (4 * len(members)),
                      "%s got %d of %d streams after recovery: %r"
                      % (addr, n, len(after), counts))
    _, text = http_get(mport, "/metrics")
    harness.check(re.search(r"^beacon_tunnel_up 1$", text, re.M), text)
    failovers = sum(relay_metric(text, "beacon_relay_failovers_total",
                                 r.addr) or 0 for r in members)
    reconnects = sum(relay_metric(text, "beacon_relay_reconnects_total",
                                  r.addr) or 0 for r in members)
    harness.check(reconnects >= 2, "reconnects %s" % reconnects)
    if frozen:
        harness.check(failovers >= 1, "no failover counted: %s" % text)
    # every member state change is logged
    for r in members:
        harness.check(re.search(r"relay_state relay=%s .*to=up" %
                                re.escape(r.addr), log), "no up line for "
                      + r.addr)
    harness.check(re.search(r"relay_state relay=%s .*to=draining"
                            % re.escape(drained.addr), log), "no draining")
    print("after recovery: %r; failovers %d reconnects %d"
          % (counts, failovers, reconnects))


def timed_connect(env, relays, target, timeout=5):
    argv = [env.need_bin(), "connect", "--config-dir", env.pki(),
            "--timeout", str(timeout), "--relay",
            ",".join(r if isinstance(r, str) else r.addr for r in relays),
            target]
    t0 = time.monotonic()
    r = env.run(argv, input=b"ping\n", timeout=30)
    return r, time.monotonic() - t0


def test_connect_pool_first_refusing(env):
    """A member that refuses connections costs a one-shot caller nothing
    worth noticing, whatever the random order."""
    relay = start_relay(env)
    echo = env.use(Echo())
    dead = "127.0.0.1:%d" % env.free_port()  # nothing listens
    for _ in range(8):  # the order is random: the bad one comes first too
        r, took = timed_connect(env, [dead, relay], echo.addr)
        harness.check_eq(r.returncode, 0, r.stderr)
        harness.check_eq(r.stdout, b"ping\n", "echo")
        harness.check(took < 2.0, "connect took %.2fs" % took)


def test_connect_pool_first_frozen(env):
    """A frozen member (SIGSTOP: TCP accepted by the kernel, no TLS)
    gets a parallel attempt on the next one after 250 ms."""
    frozen = start_relay(env, name="frozen")
    env.add_cleanup(lambda: frozen.send_signal(signal.SIGCONT))
    frozen.send_signal(signal.SIGSTOP)
    relay = start_relay(env)
    echo = env.use(Echo())
    for _ in range(8):  # the order is random: the bad one comes first too
        r, took = timed_connect(env, [frozen, relay], echo.addr)
        harness.check_eq(r.returncode, 0, r.stderr)
        harness.check_eq(r.stdout, b"ping\n", "echo")
        harness.check(took < 2.0, "connect took %.2fs" % took)


def test_connect_pool_all_fail_names_each(env):
    """When every member fails, the one error line names each member and
    why it failed."""
    a, b = env.free_port(), env.free_port()
    r, took = timed_connect(env, ["127.0.0.1:%d" % a, "127.0.0.1:%d" % b],
                            "127.0.0.1:9", timeout=3)
    err = r.stderr.decode()
    harness.check_eq(r.returncode, 1, err)
    harness.check_eq(len(err.strip().splitlines()), 1, err)
    for p in (a, b):
        harness.check(re.search(r"127\.0\.0\.1:%d [^;]*refused" % p, err),
                      "no reason for member %d: %s" % (p, err))


def test_connect_pool_names_members_in_handshake(env):
    """Members still in their handshake when the dial's time is up are
    named too, with what they are doing: 'none took the stream in time'
    alone does not say where the time went."""
    frozen = []
    for _ in range(2):  # TCP accepted by the kernel, never a TLS byte
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        env.add_cleanup(s.close)
        frozen.append("127.0.0.1:%d" % s.getsockname()[1])
    r, took = timed_connect(env, frozen, "127.0.0.1:9", timeout=3)
    err = r.stderr.decode()
    harness.check_eq(r.returncode, 1, err)
    harness.check_eq(len(err.strip().splitlines()), 1, err)
    harness.check("no relay of the pool took the stream in time" in err, err)
    for m in frozen:
        harness.check(re.search(r"%s: still connecting" % re.escape(m), err),
                      "member %s not named: %s" % (m, err))


def hanging_target(env):
    """A listener whose backlog is full, so connects to it hang."""
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    env.add_cleanup(full.close)
    for _ in range(8):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(full.getsockname())
        env.add_cleanup(f.close)
    time.sleep(0.2)
    return "127.0.0.1:%d" % full.getsockname()[1]


def test_slow_target_is_not_blamed_on_relays(env):
    """A target whose connect hangs is dialled by one relay only: a relay
    that answers pings is dialling, not stalled, so the stream stays with
    it, and the error says the relay was still connecting, not that it
    did not answer. With one relay, a --timeout shorter than its
    --dial-timeout says the same."""
    target = hanging_target(env)
    relays = [start_relay(env, name="r%d" % i) for i in range(3)]
    r, took = timed_connect(env, relays, target, timeout=5)
    err = r.stderr.decode()
    harness.check_eq(r.returncode, 1, err)
    harness.check_eq(len(err.strip().splitlines()), 1, err)
    harness.check("still connecting to %s" % target in err, err)
    harness.check("no answer from the relay" not in err, err)
    harness.check(4.5 < took < 8, "took %.2fs" % took)
    # the relays log the stream when it ends: only one of them saw it
    harness.eventually(
        lambda: sum(target in x.log_text() for x in relays) >= 1,
        timeout=10, msg="no relay logged the stream")
    time.sleep(0.5)
    harness.check_eq(sum(target in x.log_text() for x in relays), 1,
                     "relays that dialled the target")
    r, took = timed_connect(env, relays[:1], target, timeout=3)
    err = r.stderr.decode()
    harness.check_eq(r.returncode, 1, err)
    harness.check("still connecting to %s" % target in err and
                  "answers pings" in err, err)


def test_relay_freezing_mid_dial_loses_the_stream(env):
    """A relay that answered the ping sent with a stream, then froze
    while dialling, is asked again: with no answer the stream goes to
    another member instead of waiting for the caller's whole timeout."""
    target = hanging_target(env)
    port = int(target.rsplit(":", 1)[1])
    relays = [start_relay(env, name="r%d" % i) for i in range(2)]
    for r in relays:
        env.add_cleanup(lambda r=r: r.send_signal(signal.SIGCONT))
    argv = [env.need_bin(), "connect", "--config-dir", env.pki(),
            "--timeout", "14", "--relay", ",".join(r.addr for r in relays),
            target]
    t0 = time.monotonic()
    conn = env.start(argv, name="connect")
    first = harness.eventually(
        lambda: next((r for r in relays if r.dialling(port)), None),
        timeout=10, msg="no relay dialled the target")
    time.sleep(2.5)  # its pings are answered: the stream stays
    other = relays[1 - relays.index(first)]
    harness.check(not other.dialling(port), "both relays dialled at once")
    first.send_signal(signal.SIGSTOP)
    harness.eventually(lambda: other.dialling(port), timeout=6,
                       msg="the stream stayed with the frozen relay")
    harness.check(time.monotonic() - t0 < 10, "failover came late")
    first.send_signal(signal.SIGCONT)
    harness.check_eq(conn.wait(timeout=20), 1, "connect exit code")
    log = conn.log_text()
    harness.check("still connecting to %s" % target in log and
                  other.addr in log, log)


def test_connect_pool_target_refusal_is_final(env):
    """A refusal about the target (connect results of ALPN beacon/1) is
    not retried on another member: that would only dial it again."""
    relays = [start_relay(env, name="relay%d" % i) for i in range(3)]
    port = env.free_port()  # nothing listens
    r, took = timed_connect(env, relays, "127.0.0.1:%d" % port, timeout=5)
    err = r.stderr.decode()
    harness.check_eq(r.returncode, 1, err)
    harness.check("could not connect" in err and "every relay" not in err,
                  err)
    time.sleep(0.3)  # the relays' logs trail
    tried = [x.name for x in relays
             if re.search(r"stream_done .*127\.0\.0\.1:%d" % port,
                          x.log_text())]
    harness.check_eq(len(tried), 1, "relays that dialled the target")


class _Err(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("hop", ctypes.c_int),
                ("message", ctypes.c_char * 256)]


def test_library_tunnel_warms_on_second_dial(env):
    """libbeacon with beacon_config_add_relay("a,b,c"): the first dial
    connects one member, the second makes the tunnel warm (a connection
    to every member), and a killed member costs no dial."""
    if harness.SANITIZED:
        # the sanitizer runtime would have to be preloaded into Python;
        # `beacon forward` covers the same code under the sanitizers
        harness.skip("libbeacon.so of a sanitizer build in Python")
    path = os.path.join(env.build_dir, "libbeacon.so")
    if not os.path.exists(path):
        harness.skip("libbeacon.so not built")
    lib = ctypes.CDLL(path)
    vp = ctypes.c_void_p
    lib.beacon_config_new.restype = vp
    lib.beacon_config_free.argtypes = [vp]
    lib.beacon_config_add_relay.argtypes = [vp, ctypes.c_char_p]
    lib.beacon_config_set_dir.argtypes = [vp, ctypes.c_char_p]
    lib.beacon_tunnel_new.argtypes = [ctypes.POINTER(vp), vp,
                                      ctypes.POINTER(_Err)]
    lib.beacon_dial.argtypes = [vp, ctypes.c_char_p, ctypes.c_int,
                                ctypes.POINTER(_Err)]
    lib.beacon_tunnel_free.argtypes = [vp]
    relays = [start_relay(env, name="relay%d" % i) for i in range(3)]
    echo = env.use(Echo())
    cfg = lib.beacon_config_new()
    harness.check_eq(lib.beacon_config_add_relay(
        cfg, ",".join(r.addr for r in relays).encode()), 0, "add_relay")
    harness.check_eq(lib.beacon_config_set_dir(cfg, env.pki().encode()), 0,
                     "set_dir")
    t = vp()
    err = _Err()
    harness.check_eq(lib.beacon_tunnel_new(ctypes.byref(t), cfg,
                                           ctypes.byref(err)), 0,
                     err.message)
    lib.beacon_config_free(cfg)
    env.add_cleanup(lambda: lib.beacon_tunnel_free(t))

    def dial(i):
        fd = lib.beacon_dial(t, echo.addr.encode(), 5000, ctypes.byref(err))
        harness.check(fd >= 0, "dial %d: %s" % (i, err.message.decode()))
        with socket.socket(fileno=fd) as s:
            s.settimeout(10)
            s.sendall(b"lib %d\n" % i)
            harness.check_eq(harness.recv_exact(s, len(b"lib %d\n" % i)),
                             b"lib %d\n" % i, "echo %d" % i)

    def tunnels():
        return [len(re.findall(r"tunnel_up", r.log_text())) for r in relays]
    dial(0)
    time.sleep(0.5)
    harness.check_eq(sum(tunnels()), 1, "tunnels after the first dial")
    dial(1)
    harness.eventually(lambda: tunnels() == [1, 1, 1], timeout=10,
                       msg="not warm after the second dial: %r" % tunnels())
    relays[0].kill()
    for i in range(2, 30):
        dial(i)


class Slammer:
    """A listener that accepts and closes at once, counting accepts: a
    pool member whose TLS handshake always fails."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.times = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.times.append(time.monotonic())
            c.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def test_pool_backoff_widens(env):
    """A member that stays down is retried at widening, jittered
    intervals (full jitter, base 1 s), not in a hot loop; /healthz says
    degraded meanwhile, and down once no member can be had."""
    relay = start_relay(env)
    echo = env.use(Echo())
    bad = Slammer()
    env.add_cleanup(bad.close)
    fwd, port, mport = start_forward(env, [relay, bad], echo.addr)
    t0 = time.monotonic()
    harness.check(echo_once(port, b"x") < 5, "echo")
    time.sleep(14)
    n = len(bad.times)
    gaps = [b - a for a, b in zip(bad.times, bad.times[1:])]
    print("attempts in %.1fs: %d, gaps %s" % (
        time.monotonic() - t0, n, ["%.2f" % g for g in gaps]))
    # expected about 5 (cumulative ceilings 1, 3, 7, 15 s); a hot loop
    # would make hundreds
    harness.check(2 <= n <= 10, "attempts: %d" % n)
    harness.check(max(gaps or [0]) > 1.0, "gaps never widened: %r" % gaps)
    status, body = http_get(mport, "/healthz")
    harness.check_eq((status, body), (200, "degraded\n"), "healthz")
    _, text = http_get(mport, "/metrics")
    rec = relay_metric(text, "beacon_relay_reconnects_total", bad.addr)
    harness.check(rec is not None and rec >= n - 2, "reconnects %s" % rec)
    harness.check(relay_metric(text, "beacon_relay_up", relay.addr) == 1,
                  text)
    harness.check(re.search(r"relay_state relay=%s .*to=down"
                            % re.escape(bad.addr), fwd.log_text()),
                  "no down line")
    # and with no member left
    relay.kill()
    harness.eventually(lambda: http_get(mport, "/healthz") == (503, "down\n"),
                       timeout=10, msg="healthz never said down")


def test_single_relay_counts_and_health(env):
    """beacon forward with one relay: /healthz is down (503) until the
    tunnel is up, which forward brings up without waiting for a
    connection; beacon_relay_streams_open follows the streams open and
    falls back to 0 when they close."""
    echo = env.use(Echo())
    rport = env.free_port()
    raddr = "127.0.0.1:%d" % rport
    fwd, port, mport = start_forward(env, [raddr], echo.addr)
    harness.check_eq(http_get(mport, "/healthz"), (503, "down\n"),
                     "healthz before any relay")
    start_relay(env, port=rport)
    harness.eventually(lambda: http_get(mport, "/healthz") == (200, "ok\n"),
                       timeout=20, msg="forward never connected on its own")

    def streams_open():
        return relay_metric(http_get(mport, "/metrics")[1],
                            "beacon_relay_streams_open", raddr)
    held = []
    for _ in range(2):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"x")
        harness.check_eq(harness.recv_exact(c, 1), b"x", "echo")
        held.append(c)
    harness.eventually(lambda: streams_open() == 2, timeout=5,
                       msg="streams_open %s with 2 open" % streams_open())
    for c in held:
        c.close()
    harness.eventually(lambda: streams_open() == 0, timeout=5,
                       msg="streams_open %s after close" % streams_open())


class HostsPool:
    """Two relays on one port, at 127.0.0.1 (first) and 127.0.0.2
    (second), and a `beacon forward -L lport` to an echo whose relay is
    the name localhost:port, looked up in a hosts file of the test's own
    (self.hosts, holding hosts_text) bound over /etc/hosts in a private
    mount namespace; its metrics are on mport."""

    def __init__(self, env, hosts_text):
        unshare = harness.unshare_for_private_hosts(env)
        self.port = port = env.free_port()
        self.first = start_relay(env, port=port, name="relay1")
        self.second = env.start(
            [env.need_bin(), "egress", "--config-dir", env.pki(),
             "--tunnel-addr", "127.0.0.2:%d" % port, "--allow",
             "127.0.0.0/8", "--log-level", "debug", "--workers", "1"],
            name="relay2")
        env.wait_listening(self.second, port)
        self.echo = env.use(Echo())
        self.hosts = env.path("hosts")
        with open(self.hosts, "w") as f:
            f.write(hosts_text)
        self.lport, self.mport = env.free_port(), env.free_port()
        inner = ("mount --bind %s /etc/hosts && exec %s forward --relay "
                 "localhost:%d --config-dir %s --metrics-addr %d -L %d:%s" %
                 (self.hosts, env.need_bin(), port, env.pki(), self.mport,
                  self.lport, self.echo.addr))
        self.fwd = env.start([unshare, "-m", "--propagation", "private",
                              "sh", "-c", inner], name="forward")
        env.wait_listening(self.fwd, self.lport)


def test_pool_name_with_several_addresses(env):
    """A relay name that resolves to several addresses is a pool of its
    own: `beacon forward` keeps a tunnel to each address, verified
    against the name, and spreads connections over them. The name comes
    from an /etc/hosts of the test's own, bound in a private mount
    namespace."""
    pool = HostsPool(env, "127.0.0.1 localhost\n127.0.0.2 localhost\n")
    port, fwd, lport, mport = pool.port, pool.fwd, pool.lport, pool.mport
    first, second = pool.first, pool.second
    names = ["localhost:%d" % port, "localhost:%d/127.0.0.2" % port]

    def both_up():
        _, text = http_get(mport, "/metrics")
        return all(relay_metric(text, "beacon_relay_up", n) == 1
                   for n in names)
    harness.eventually(both_up, timeout=15, interval=0.2,
                       msg="the name's two addresses are not both up")
    # The first round trips are taken while everything starts (slowly
    # under a sanitizer); the pool's own probes every 2 s replace them.
    time.sleep(4.5)
    # The streams stay open until all 40 are placed: the choice weighs
    # open streams, so the spread holds even when a loaded machine makes
    # one address's round trip look twice the other's for a while (one
    # stream at a time, the faster-looking member would take them all,
    # which is what made this case flaky under load).
    held = []
    try:
        for i in range(40):
            s = socket.create_connection(("127.0.0.1", lport), timeout=10)
            held.append(s)
            s.settimeout(10)
            s.sendall(b"name %d\n" % i)
            harness.check_eq(harness.recv_exact(s, len(b"name %d\n" % i)),
                             b"name %d\n" % i, "echo %d" % i)
    finally:
        for s in held:
            s.close()
    harness.eventually(lambda: len(re.findall(r"conn_done ", fwd.log_text()))
                       >= 40, timeout=10, interval=0.1,
                       msg="not every connection ended")
    log = fwd.log_text()
    _, text = http_get(mport, "/metrics")
    for n in names:
        harness.check(len(re.findall(r"conn_done .*relay=%s " % re.escape(n),
                                     log)) >= 5, "few streams via %s: %s" %
                      (n, re.findall(r"^beacon_relay_rtt.*", text, re.M)))
    for r in (first, second):
        harness.check("tunnel_up" in r.log_text(), r.name + " never used")


if __name__ == "__main__":
    harness.main()
