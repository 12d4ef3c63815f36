"""Long reliability runs (label soak: `make soak` only, never `make test`).

test_mixed_10min: >= 10 minutes (BEACON_SOAK_SECONDS overrides) of
short and long streams, random resets from either end, half-closes and
targets that reset, through both raw tunnels (the Python yamux peer)
and `beacon forward`, with a relay restart in the middle. Every stream
that completes has its bytes checked by SHA-256; at the end the relay's
and the forwarder's fd counts are back where they were and their RSS is
flat.

test_relay_kill_1000_cycles: the 50-cycle case of test_faults.py, 1 000
times.
"""

import os
import random
import socket
import threading
import time

import harness
from backends import Echo, ResetAfter
from test_faults import (close_session, relay_kill_cycles, round_trip,
                         session, settled_fds, start_forward,
                         try_round_trip)
from test_relay_peer import PeerError

SECONDS = int(os.environ.get("BEACON_SOAK_SECONDS", "600"))


@harness.soak
@harness.timeout(1800)
def test_relay_kill_1000_cycles(env):
    relay_kill_cycles(env, 1000)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = {}
        self.bad = []

    def add(self, what, k=1):
        with self.lock:
            self.n[what] = self.n.get(what, 0) + k

    def fail(self, why):
        with self.lock:
            self.bad.append(why)


def tunnel_worker(env, port_box, echo, rst, stats, stop, seed):
    """One tunnel at a time, several streams in flight on it; a new
    tunnel when the relay goes away (the restart)."""
    rng = random.Random(seed)
    s = None
    while not stop.is_set():
        if s is None or s.dead:
            if s is not None:
                close_session(s)
                stats.add("tunnel_lost")
            try:
                s = session(env, port_box[0])
            except OSError:
                time.sleep(0.2)
                continue
        op = rng.random()
        try:
            if op < 0.55:
                # half-close echo: short mostly, sometimes long
                n = rng.randrange(1, 65536) if rng.random() < 0.85 else \
                    rng.randrange(1 << 20, 8 << 20)
                data = rng.randbytes(n)
                st = s.open(echo.addr)
                box = {}
                th = threading.Thread(target=lambda: box.update(
                    r=st.read_all(120)), daemon=True)
                th.start()
                st.write(data, timeout=120)
                st.close_write()
                th.join(130)
                if "r" not in box:
                    raise PeerError("echo read failed")
                if box["r"] != data:
                    stats.fail("echo %d bytes: corrupted (%d back)" %
                               (n, len(box["r"])))
                stats.add("completed")
                stats.add("bytes", 2 * n)
            elif op < 0.75:
                # we reset mid-stream
                st = s.open(echo.addr, rng.randbytes(rng.randrange(1, 200000)))
                time.sleep(rng.random() * 0.05)
                st.send_reset()
                stats.add("reset_by_us")
            elif op < 0.9:
                # the target resets mid-stream
                st = s.open(rst.addr)
                try:
                    st.write(rng.randbytes(100000), timeout=10)
                except PeerError:
                    pass
                if not st.wait_reset(20) and not s.dead:
                    stats.fail("target reset not relayed as RST")
                stats.add("reset_by_target")
            else:
                # half-close from our side only, keep reading
                st = s.open(echo.addr, b"half")
                st.close_write()
                if st.read_all(30) != b"half":
                    stats.fail("half-close echo")
                stats.add("completed")
        except PeerError:
            stats.add("interrupted")  # the restart; not a completed stream
    if s is not None:
        close_session(s)


