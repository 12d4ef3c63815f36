#!/usr/bin/env python3
"""beacon controller (`beacon connect`, `beacon forward`, and libbeacon
itself through ctypes) -> Go relay (crypto/tls + hashicorp/yamux):
docs/PROTOCOL.md "The beacon wire protocol" proven against the reference
implementation. Run one case:
python3 test_interop_beacon_controller.py CASE."""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_util as iu  # noqa: E402
from interop_util import check  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
HEAVY = 64 * MiB if iu.SANITIZED else GiB


def connect(env, relay, target, *extra):
    """Start `beacon connect` with pipes on stdin and stdout."""
    env.need_beacon()
    log = open(os.path.join(env.dir, "connect.log"), "ab")
    pr = subprocess.Popen([env.beacon_bin, "connect", "--relay", relay,
                           "--config-dir", env.pki] + list(extra) +
                          [target], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=log)
    log.close()
    pr.log_path = log.name
    pr.name = "connect"
    env.procs.append(pr)
    return pr


def feed(pr, chunks, close=True):
    """Write chunks to pr's stdin in a thread (then close it)."""
    def run():
        try:
            for c in chunks:
                pr.stdin.write(c)
            if close:
                pr.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def hash_stdout(pr, timeout):
    """Hash pr's stdout to EOF (bounded by timeout via a watchdog)."""
    timer = threading.Timer(timeout, pr.kill)
    timer.start()
    try:
        h = hashlib.sha256()
        n = 0
        while True:
            b = pr.stdout.read1(256 * KiB)
            if not b:
                break
            h.update(b)
            n += len(b)
        return n, h.hexdigest()
    finally:
        timer.cancel()


def wait_rc(pr, timeout, what):
    try:
        return pr.wait(timeout)
    except subprocess.TimeoutExpired:
        raise iu.Fail("%s did not exit within %ss" % (what, timeout))


def local_spec(backend):
    """-L spec from a free loopback port to backend."""
    return "127.0.0.1:%d:%s" % (iu.free_port(), backend.addr)


def fwd_addr(fwd, i=0):
    host, port = fwd.addrs[i].rsplit(":", 1)
    return host, int(port)


# ---- beacon connect ---------------------------------------------------------

def test_connect_echo(env):
    # stdin -> stream -> Go relay -> echo and back; stdin EOF becomes FIN
    # (half-close), the echo's EOF ends stdout, exit 0.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    n = 8 * MiB + 13
    pr = connect(env, relay.addr, echo.addr)
    feed(pr, iu.pattern_chunks(21, n))
    got = hash_stdout(pr, 60)
    check(got == (n, iu.pattern_sha(21, n)), "echo came back as %r" %
          (got,))
    check(wait_rc(pr, 10, "beacon connect") == 0, "rc %s" % pr.returncode)
    env.wait_log(relay, lambda t: "up %d down %d" % (n, n) in t)


@iu.heavy
def test_connect_upload_1gib(env):
    sink = env.go_backend("sink")
    relay = env.start_go_relay("-quiet")
    pr = connect(env, relay.addr, sink.addr)
    feed(pr, iu.pattern_chunks(31, HEAVY, 1 * MiB))
    out = pr.stdout.read()
    check(wait_rc(pr, 240, "beacon connect") == 0, "rc %s" % pr.returncode)
    check(out.decode() == "%d %s\n" % (HEAVY, iu.pattern_sha(31, HEAVY)),
          "sink answered %r" % out)


@iu.heavy
def test_connect_download_1gib(env):
    src = env.go_backend("source", HEAVY, seed=32)
    relay = env.start_go_relay("-quiet")
    pr = connect(env, relay.addr, src.addr)
    # stdin stays open: the download alone must end stdout.
    got = hash_stdout(pr, 240)
    check(got == (HEAVY, iu.pattern_sha(32, HEAVY)), "download %r" % (got,))
    pr.stdin.close()
    check(wait_rc(pr, 10, "beacon connect") == 0, "rc %s" % pr.returncode)


