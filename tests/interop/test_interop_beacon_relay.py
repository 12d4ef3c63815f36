#!/usr/bin/env python3
"""Go controller (crypto/tls + hashicorp/yamux) -> beacon relay (`beacon
egress`): docs/PROTOCOL.md "The beacon wire protocol" proven against the
reference implementation. The same PEM files serve both implementations
throughout. Run one case: python3 test_interop_beacon_relay.py CASE."""

import os
import re
import signal
import socket
import ssl
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_util as iu  # noqa: E402
from interop_util import check  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
# 1 GiB each way; sanitizer builds are ~10x slower.
HEAVY = 64 * MiB if iu.SANITIZED else GiB


def relay_stat(env, relay, event, timeout=10):
    """The last `event` line of the beacon relay log as a dict."""
    m = env.wait_log_re(relay, r"^.* %s (.*)$" % event, timeout)
    lines = [ln for ln in env.log_text(relay).splitlines()
             if (" %s " % event) in ln]
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', lines[-1] if lines
                           else m.group(1)))


# ---- data paths -------------------------------------------------------------

def test_echo(env):
    echo = env.backend(iu.echo_server())
    relay = env.start_beacon_relay()
    _, res, _ = env.go_controller("echo", relay.addr, "-target", echo.addr,
                                  "-bytes", str(16 * MiB))
    check(res["bytes"] == 16 * MiB and res["sha_ok"], "echo %r" % res)
    st = relay_stat(env, relay, "stream_done")
    check(st["outcome"] == "ok" and st["bytes_up"] == str(16 * MiB) and
          st["bytes_down"] == str(16 * MiB), "relay log %r" % st)


def test_echo_500_streams(env):
    # 500 concurrent streams: more than Go's 256 unacknowledged opens, so
    # this also proves the relay ACKs before the target line
    # (docs/PROTOCOL.md "Opening a stream").
    echo = env.go_backend("echo")
    relay = env.start_beacon_relay()
    _, res, _ = env.go_controller("echo", relay.addr, "-target", echo.addr,
                                  "-streams", "500", "-bytes",
                                  str(64 * KiB), "-timeout", "100",
                                  timeout=120)
    check(res["streams"] == 500 and res["sha_ok"], "result %r" % res)
    end = time.time() + 15
    while env.log_text(relay).count(" stream_done ") < 500:
        check(time.time() < end, "relay logged %d of 500 streams" %
              env.log_text(relay).count(" stream_done "))
        time.sleep(0.1)
    done = [ln for ln in env.log_text(relay).splitlines()
            if " stream_done " in ln]
    bad = [ln for ln in done if " outcome=ok" not in ln or
           " bytes_down=65536 " not in ln]
    check(not bad, "streams not ok:\n" + "\n".join(bad[:5]))


@iu.heavy
def test_upload_1gib(env):
    sink = env.go_backend("sink")
    relay = env.start_beacon_relay()
    _, res, _ = env.go_controller("upload", relay.addr, "-target", sink.addr,
                                  "-bytes", str(HEAVY), "-halfclose",
                                  "-timeout", "240", timeout=260)
    check(res["bytes"] == HEAVY and res["sha_ok"], "result %r" % res)


@iu.heavy
def test_download_1gib(env):
    src = env.go_backend("source", HEAVY, seed=9)
    relay = env.start_beacon_relay()
    _, res, _ = env.go_controller("download", relay.addr, "-target",
                                  src.addr, "-bytes", str(HEAVY), "-seed",
                                  "9", "-timeout", "240", timeout=260)
    check(res["bytes"] == HEAVY and res["sha_ok"], "result %r" % res)


def test_bundle(env):
    # Target line and payload in one Data frame (here also in the frame
    # that follows the SYN): nothing after the newline may be lost.
    echo = env.backend(iu.echo_server())
    relay = env.start_beacon_relay()
    for n in ("1", "100000", str(3 * MiB)):
        env.go_controller("bundle", relay.addr, "-target", echo.addr,
                          "-bytes", n)


def test_split(env):
    # The target line arrives one byte per Data frame, followed by 16
    # one-byte payload frames.
    echo = env.backend(iu.echo_server())
    relay = env.start_beacon_relay()
    env.go_controller("split", relay.addr, "-target", echo.addr,
                      "-bytes", "300000")
    env.go_controller("split", relay.addr, "-target", echo.addr,
                      "-bytes", "5", "-streams", "20")


def test_half_close(env):
    # The Go controller sends FIN after its payload; the sink answers
    # only after EOF: the answer must still come back through the relay.
    sink = env.backend(iu.sink_server())
    relay = env.start_beacon_relay()
    env.go_controller("upload", relay.addr, "-target", sink.addr,
                      "-bytes", str(8 * MiB + 7), "-halfclose")
    env.go_controller("upload", relay.addr, "-target", sink.addr,
                      "-bytes", "0", "-halfclose")
    # And the other way: the target answers without waiting for EOF.
    n = 3 * MiB + 1
    back = env.backend(iu.answer_after_server(n))
    env.go_controller("upload", relay.addr, "-target", back.addr,
                      "-bytes", str(n), "-answer-after")