def forward_worker(lport, stats, stop, seed):
    """Echo round trips through `beacon forward`: a connection cut by the
    relay restart may end early, but never with wrong bytes."""
    rng = random.Random(seed)
    while not stop.is_set():
        n = rng.randrange(1, 2 << 20)
        data = rng.randbytes(n)
        try:
            with socket.create_connection(("127.0.0.1", lport),
                                          timeout=60) as s:
                s.settimeout(60)
                box = {}
                th = threading.Thread(target=lambda: box.update(
                    r=harness.sha256_stream(s)), daemon=True)
                th.start()
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                th.join(70)
            got = box.get("r")
        except OSError:
            got = None
        if got is None:
            stats.add("interrupted")
            time.sleep(0.05)
        elif got == (n, harness.sha256_hex(data)):
            stats.add("completed")
            stats.add("bytes", 2 * n)
        elif got[0] == n:
            stats.fail("forward: %d bytes came back corrupted" % n)
        else:
            stats.add("interrupted")


def fd_targets(pid):
    out = []
    d = "/proc/%d/fd" % pid
    for fd in sorted(os.listdir(d), key=int):
        try:
            out.append("%s->%s" % (fd, os.readlink(os.path.join(d, fd))))
        except OSError:
            pass
    return " ".join(out)


@harness.soak
@harness.timeout(1800)
def test_mixed_10min(env):
    echo = env.use(Echo())
    rst = env.use(ResetAfter(50000))
    port = env.free_port()
    relay = env.start_relay(port=port, workers=2)
    base_fd = settled_fds(relay)
    fwd, lport = start_forward(env, relay.addr, echo.addr)
    round_trip(lport, 1000)
    fwd_fd = fwd.fd_count()
    stats = Stats()
    stop = threading.Event()
    port_box = [port]
    ths = [threading.Thread(target=tunnel_worker, args=(
        env, port_box, echo, rst, stats, stop, k), daemon=True)
        for k in range(4)]
    ths += [threading.Thread(target=forward_worker, args=(
        lport, stats, stop, 100 + k), daemon=True) for k in range(2)]
    for t in ths:
        t.start()
    t0 = time.monotonic()
    restarted = False
    samples = []
    while time.monotonic() - t0 < SECONDS:
        time.sleep(5)
        el = time.monotonic() - t0
        if not restarted and el >= SECONDS / 2:
            relay.stop(timeout=5) if random.random() < 0.5 else relay.kill()
            relay = env.start_relay(port=port, workers=2)
            restarted = True
            print("relay restarted at %.0fs: %r" % (el, stats.n))
        if restarted and el >= SECONDS / 2 + 30:
            samples.append((relay.rss_kib(), fwd.rss_kib()))
        harness.check(relay.alive() and fwd.alive(), "a process died")
    stop.set()
    for t in ths:
        t.join(180)
    print("soak %ds: %r" % (SECONDS, stats.n))
    harness.check(not stats.bad, "\n".join(stats.bad[:20]))
    harness.check(stats.n.get("completed", 0) > 100, stats.n)
    harness.check(try_round_trip(lport), "forward after the soak")
    harness.eventually(lambda: fwd.fd_count() <= fwd_fd, timeout=30,
                       msg="forward fds %d, %d at the start" %
                       (fwd.fd_count(), fwd_fd))
    # every tunnel closed: fds back to a just-started relay's count
    fwd.stop()
    try:
        harness.eventually(lambda: relay.fd_count() <= base_fd, timeout=30)
    except harness.Failure:
        log = relay.log_text()
        raise harness.Failure(
            "relay fds %d, %d at the start: %s; tunnel_up %d tunnel_down "
            "%d stream_open %d stream_done %d" % (
                relay.fd_count(), base_fd, fd_targets(relay.pid),
                log.count("tunnel_up"), log.count("tunnel_down"),
                log.count("stream_open"), log.count("stream_done")))
    if len(samples) >= 4:
        (r0, f0), (r1, f1) = samples[len(samples) // 4], samples[-1]
        print("RSS relay %d->%d KiB, forward %d->%d KiB" % (r0, r1, f0, f1))
        harness.check(r1 - r0 < 32 * 1024, "relay RSS %d -> %d" % (r0, r1))
        harness.check(f1 - f0 < 16 * 1024, "forward RSS %d -> %d" % (f0, f1))
    for p in (relay, fwd):
        harness.check("Sanitizer" not in p.log_text(), p.name)


if __name__ == "__main__":
    harness.main()
