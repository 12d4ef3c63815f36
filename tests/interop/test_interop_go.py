#!/usr/bin/env python3
"""go-controller <-> go-relay: proves the Go reference peers themselves
work (TLS 1.3 mTLS with the Fleet CA as only anchor, yamux, target line,
half-close) before they are used against beacon, and gives the Go<->Go
baseline. Run one case: python3 test_interop_go.py CASE."""

import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_util as iu  # noqa: E402
from interop_util import check  # noqa: E402

MiB = 1024 * 1024


def test_echo(env):
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    _, res, _ = env.go_controller("echo", relay.addr, "-target", echo.addr,
                                  "-bytes", str(16 * MiB))
    check(res["bytes"] == 16 * MiB and res["sha_ok"], "echo result %r" % res)


def test_echo_streams(env):
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    env.go_controller("echo", relay.addr, "-target", echo.addr,
                      "-streams", "32", "-bytes", str(512 * 1024))
    check(echo.connections == 32, "backend saw %d connections, want 32"
          % echo.connections)


def test_bundle(env):
    # Target line and payload in the same Data frame: the relay must
    # forward every byte after the newline.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    env.go_controller("bundle", relay.addr, "-target", echo.addr,
                      "-bytes", "100000")
    env.go_controller("bundle", relay.addr, "-target", echo.addr,
                      "-bytes", "1")


def test_split(env):
    # The target line spans many one-byte frames.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    env.go_controller("split", relay.addr, "-target", echo.addr,
                      "-bytes", "300000")


def test_upload_halfclose(env):
    sink = env.backend(iu.sink_server())
    relay = env.start_go_relay()
    env.go_controller("upload", relay.addr, "-target", sink.addr,
                      "-bytes", str(8 * MiB + 7), "-halfclose")


def test_upload_answer_after(env):
    n = 3 * MiB + 1
    back = env.backend(iu.answer_after_server(n))
    relay = env.start_go_relay()
    env.go_controller("upload", relay.addr, "-target", back.addr,
                      "-bytes", str(n), "-answer-after")


def test_download(env):
    n = 16 * MiB + 3
    src = env.backend(iu.source_server(n, seed=7))
    relay = env.start_go_relay()
    env.go_controller("download", relay.addr, "-target", src.addr,
                      "-bytes", str(n), "-seed", "7",
                      "-expect-sha", iu.pattern_sha(7, n))


def test_ipv6_target(env):
    try:
        echo = env.backend(iu.echo_server("::1"))
    except OSError as e:
        raise iu.Skip("no IPv6 loopback: %s" % e)
    relay = env.start_go_relay()
    env.go_controller("echo", relay.addr, "-target", echo.addr,
                      "-bytes", "100000")


def test_refused_targets(env):
    # Invalid lines and unreachable targets end the stream without data
    # and leave the tunnel up. go-relay can only FIN (no public RST in
    # this yamux version).
    held, refused = iu.refused_addr()
    try:
        relay = env.start_go_relay("-dial-timeout", "3")
        for tgt in (refused, "127.0.0.1:0", "127.0.0.1:65536", ":22",
                    "127.0.0.1", "::1:22", "h" * 250 + ":22",
                    "x" * 300 + ":22"):
            _, res, _ = env.go_controller("expect-reset", relay.addr,
                                          "-target", tgt, "-timeout", "20")
            check(res["outcome"] == "fin", "outcome %r" % res)
        log = env.log(relay)
        check("invalid target" in log and "dial " in log and
              "too long" in log, "relay log lacks the refusals:\n" + log)
    finally:
        held.close()


def test_reset_mid(env):
    src = env.backend(iu.source_server(256 * MiB, seed=3))
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    for how in ("close", "session"):
        _, res, _ = env.go_controller("reset-mid", relay.addr, "-target",
                                      src.addr, "-echo-target", echo.addr,
                                      "-how", how, "-after", str(2 * MiB))
        check(res["aborted_after"] >= 2 * MiB, "result %r" % res)


def test_idle(env):
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    env.go_controller("idle", relay.addr, "-seconds", "3",
                      "-target", echo.addr)


def test_go_away(env):
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay("-go-away-after", "1")
    env.go_controller("go-away", relay.addr, "-target", echo.addr,
                      "-seconds", "5")


def test_close_both_on_eof(env):
    # The original relay behaviour: first EOF closes both ways. A client
    # that waits for its whole echo before closing still works.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay("-close-both-on-eof")
    env.go_controller("echo", relay.addr, "-target", echo.addr,
                      "-bytes", str(4 * MiB), "-no-halfclose")


def test_max_window(env):
    # A larger MaxStreamWindowSize on either side only changes the window
    # updates; both ends must still agree.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay("-max-window", str(4 * MiB))
    env.go_controller("echo", relay.addr, "-target", echo.addr,
                      "-bytes", str(16 * MiB), "-max-window", str(1 * MiB))
    env.go_controller("echo", relay.addr, "-target", echo.addr,
                      "-bytes", str(16 * MiB))


def test_forward(env):
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    fwd = env.spawn([env.go_controller_bin, "forward", "-listen",
                     iu.LOOPBACK + ":0", "-target", echo.addr] +
                    env.controller_args(relay.addr), "go-forward")
    addr = env.wait_listening(fwd)
    host, port = addr.rsplit(":", 1)
    data = b"".join(iu.pattern_chunks(5, 3 * MiB))
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=30) as c:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            got = bytearray()
            while True:
                b = c.recv(256 * 1024)
                if not b:
                    break
                got += b
            check(bytes(got) == data, "forwarded echo differs (%d of %d "
                  "bytes)" % (len(got), len(data)))
    check(env.stop(fwd) == 0, "forward exit code %s" % fwd.returncode)


def test_tls_refusals(env):
    # The relay requires a client certificate from the Fleet CA usable for
    # clientAuth; the controller verifies the relay's SAN.
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    for cert in ("node", "rogue-controller"):
        rc, res, err = env.go_controller("echo", relay.addr, "-target",
                                         echo.addr, cert=cert,
                                         expect_ok=False, timeout=30)
        # The client sees the relay's alert, or a TCP reset when the
        # relay's close overtakes it; the relay log says why.
        check(rc != 0 and "refused" in res["error"],
              "%s certificate accepted: %r" % (cert, res))
    # Go's client sends no certificate at all when its issuer is not
    # among the relay's acceptable CAs (the rogue case).
    env.wait_log(relay, lambda t: t.count("handshake: tls: ") == 2)
    rc, res, err = env.go_controller("echo", relay.addr, "-target",
                                     echo.addr, "-server-name",
                                     "wrong.example", expect_ok=False,
                                     timeout=30)
    check(rc != 0 and "wrong.example" in res["error"],
          "wrong server name accepted: %r" % res)
    check(echo.connections == 0, "a refused tunnel reached the backend")
    # localhost is in the SAN too.
    port = relay.addr.rsplit(":", 1)[1]
    env.go_controller("echo", "localhost:" + port, "-target", echo.addr,
                      "-bytes", "1000")


def test_sigterm(env):
    echo = env.backend(iu.echo_server())
    relay = env.start_go_relay()
    env.go_controller("echo", relay.addr, "-target", echo.addr)
    t0 = time.time()
    rc = env.stop(relay)
    check(rc == 0, "go-relay exit code %s on SIGTERM" % rc)
    check(time.time() - t0 < 6, "go-relay took too long to stop")


if __name__ == "__main__":
    iu.main(globals())