def test_flow_control(env):
    # Far beyond the 256 KiB window both ways, with the default window
    # and with a Go controller whose larger MaxStreamWindowSize makes its
    # SYN and updates grant more than 256 KiB (the relay must use the
    # extra window and never send beyond it).
    echo = env.go_backend("echo")
    src = env.go_backend("source", 40 * MiB + 5, seed=4)
    relay = env.start_beacon_relay()
    for win in ("0", str(1 * MiB), str(16 * MiB)):
        env.go_controller("echo", relay.addr, "-target", echo.addr,
                          "-bytes", str(32 * MiB), "-max-window", win)
        env.go_controller("download", relay.addr, "-target", src.addr,
                          "-bytes", str(40 * MiB + 5), "-seed", "4",
                          "-max-window", win)
        env.go_controller("echo", relay.addr, "-target", echo.addr,
                          "-streams", "8", "-bytes", str(4 * MiB),
                          "-max-window", win)


# ---- keep-alive -------------------------------------------------------------

@iu.slow
def test_idle_60s(env):
    # Both sides ping every 20 s; an idle tunnel must stay up and usable.
    echo = env.backend(iu.echo_server())
    relay = env.start_beacon_relay()
    env.go_controller("idle", relay.addr, "-seconds", "60", "-target",
                      echo.addr, timeout=120)
    # The tunnel ended because the controller left, not by keep-alive.
    env.wait_log_re(relay, r" tunnel_down ", 10)
    st = relay_stat(env, relay, "tunnel_down")
    check(st.get("reason") in ("eof", "close_notify", "read_error"),
          "tunnel_down %r" % st)


@iu.slow
def test_sigstop_controller(env):
    # A frozen Go controller never answers pings: the relay must find out
    # in about keep-alive interval + timeout (20 s + 10 s) and close the
    # tunnel, with no TCP reset ever arriving.
    relay = env.start_beacon_relay()
    ctl = env.spawn([env.go_controller_bin, "idle", "-seconds", "200"] +
                    env.controller_args(relay.addr), "go-idle")
    env.wait_log_re(relay, r" tunnel_up ", 10)
    time.sleep(0.5)
    t0 = time.time()
    os.kill(ctl.pid, signal.SIGSTOP)
    env.wait_log_re(relay, r" tunnel_down ", 45)
    took = time.time() - t0
    st = relay_stat(env, relay, "tunnel_down")
    print("tunnel_down after %.1fs: %r" % (took, st))
    check(st.get("reason") == "keepalive_timeout", "tunnel_down %r" % st)
    check(took <= 32, "frozen controller found only after %.1fs" % took)
    check(took >= 9, "tunnel closed after %.1fs: not by keep-alive?" % took)
    os.kill(ctl.pid, signal.SIGKILL)


# ---- aborts and refusals ----------------------------------------------------

def _tracking_source(nbytes):
    """A source backend that records when each connection ended."""
    ends = []

    def h(c):
        try:
            for chunk in iu.pattern_chunks(3, nbytes):
                c.sendall(chunk)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
        except OSError:
            pass
        ends.append(time.time())
    b = iu.Backend(h)
    b.ends = ends
    return b


def test_abort_mid_transfer(env):
    # A Go controller abandons a download: stream Close (FIN, stop
    # reading) or dropping the whole session. The relay must keep the
    # tunnel (close case) and release the target connection once the
    # stream or the tunnel is gone (session case).
    src = env.backend(_tracking_source(512 * MiB))
    echo = env.backend(iu.echo_server())
    relay = env.start_beacon_relay()
    _, res, _ = env.go_controller("reset-mid", relay.addr, "-target",
                                  src.addr, "-echo-target", echo.addr,
                                  "-how", "close", "-after", str(2 * MiB))
    check(res["aborted_after"] >= 2 * MiB, "result %r" % res)
    # The controller exited: the relay ends the tunnel and the stream
    # towards the source.
    env.wait_log(relay, lambda t: t.count(" tunnel_down ") == 1, 10)
    iu.check(_wait(lambda: len(src.ends) == 1, 10),
             "target connection not released after the tunnel ended")
    t0 = time.time()
    _, res, _ = env.go_controller("reset-mid", relay.addr, "-target",
                                  src.addr, "-echo-target", echo.addr,
                                  "-how", "session", "-after", str(2 * MiB))
    check(_wait(lambda: len(src.ends) == 2, 10),
          "target connection not released after the session was dropped")
    check(src.ends[1] - t0 < 10, "release took %.1fs" % (src.ends[1] - t0))
    check("protocol_error" not in env.log_text(relay), "relay saw a protocol "
          "error:\n" + env.log(relay))


