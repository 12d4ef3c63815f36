"""Self-tests of the integration harness: backends, fault proxy, process
handling, skip and wall-clock bound, and tpeer's scenarios. Fast (a few
seconds in all); the relay and tpeer cases skip when the binaries are not
built."""

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, check_eq  # noqa: E402
from backends import (Echo, Sink, Source, AnswerAfter, Silent,  # noqa: E402
                      ResetAfter, SlowAccept)
from faultproxy import FaultProxy  # noqa: E402


def connect(addr_or_port, timeout=5):
    port = addr_or_port if isinstance(addr_or_port, int) \
        else int(addr_or_port.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def upload_download(s, n, seed):
    """Sends n pattern bytes in a thread, half-closes, reads to EOF.
    Returns (sent sha, received count, received sha)."""
    sent = {}

    def writer():
        sent["sha"] = harness.send_pattern(s, n, seed)
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=writer)
    t.start()
    count, sha = harness.sha256_stream(s)
    t.join(10)
    return sent.get("sha"), count, sha


# ---- data helpers ---------------------------------------------------------

def test_random_bytes_deterministic(env):
    a = harness.random_bytes(200000, seed=3)
    check_eq(len(a), 200000, "length")
    check(a == harness.random_bytes(200000, seed=3), "same seed differs")
    check(a != harness.random_bytes(200000, seed=4), "seeds collide")
    check_eq(harness.pattern_sha256(200000, 3), harness.sha256_hex(a),
             "streamed sha")
    check(harness.random_bytes(1000, 3) == a[:1000], "prefix property")


# ---- backends -------------------------------------------------------------

def test_echo_round_trip(env):
    with Echo() as e:
        s = connect(e.port)
        sent, count, got = upload_download(s, 3 << 20, 1)
        s.close()
        check_eq(count, 3 << 20, "echoed bytes")
        check_eq(got, sent, "echoed sha256")
        harness.eventually(lambda: e.active == 0, 5, msg="handler ended")
        check_eq(e.connections, 1, "connections")


def test_sink_verdict(env):
    with Sink() as k:
        s = connect(k.port)
        sha = harness.send_pattern(s, 2 << 20, 9)
        s.shutdown(socket.SHUT_WR)
        line = s.makefile("rb").readline().decode()
        s.close()
        check_eq(line, "%d %s\n" % (2 << 20, sha), "verdict")
        check_eq(k.results, [(2 << 20, sha)], "results")


def test_source_checksum(env):
    with Source(5 << 20, seed=7) as src:
        s = connect(src.port)
        count, sha = harness.sha256_stream(s)
        s.close()
        check_eq(count, 5 << 20, "bytes")
        check_eq(sha, src.sha256, "sha256")
        check_eq(sha, harness.pattern_sha256(5 << 20, 7), "pattern")


def test_answer_after_and_silent(env):
    with AnswerAfter(5, b"hi\n") as a, Silent() as q:
        s = connect(a.port)
        s.sendall(b"abc")
        time.sleep(0.1)
        s.sendall(b"de")
        check_eq(s.makefile("rb").read(), b"hi\n", "reply then EOF")
        s.close()
        check_eq(a.received, [b"abcde"], "received")
        s = connect(q.port)
        s.settimeout(0.3)
        s.sendall(b"anyone?")
        try:
            s.recv(1)
            raise harness.Failure("Silent answered")
        except socket.timeout:
            pass
        s.close()


def test_reset_after(env):
    with ResetAfter(10) as r:
        s = connect(r.port)
        s.sendall(b"0123456789")
        try:
            got = s.recv(1)
            raise harness.Failure("expected RST, got %r" % got)
        except ConnectionResetError:
            pass
        s.close()


def test_slow_accept_fills_backlog(env):
    with SlowAccept() as sa:
        held = []
        refused_at = None
        for i in range(8):
            s = socket.socket()
            s.settimeout(0.3)
            try:
                s.connect(("127.0.0.1", sa.port))
                held.append(s)
            except socket.timeout:
                refused_at = i
                s.close()
                break
        for s in held:
            s.close()
        check(refused_at is not None, "backlog never filled")
        check_eq(sa.connections, 0, "accepted")


def test_backend_cli(env):
    p = env.start([sys.executable, os.path.join(harness.HERE, "backends.py"),
                   "echo"], name="echo-cli", stdout=subprocess.PIPE)
    port = int(p.stdout.readline())
    s = connect(port)
    s.sendall(b"cli")
    check_eq(harness.recv_exact(s, 3), b"cli", "echo")
    s.close()
    check_eq(p.stop(), 0, "exit on SIGTERM")


# ---- fault proxy ----------------------------------------------------------

def test_proxy_pass_and_tiny(env):
    with Echo() as e, FaultProxy("127.0.0.1", e.port) as fp:
        s = connect(fp.port)
        sent, count, got = upload_download(s, 1 << 20, 2)
        s.close()
        check_eq((count, got), (1 << 20, sent), "pass-through")
        fp.tiny()
        s = connect(fp.port)
        sent, count, got = upload_download(s, 3000, 5)
        s.close()
        check_eq((count, got), (3000, sent), "tiny segments")
        harness.eventually(lambda: fp.active == 0, 5, msg="conns closed")


