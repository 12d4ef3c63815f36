"""beacon across an emulated WAN path (wanproxy: rate, delay, bottleneck).

The tunnel (controller -> relay) goes through wanproxy; the relay ->
backend hop stays on plain loopback. These are correctness checks
(integrity, half-close, concurrency, the proxy's own accuracy), not speed
assertions: the benchmarks (bench/run.py --wan-only) measure speed.
"""
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import threading
import time

import harness
from backends import Echo, Sink, Source


def wanproxy_bin():
    bd = os.environ.get("BEACON_BUILD_DIR", "")
    path = os.path.join(bd, "wanproxy")
    if not os.access(path, os.X_OK):
        raise harness.Failure("wanproxy not built in BEACON_BUILD_DIR=%r" %
                              bd)
    return path


def start_wanproxy(env, target, rate_mbit, rtt_ms, name="wanproxy",
                   extra=()):
    """wanproxy in front of target ("host:port" or a Proc/backend with
    .addr); returns the Proc with .addr = its listening address."""
    addr = target if isinstance(target, str) else target.addr
    p = env.start([wanproxy_bin(), "--listen", "127.0.0.1:0", "--connect",
                   addr, "--rate-mbit", rate_mbit, "--rtt-ms", rtt_ms] +
                  list(extra), name=name, stdout=subprocess.PIPE)
    line = p.readline(timeout=10)
    harness.check(line and line.startswith("listening 127.0.0.1:"),
                  "wanproxy said %r" % line)
    p.addr = line.split(" ", 1)[1]
    p.port = int(p.addr.rsplit(":", 1)[1])
    return p


def connect_to(addr, timeout=30):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def round_trips(addr, count=15, size=64):
    """Round-trip times (ms) of size-byte messages through an echo."""
    out = []
    with connect_to(addr) as s:
        msg = b"r" * size
        for _ in range(count):
            t = time.monotonic()
            s.sendall(msg)
            harness.check_eq(harness.recv_exact(s, size), msg, "echo")
            out.append((time.monotonic() - t) * 1000)
    return out


def echo_check(addr, nbytes, seed, results, i):
    """One connection: send nbytes to an echo, half-close, read it all
    back to EOF (the FIN must cross both ways)."""
    try:
        with connect_to(addr, timeout=60) as s:
            got = {}

            def reader():
                got["r"] = harness.sha256_stream(s)
            t = threading.Thread(target=reader)
            t.start()
            want = harness.send_pattern(s, nbytes, seed)
            s.shutdown(socket.SHUT_WR)
            t.join(90)
            results[i] = (got.get("r") == (nbytes, want), got.get("r"))
    except OSError as e:
        results[i] = (False, repr(e))