def _wait(fn, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.05)
    return fn()


def test_refused_targets_reset(env):
    # The beacon relay resets (RST) what it cannot or may not dial; the
    # Go controller sees a reset, never data, never a hang, and the
    # tunnel stays up (expect-reset pings afterwards).
    held, refused = iu.refused_addr()
    try:
        relay = env.start_beacon_relay("--dial-timeout", "3")
        for tgt in (refused,                    # connection refused
                    "169.254.169.254:80",       # policy: metadata
                    "0.0.0.0:22",               # policy: unspecified
                    "127.0.0.1:0", "127.0.0.1:65536", ":22", "127.0.0.1",
                    "::1:22", "x" * 300 + ":22",  # invalid lines
                    "no-such-host.invalid:22"):  # resolution fails
            t0 = time.time()
            _, res, _ = env.go_controller("expect-reset", relay.addr,
                                          "-target", tgt, "-timeout", "20",
                                          "-require-rst")
            check(res["outcome"] == "reset", "%s: %r" % (tgt, res))
            check(time.time() - t0 < 15, "%s took %.1fs" % (
                tgt, time.time() - t0))
        check("protocol_error" not in env.log_text(relay), env.log(relay))
    finally:
        held.close()


# ---- TLS --------------------------------------------------------------------

def _go_refused(env, relay, cert, server_name=None):
    args = ["-target", "127.0.0.1:9", "-timeout", "20"]
    if server_name:
        args += ["-server-name", server_name]
    rc, res, err = env.go_controller("echo", relay.addr, *args, cert=cert,
                                     expect_ok=False, timeout=30)
    check(rc != 0 and res and not res["ok"], "%s accepted by %s: %r" % (
        cert, relay.name, res))
    return res["error"]


def _no_cert_refused(env, addr):
    """A TLS 1.3 client with no certificate at all: the relay must end
    the connection (TLS 1.3 clients learn it on their first read)."""
    host, port = addr.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(env.p("fleet-ca.crt"))
    # The Fleet CA is an intermediate: trust it alone (docs/PROTOCOL.md
    # "Transport: TLS 1.3 with mutual authentication").
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as c:
                # The handshake completed on our side (we verified the
                # relay); a yamux Ping with SYN now: a relay that
                # accepted us would answer.
                c.sendall(struct.pack(">BBHII", 0, 2, 1, 0, 77))
                b = c.recv(12)
                check(not b, "relay answered %r without a client cert" % b)
        except ssl.SSLCertVerificationError as e:
            raise iu.Fail("could not verify the relay: %r" % e)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            return repr(e)
    return "EOF"


def test_tls_same_files_and_refusals(env):
    # crypto/tls (go-relay) and OpenSSL (beacon) read the same PEM files
    # and must agree on every refusal. A controller certificate that is
    # serverAuth-only, from another CA, expired or not yet valid, or no
    # certificate at all, is refused by both.
    for name in ("expired-controller", "future-controller"):
        iu.issue_extra(env.pki, name)
    echo = env.backend(iu.echo_server())
    go = env.start_go_relay()
    bc = env.start_beacon_relay()
    for relay in (go, bc):
        env.go_controller("echo", relay.addr, "-target", echo.addr,
                          "-bytes", "100000")
        for cert in ("node", "rogue-controller", "expired-controller",
                     "future-controller"):
            err = _go_refused(env, relay, cert)
            print("%s refuses %s: %s" % (relay.name, cert, err))
        print("%s refuses no cert: %s" % (relay.name,
                                          _no_cert_refused(env, relay.addr)))
    check(echo.connections == 2, "a refused tunnel reached the backend "
          "(%d connections)" % echo.connections)
    env.wait_log(bc, lambda t: t.count(" handshake_failed ") >= 5, 10)
    # The Go controller checks the beacon relay's name too.
    err = _go_refused(env, bc, "controller", server_name="wrong.example")
    check("wrong.example" in err, err)
    port = bc.addr.rsplit(":", 1)[1]
    env.go_controller("echo", "localhost:" + port, "-target", echo.addr,
                      "-bytes", "1000")


def test_pki_init_files(env):
    # `beacon pki init` output used unchanged by a Go controller against
    # the beacon relay and by the Go relay.
    d = os.path.join(env.dir, "dev-pki")
    r = env.beacon("pki", "init", d)
    check(r.returncode == 0, "pki init: %r" % r.stderr)
    echo = env.backend(iu.echo_server())
    env._pki = d
    bc = env.start_beacon_relay(config_dir=d)
    go = env.start_go_relay()
    for relay in (bc, go):
        env.go_controller("echo", relay.addr, "-target", echo.addr,
                          "-bytes", str(2 * MiB), "-streams", "3")


if __name__ == "__main__":
    iu.main(globals())