def test_proxy_cli(env):
    with Echo() as e:
        p = env.start([sys.executable,
                       os.path.join(harness.HERE, "faultproxy.py"),
                       "--target", e.addr], name="proxy-cli",
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        port = int(p.readline())
        s = connect(port)
        s.sendall(b"abc")
        check_eq(harness.recv_exact(s, 3), b"abc", "through the CLI proxy")

        def stats():
            # The proxy counts a chunk just after forwarding it.
            p.stdin.write(b"stats\n")
            p.stdin.flush()
            return p.readline() == "1 1 6"
        harness.eventually(stats, 5, msg="stats: connections active "
                           "forwarded")
        p.stdin.write(b"cut-rst\n")
        p.stdin.flush()
        try:
            got = s.recv(1)
            raise harness.Failure("expected RST after cut-rst, got %r" %
                                  got)
        except ConnectionResetError:
            pass
        s.close()
        p.stdin.close()
        check_eq(p.wait(5), 0, "exit at EOF on stdin")


def test_proxy_delay(env):
    with Echo() as e, FaultProxy("127.0.0.1", e.port) as fp:
        s = connect(fp.port)
        s.sendall(b"x")
        harness.recv_exact(s, 1)
        fp.delay(150)
        t0 = time.monotonic()
        s.sendall(b"y")
        check_eq(harness.recv_exact(s, 1), b"y", "echo")
        rtt = time.monotonic() - t0
        # Delayed once per direction.
        check(0.29 <= rtt < 2.0, "round trip %.3fs with 2 x 150 ms" % rtt)
        s.close()


def test_proxy_throttle(env):
    with Sink() as k, FaultProxy("127.0.0.1", k.port) as fp:
        fp.throttle(200000)
        s = connect(fp.port)
        t0 = time.monotonic()
        sha = harness.send_pattern(s, 150000, 4)
        s.shutdown(socket.SHUT_WR)
        line = s.makefile("rb").readline().decode()
        took = time.monotonic() - t0
        s.close()
        check_eq(line, "150000 %s\n" % sha, "verdict")
        check(0.6 <= took < 3.0, "150 kB at 200 kB/s took %.2fs" % took)


def test_proxy_blackhole(env):
    with Echo() as e, FaultProxy("127.0.0.1", e.port) as fp:
        s = connect(fp.port)
        fp.blackhole()
        s.sendall(b"lost?")
        s.settimeout(0.4)
        try:
            got = s.recv(5)
            raise harness.Failure("blackhole let %r through" % got)
        except socket.timeout:
            pass
        check_eq(fp.active, 1, "connection still open")
        fp.passthrough()
        s.settimeout(5)
        check_eq(harness.recv_exact(s, 5), b"lost?",
                 "delivered after blackhole")
        fp.cut()
        check_eq(s.recv(1), b"", "FIN after cut")
        s.close()


def test_proxy_reset_at(env):
    with Sink() as k, FaultProxy("127.0.0.1", k.port) as fp:
        fp.reset_at(1000)
        s = connect(fp.port)
        err = None
        try:
            harness.send_pattern(s, 1 << 20, 1)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
        except (ConnectionResetError, BrokenPipeError) as ex:
            err = ex
        except OSError as ex:
            # the reset can land before shutdown(): ENOTCONN
            if ex.errno != errno.ENOTCONN:
                raise
            err = ex
        s.close()
        check(err is not None, "no reset seen by the client")
        harness.eventually(lambda: k.results, 5, msg="sink saw the end")
        check_eq(k.results[0][0], 1000, "bytes before the reset")


# ---- processes, skip, wall-clock bound ------------------------------------

# Indented so CMake does not register its cases as ours.
CHILD = textwrap.dedent(r"""
    import os, sys, time
    sys.path.insert(0, %r)
    import harness

    def test_skipper(env):
        harness.skip("no frobnicator on this machine")

    def test_fails(env):
        harness.check(False, "deliberate")

    @harness.timeout(1)
    def test_hangs(env):
        p = env.start([sys.executable, "-c", "import time; time.sleep(60)"],
                      name="sleeper")
        print("CHILDPID", p.pid, flush=True)
        time.sleep(30)

    if __name__ == "__main__":
        harness.main()
""")


def test_proc_lifecycle(env):
    p = env.start([sys.executable, "-c",
                   "import sys, time\n"
                   "sys.stderr.write('ready 42\\n'); sys.stderr.flush()\n"
                   "time.sleep(30)"], name="child")
    m = p.wait_log(r"ready (\d+)", 5)
    check_eq(m.group(1), "42", "log match")
    check(p.rss_kib() > 0, "rss")
    check(p.fd_count() >= 3, "fds")
    check(p.cpu_seconds() >= 0, "cpu")
    check(p.alive(), "alive")
    check_eq(p.stop(timeout=5), -15, "SIGTERM exit")
    check(not os.path.exists("/proc/%d/status" % p.pid) or
          "zombie" not in open("/proc/%d/status" % p.pid).read(), "reaped")
    q = env.start([sys.executable, "-c", "import sys; sys.exit(3)"])
    check_eq(q.wait(5), 3, "exit code")
    port = env.free_port()
    check(0 < port < 32768, "port %d below the ephemeral range" % port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_skip_fail_and_bound(env):
    path = env.path("test_child.py")
    with open(path, "w") as f:
        f.write(CHILD % harness.HERE)
    r = env.run([sys.executable, path, "skipper"], timeout=20)
    check_eq(r.returncode, harness.SKIP_CODE, "skip exit code")
    check(b"SKIPPED skipper: no frobnicator" in r.stderr, r.stderr)
    r = env.run([sys.executable, path, "fails"], timeout=20)
    check_eq(r.returncode, 1, "failure exit code")
    check(b"deliberate" in r.stdout, r.stdout)
    r = env.run([sys.executable, path, "hangs"], timeout=20)
    check_eq(r.returncode, 1, "bound exit code")
    check(b"wall-clock bound" in r.stderr, r.stderr)
    pid = int(r.stdout.split(b"CHILDPID")[1].split()[0])
    harness.eventually(lambda: not os.path.exists("/proc/%d" % pid), 5,
                       msg="the hung case's child was not cleaned up")


def need_relay(env, tpeer=False):
    check(env.bin and os.path.exists(env.bin),
          "beacon binary not built (BEACON_BIN unset)")
    if tpeer:
        check(env.tpeer_bin and os.path.exists(env.tpeer_bin),
              "tpeer not built (BEACON_TPEER unset)")
    r = env.beacon("pki", "init", env.path("probe"))
    check_eq(r.returncode, 0, "beacon pki init: %s" %
             r.stderr.decode(errors="replace").strip())
    return env.start_relay()


def test_relay_smoke(env):
    relay = need_relay(env)
    check(relay.listening(relay.port), "relay listens")
    check_eq(relay.stop(timeout=15), 0, "relay exit on SIGTERM")


def test_tpeer_data(env):
    """tpeer's data scenarios end to end, and that its checks can fail."""
    relay = need_relay(env, tpeer=True)
    e = env.use(Echo())
    k = env.use(Sink())
    src = env.use(Source(1 << 20, seed=5))
    r = env.tpeer("echo", "--target", e.addr, "--streams", "4",
                  "--bytes", "200K", relay=relay)
    check(r["ok"] and r["failed"] == 0 and r["mbps"] > 0, r)
    r = env.tpeer("upload", "--target", k.addr, "--bytes", "1M",
                  relay=relay)
    check_eq(r["verdict"], "%d %s\n" % (1 << 20, r["sha256"]), "verdict")
    check_eq(k.results[-1], (1 << 20, r["sha256"]), "sink saw")
    r = env.tpeer("download", "--target", src.addr, "--bytes", "1M",
                  "--expect-sha", src.sha256, relay=relay)
    check_eq(r["sha256"], src.sha256, "download sha")
    r = env.tpeer("download", "--target", src.addr, "--expect-sha",
                  "00" * 32, relay=relay, expect_rc=1)
    check_eq(r["error"], "wrong sha256", "a bad digest is caught")
    for sc in ("split-target", "bundle"):
        r = env.tpeer(sc, "--target", e.addr, relay=relay)
        check(r["ok"] and r["echoed"] > 0, r)
    # Port 1 on loopback: refused at once, so the relay resets.
    r = env.tpeer("expect-reset", "--target", "127.0.0.1:1", relay=relay)
    check(r["reset"] and r["reset_ms"] < 5000, r)
    r = env.tpeer("expect-reset", "--target", e.addr, "--payload", "x",
                  relay=relay, expect_rc=1)
    check_eq(r["error"], "data arrived instead of RST", "echo is no RST")


def test_tpeer_violation_and_hold(env):
    relay = need_relay(env, tpeer=True)
    e = env.use(Echo())
    q = env.use(Silent())
    r = env.tpeer("violation", "bad-version", "--expect", "goaway:1",
                  relay=relay)
    check(r["closed"], r)
    r = env.tpeer("violation", "unknown-stream-data", "--wait-ms", "300",
                  "--expect", "up", "--then-echo", e.addr, relay=relay)
    check(r["then_echo"], r)
    r = env.tpeer("violation", "bad-type", "--wait-ms", "300", "--expect",
                  "up", relay=relay, expect_rc=1)
    check(r["go_away"] == 1 and not r["ok"], r)
    p = env.start_tpeer("hold", "--target", q.addr, "--streams", "50",
                        relay=relay)
    check_eq(p.readline(20), "ready 50 0", "hold ready line")
    harness.eventually(lambda: relay.fd_count() >= 50, 10,
                       msg="relay dialled the held streams")
    p.stdin.close()
    r = json.loads(p.readline(10))
    check(r["ok"] and r["alive"] and r["acked"] == 50, r)
    check_eq(p.wait(5), 0, "hold exit")
    r = env.tpeer("idle", "--seconds", "1", "--ping-ms", "200",
                  relay=relay)
    check(r["alive"] and r["pings_acked"] >= 4, r)


if __name__ == "__main__":
    harness.main()