def test_connect_refused(env):
    # The Go relay can only FIN a refused stream (no public RST in this
    # yamux): beacon connect sees an empty, clean end, never a hang.
    held, refused = iu.refused_addr()
    try:
        relay = env.start_go_relay("-dial-timeout", "3")
        pr = connect(env, relay.addr, refused)
        out, _ = pr.communicate(b"hello\n", timeout=20)
        check(out == b"", "data from a refused target: %r" % out)
        check(pr.returncode in (0, 1), "rc %s" % pr.returncode)
        env.wait_log(relay, lambda t: "dial " in t)
    finally:
        held.close()


def test_close_both_on_eof(env):
    # The original Go relay closes both directions at the first EOF. The
    # beacon controller must get every byte before the end, then a clean
    # end of stream (no hang, no reset), while its own side is still open.
    n = 5 * MiB + 3
    src = env.backend(iu.source_server(n, seed=41))
    relay = env.start_go_relay("-close-both-on-eof")
    pr = connect(env, relay.addr, src.addr)
    got = hash_stdout(pr, 60)
    check(got == (n, iu.pattern_sha(41, n)), "download %r" % (got,))
    pr.stdin.close()
    check(wait_rc(pr, 10, "beacon connect") == 0, "rc %s" % pr.returncode)
    # Through beacon forward with a plain socket that never half-closes.
    fwd = env.start_beacon_forward(relay.addr, "-L", local_spec(src))
    for _ in range(3):
        with socket.create_connection(fwd_addr(fwd), timeout=30) as c:
            c.sendall(b"x" * 1000)
            cnt, sha, _ = iu.recv_all(c)
            check((cnt, sha) == (n, iu.pattern_sha(41, n)),
                  "forward got %d bytes" % cnt)
    # And an echo that only answers: every byte written before the
    # target's EOF comes back.
    echo = env.backend(iu.answer_after_server(3 * MiB))
    pr = connect(env, relay.addr, echo.addr)
    feed(pr, iu.pattern_chunks(42, 3 * MiB), close=False)
    out = pr.stdout.readline()
    check(out.decode() == "%d %s\n" % (3 * MiB, iu.pattern_sha(42, 3 * MiB)),
          "answer %r" % out)
    pr.stdin.close()
    check(wait_rc(pr, 15, "beacon connect") == 0, "rc %s" % pr.returncode)


def test_wrong_relay_name(env):
    # The Go relay presents a certificate for wrong.example only: beacon
    # connect must refuse it, naming the problem.
    iu.issue_extra(env.pki, "wrongname-relay")
    echo = env.backend(iu.echo_server())
    env.need_go()
    relay = env.spawn([env.go_relay_bin, "-listen", "127.0.0.1:0",
                       "-cert", env.p("wrongname-relay.crt"),
                       "-key", env.p("wrongname-relay.key"),
                       "-ca", env.p("fleet-ca.crt")], "go-relay")
    relay.addr = env.wait_listening(relay)
    pr = connect(env, relay.addr, echo.addr)
    out, _ = pr.communicate(b"hi", timeout=30)
    err = env.log_text(pr)
    print("beacon connect: %s" % err.strip())
    check(pr.returncode != 0 and out == b"", "rc %s" % pr.returncode)
    low = err.lower()
    check(("name" in low or "host" in low or "mismatch" in low or
           "san" in low) and "127.0.0.1" in err, "unclear message %r" % err)
    check(echo.connections == 0, "the stream reached the target")


def test_pki_init_files(env):
    # `beacon pki init` files, unchanged, for a Go relay and beacon.
    d = os.path.join(env.dir, "dev-pki")
    r = env.beacon("pki", "init", d)
    check(r.returncode == 0, "pki init: %r" % r.stderr)
    env._pki = d
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    pr = connect(env, relay.addr, echo.addr)
    out, _ = pr.communicate(b"pki init files\n", timeout=30)
    check(out == b"pki init files\n" and pr.returncode == 0,
          "echo %r rc %s" % (out, pr.returncode))


# ---- beacon forward ---------------------------------------------------------

def test_forward_500_streams(env):
    echo = env.go_backend("echo")
    relay = env.start_go_relay("-quiet")
    fwd = env.start_beacon_forward(relay.addr, "-L", local_spec(echo))
    host, port = fwd_addr(fwd)
    iu.echo_many("%s:%d" % (host, port), 500, 64 * KiB, timeout=120)
    # One single big one too, far beyond the 256 KiB window both ways.
    iu.echo_many("%s:%d" % (host, port), 1, 24 * MiB, seed0=7, timeout=60)
    check(env.stop(fwd) == 0, "forward exit %s" % fwd.returncode)


