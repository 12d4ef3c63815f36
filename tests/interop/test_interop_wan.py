#!/usr/bin/env python3
"""Interop across an emulated WAN path: the tunnel between a Go peer
(crypto/tls + hashicorp/yamux) and beacon goes through wanproxy (200
Mbit/s, 20 ms round trip, a bounded bottleneck buffer), so frames arrive
paced and delayed, window updates late. Integrity only, never speed. Run
one case: python3 test_interop_wan.py CASE."""

import hashlib
import os
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_util as iu  # noqa: E402
from interop_util import check  # noqa: E402

MiB = 1024 * 1024
# Sanitizer builds are ~10x slower; the path, not the size, is the point.
SIZE = 2 * MiB if iu.SANITIZED else 8 * MiB
RATE_MBIT, RTT_MS = "200", "20"


def start_wanproxy(env, target_addr):
    """wanproxy in front of target_addr; returns it with .addr."""
    bd = os.environ.get("BEACON_BUILD_DIR", "")
    binary = os.path.join(bd, "wanproxy")
    if not os.access(binary, os.X_OK):
        raise iu.Fail("wanproxy not built in BEACON_BUILD_DIR=%r" % bd)
    pr = env.spawn([binary, "--listen", iu.LOOPBACK + ":0", "--connect",
                    target_addr, "--rate-mbit", RATE_MBIT, "--rtt-ms",
                    RTT_MS], "wanproxy")
    pr.addr = env.wait_listening(pr)
    return pr


def test_go_controller_to_beacon_relay(env):
    env.need_go()
    relay = env.start_beacon_relay()
    path = start_wanproxy(env, relay.addr)
    echo = env.go_backend("echo")
    _, res, _ = env.go_controller("echo", path.addr, "-target", echo.addr,
                                  "-streams", "4", "-bytes", str(SIZE // 4))
    check(res["sha_ok"], "echo %r" % res)
    sink = env.go_backend("sink")
    _, res, _ = env.go_controller("upload", path.addr, "-target", sink.addr,
                                  "-bytes", str(SIZE), "-halfclose")
    check(res["bytes"] == SIZE and res["sha_ok"], "upload %r" % res)
    src = env.go_backend("source", SIZE, seed=11)
    _, res, _ = env.go_controller("download", path.addr, "-target",
                                  src.addr, "-bytes", str(SIZE), "-seed",
                                  "11")
    check(res["bytes"] == SIZE and res["sha_ok"], "download %r" % res)


def beacon_connect(env, relay_addr, target, data_chunks):
    """beacon connect with data_chunks on stdin (then EOF); returns
    (rc, byte count and sha256 of stdout)."""
    env.need_beacon()
    log = open(os.path.join(env.dir, "connect.log"), "ab")
    pr = subprocess.Popen([env.beacon_bin, "connect", "--relay", relay_addr,
                           "--config-dir", env.pki, target],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=log)
    log.close()
    pr.log_path = log.name
    pr.name = "connect"
    env.procs.append(pr)

    def feed():
        try:
            for c in data_chunks:
                pr.stdin.write(c)
            pr.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    watchdog = threading.Timer(120, pr.kill)
    watchdog.start()
    try:
        h = hashlib.sha256()
        n = 0
        while True:
            b = pr.stdout.read1(256 * 1024)
            if not b:
                break
            h.update(b)
            n += len(b)
        rc = pr.wait(30)
    finally:
        watchdog.cancel()
    return rc, (n, h.hexdigest())


def test_beacon_connect_to_go_relay(env):
    env.need_go()
    relay = env.start_go_relay()
    path = start_wanproxy(env, relay.addr)
    echo = env.backend(iu.echo_server())
    rc, got = beacon_connect(env, path.addr, echo.addr,
                             iu.pattern_chunks(21, SIZE))
    check(rc == 0 and got == (SIZE, iu.pattern_sha(21, SIZE)),
          "echo: rc %s, %r" % (rc, got))
    src = env.go_backend("source", SIZE, seed=12)
    rc, got = beacon_connect(env, path.addr, src.addr, [])
    check(rc == 0 and got == (SIZE, iu.pattern_sha(12, SIZE)),
          "download: rc %s, %r" % (rc, got))


if __name__ == "__main__":
    iu.main(globals())