def parallel_echo(addr, conns, nbytes):
    results = [None] * conns
    threads = [threading.Thread(target=echo_check,
                                args=(addr, nbytes, i, results, i))
               for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    bad = [(i, r) for i, r in enumerate(results) if not r or not r[0]]
    harness.check(not bad, "%d of %d echo connections failed: %r" %
                  (len(bad), conns, bad[:5]))


# ---- the proxy itself --------------------------------------------------------

class TimedSink:
    """Accepts one connection and reads it to EOF, noting when the first
    and the last byte arrived: the rate between them is the link's,
    without the connection set-up and the one-way delay."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.result = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(60)
            h = hashlib.sha256()
            first = None
            count = 0
            while True:
                b = conn.recv(1 << 20)
                if not b:
                    break
                now = time.monotonic()
                if first is None:
                    first = (now, len(b))
                last = now
                h.update(b)
                count += len(b)
            self.result = (count, h.hexdigest(), first, last)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()
        return False


def steady_mbit(count, first, last):
    t0, n0 = first
    return (count - n0) * 8 / 1e6 / max(last - t0, 1e-3)


@harness.heavy
@harness.timeout(120)
def test_proxy_rate_and_delay(env):
    """Plain TCP through wanproxy: the added round trip and the link rate
    come out as configured (loose bounds; a check of the tool)."""
    rtt = 40
    echo = env.use(Echo())
    px = start_wanproxy(env, echo, 100, rtt, name="wanproxy-echo")
    rr = round_trips(px.addr)
    p50 = statistics.median(rr)
    print("round trip through a %d ms path: p50 %.1f ms, min %.1f ms" %
          (rtt, p50, min(rr)))
    harness.check(rtt - 1 <= min(rr) and p50 <= rtt + 25,
                  "round trips %r ms for rtt %d ms" % (rr, rtt))
    for rate, nbytes in ((100, 12 << 20), (20, 3 << 20)):
        sink = env.use(TimedSink())
        px = start_wanproxy(env, sink, rate, rtt, name="wanproxy-%d" % rate)
        with connect_to(px.addr, timeout=60) as s:
            want = harness.send_pattern(s, nbytes, seed=rate)
        sink.thread.join(60)
        harness.check(sink.result, "the sink saw no end of stream")
        count, digest, first, last = sink.result
        harness.check_eq((count, digest), (nbytes, want), "upload")
        mbit = steady_mbit(count, first, last)
        print("%d Mbit/s link, upload: %.1f Mbit/s" % (rate, mbit))
        harness.check(0.8 * rate <= mbit <= 1.2 * rate,
                      "rate %.1f Mbit/s on a %d Mbit/s link" % (mbit, rate))
    # Downstream too (the other direction has its own link).
    n = 6 << 20
    src = env.use(Source(n, seed=3))
    px = start_wanproxy(env, src, 100, rtt, name="wanproxy-down")
    with connect_to(px.addr, timeout=60) as s:
        h = hashlib.sha256()
        b = s.recv(1 << 20)
        first = (time.monotonic(), len(b))
        count = len(b)
        h.update(b)
        while b:
            last = time.monotonic()
            b = s.recv(1 << 20)
            h.update(b)
            count += len(b)
    harness.check_eq((count, h.hexdigest()), (n, src.sha256), "download")
    mbit = steady_mbit(count, first, last)
    print("100 Mbit/s link, download: %.1f Mbit/s" % mbit)
    harness.check(80 <= mbit <= 120, "download rate %.1f Mbit/s" % mbit)


@harness.timeout(120)
def test_proxy_many_connections_and_half_close(env):
    """100 concurrent connections, each half-closed by the client: every
    byte and both FINs cross; SIGTERM then ends the proxy cleanly."""
    echo = env.use(Echo(max_conns=256))
    px = start_wanproxy(env, echo, 200, 20)
    parallel_echo(px.addr, 100, 64 << 10)
    harness.check_eq(px.stop(signal.SIGTERM, timeout=10), 0,
                     "wanproxy exit code")


@harness.timeout(60)
def test_proxy_upstream_refused_resets_client(env):
    """An upstream that refuses the connection: the client sees it closed
    (a reset), not a hang."""
    px = start_wanproxy(env, "127.0.0.1:%d" % env.free_port(), 100, 10)
    try:
        with connect_to(px.addr, timeout=10) as s:
            got = s.recv(1)
    except ConnectionResetError:  # even the connect may see it
        got = b""
    harness.check_eq(got, b"", "read from a refused path")
    harness.check(px.alive(), "wanproxy exited")


# ---- beacon over the path -----------------------------------------------------

def beacon_connect(env, relay_addr, target, data=b"", timeout=90):
    return env.run([env.need_bin(), "connect", "--config-dir", env.pki(),
                    "--relay", relay_addr, target], input=data,
                   timeout=timeout)


@harness.timeout(180)
def test_beacon_connect_integrity(env):
    """beacon connect -> wanproxy (200 Mbit/s, 20 ms) -> beacon egress:
    several MiB up and down, compared byte for byte."""
    n = (2 << 20) if harness.SANITIZED else (6 << 20)
    relay = env.start_relay()
    px = start_wanproxy(env, relay, 200, 20)
    sink = env.use(Sink())
    data = harness.random_bytes(n, seed=7)
    r = beacon_connect(env, px.addr, sink.addr, data)
    harness.check_eq(r.returncode, 0, "connect rc, stderr %r" % r.stderr)
    harness.check_eq(r.stdout.decode().strip(),
                     "%d %s" % (n, harness.sha256_hex(data)), "upload")
    src = env.use(Source(n, seed=8))
    r = beacon_connect(env, px.addr, src.addr)
    harness.check_eq(r.returncode, 0, "connect rc, stderr %r" % r.stderr)
    harness.check_eq((len(r.stdout), hashlib.sha256(r.stdout).hexdigest()),
                     (n, src.sha256), "download")


@harness.timeout(180)
def test_beacon_forward_concurrent_streams(env):
    """Eight concurrent connections through one `beacon forward -L`
    tunnel across the path, each echoing with half-close."""
    relay = env.start_relay()
    px = start_wanproxy(env, relay, 200, 20)
    echo = env.use(Echo())
    port = env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay", px.addr,
                     "--config-dir", env.pki(), "-L",
                     "%d:%s" % (port, echo.addr)], name="forward")
    env.wait_listening(fwd, port)
    n = (256 << 10) if harness.SANITIZED else (1 << 20)
    parallel_echo("127.0.0.1:%d" % port, 8, n)
    harness.check(fwd.alive() and relay.alive(), "forward or relay died")


if __name__ == "__main__":
    harness.main()