@iu.slow
def test_forward_sigstop_relay(env):
    # A frozen Go relay answers no pings: beacon forward must notice in
    # about 30 s (20 s interval + 10 s deadline) and end the connection
    # riding on the dead tunnel, with no TCP reset ever arriving.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    fwd = env.start_beacon_forward(relay.addr, "-L", local_spec(echo))
    c = socket.create_connection(fwd_addr(fwd), timeout=60)
    try:
        c.sendall(b"ping\n")
        check(c.recv(5) == b"ping\n", "no echo before the freeze")
        time.sleep(0.5)
        t0 = time.time()
        os.kill(relay.pid, signal.SIGSTOP)
        try:
            b = c.recv(10)
            how = "EOF" if not b else "data %r" % b
        except ConnectionResetError:
            how = "reset"
        except socket.timeout:
            how = "nothing within 60 s"
        took = time.time() - t0
        print("forwarded connection ended (%s) after %.1fs" % (how, took))
        check(how in ("EOF", "reset"), how)
        check(took <= 32, "dead relay found only after %.1fs" % took)
        check(took >= 9, "ended after %.1fs: not by keep-alive?" % took)
    finally:
        c.close()
        os.kill(relay.pid, signal.SIGKILL)


# ---- libbeacon (the C library) ----------------------------------------------

def test_library_dial(env):
    # beacon_dial() through a Go relay: several streams on one tunnel,
    # half-close with shutdown(SHUT_WR), EOF at the end.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    lb = env.libbeacon()
    t = lb.tunnel(relay.addr, env.pki)
    socks = [lb.dial(t, echo.addr) for _ in range(5)]
    for i, s in enumerate(socks):
        data = b"".join(iu.pattern_chunks(50 + i, 700 * KiB))
        done = threading.Thread(target=lambda: (s.sendall(data),
                                                s.shutdown(socket.SHUT_WR)))
        done.start()
        got = iu.recv_all(s)
        done.join(10)
        check(got[:2] == (len(data), hashlib.sha256(data).hexdigest()),
              "stream %d: %d bytes back" % (i, got[0]))
        s.close()
    # One tunnel for all of them (the relay logs one "up" line).
    check(env.log_text(relay).count(") up") == 1, env.log_text(relay))
    # A refused target ends its stream only.
    held, refused = iu.refused_addr()
    try:
        s = lb.dial(t, refused)
        s.settimeout(20)
        try:
            b = s.recv(10)
        except ConnectionResetError:
            b = b""
        check(b == b"", "data from a refused target %r" % b)
        s.close()
    finally:
        held.close()
    s = lb.dial(t, echo.addr)
    s.sendall(b"still up\n")
    check(s.recv(9) == b"still up\n", "tunnel unusable after a refusal")
    s.close()
    # A malformed target never reaches the wire.
    try:
        lb.dial(t, "no-port")
        raise iu.Fail("malformed target dialled")
    except iu.BeaconError as e:
        print("malformed target: %s" % e)


def test_library_go_away(env):
    # The Go relay sends Go Away 1 s into the session: the stream opened
    # before keeps working; a dial afterwards must not use the old
    # session (Go would reset it) and lands on a new tunnel.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay("-go-away-after", "1")
    lb = env.libbeacon()
    t = lb.tunnel(relay.addr, env.pki)
    s1 = lb.dial(t, echo.addr)
    s1.sendall(b"before\n")
    check(s1.recv(7) == b"before\n", "echo before Go Away")
    env.wait_log(relay, lambda t: "sending Go Away" in t, 5)
    time.sleep(0.3)
    s1.sendall(b"after go away\n")
    check(s1.recv(14) == b"after go away\n", "echo after Go Away")
    s2 = lb.dial(t, echo.addr)
    s2.sendall(b"new\n")
    check(s2.recv(4) == b"new\n", "echo on the new tunnel")
    check(env.log_text(relay).count(") up") == 2,
          "want a second tunnel:\n" + env.log_text(relay))
    s1.shutdown(socket.SHUT_WR)
    check(s1.recv(1) == b"", "want EOF on the old stream")
    s1.close()
    s2.close()


if __name__ == "__main__":
    iu.main(globals())
