#!/usr/bin/env python3
"""What an idle tunnel and an idle stream cost `beacon egress`
(docs/OPERATIONS.md "Sizing a relay"): relay RSS and the memory ledger
(beacon_memory_held_bytes) with TUNNELS idle mTLS tunnels, then with
STREAMS idle streams across them, opened by the Go load generator
(bench/go: hashicorp/yamux over crypto/tls, as a Go controller) to a
loopback backend that greets each connection with one byte.

  bench/idle_footprint.py --build BUILD --bench-go PATH
                          [--tunnels 2000] [--streams 2000]
                          [--tunnels-only]
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


class Hello:
    """Accepts, sends one byte, holds the connection (no thread each)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                c.sendall(b"h")
                self.conns.append(c)
            except OSError:
                return

    def close(self):
        self.stop = True
        self.sock.close()
        for c in self.conns:
            c.close()


def held(port):
    t = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                               timeout=10).read().decode()
    m = re.search(r"^beacon_memory_held_bytes (\d+)", t, re.M)
    return int(m.group(1)) if m else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--bench-go", required=True)
    ap.add_argument("--tunnels", type=int, default=2000)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--tunnels-only", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("BEACON_BIN", os.path.join(
        os.path.abspath(a.build), "beacon"))
    import harness
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = harness.Env("idle_footprint")
    hello = Hello()
    try:
        pki = env.pki()
        rows = []
        loads = [(a.tunnels, 0)]
        if not a.tunnels_only:
            loads.append((a.tunnels, max(1, a.streams // a.tunnels)))
        for tunnels, per in loads:
            # A fresh relay each: memory freed by the last load would be
            # reused by this one.
            mport = env.free_port()
            relay = env.start_relay(["--metrics-addr", ":%d" % mport,
                                     "--log-level", "info"], workers=2)
            time.sleep(1.0)
            base, hbase = relay.rss_kib() * 1024, held(mport)
            gen = subprocess.Popen(
                [a.bench_go, "idle", "-tunnels", str(tunnels), "-streams",
                 str(per), "-target", hello.addr, "-relay", relay.addr,
                 "-cert", os.path.join(pki, "controller.crt"),
                 "-key", os.path.join(pki, "controller.key"),
                 "-ca", os.path.join(pki, "fleet-ca.crt")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            line = gen.stdout.readline().decode()
            if not line.startswith("ready"):
                raise SystemExit("load generator: %r" % line)
            time.sleep(2.0)
            rss, h = relay.rss_kib() * 1024, held(mport)
            rows.append((tunnels, per, rss - base, h - hbase))
            gen.stdin.close()
            gen.wait(60)
            relay.kill()
        m = re.search(r"budgets .*", relay.log_text())
        print(m.group(0) if m else "(no budgets line)")
        t0 = rows[0]
        print("| load | relay RSS | per tunnel | per stream | ledger |")
        print("|---|---|---|---|---|")
        print("| %d idle tunnels | +%.1f MiB | %.1f KiB | - | %.1f KiB "
              "per tunnel |" % (t0[0], t0[2] / 2**20, t0[2] / t0[0] / 1024,
                                t0[3] / t0[0] / 1024))
        if len(rows) < 2:
            return
        t1 = rows[1]
        n = t1[0] * t1[1]
        per_stream = (t1[2] - t0[2]) / n
        print("| %d tunnels x %d idle streams | +%.1f MiB | - | %.2f KiB | "
              "%.1f KiB per stream |" % (t1[0], t1[1], t1[2] / 2**20,
                                         per_stream / 1024,
                                         (t1[3] - t0[3]) / n / 1024))
    finally:
        hello.close()
        env.close()


if __name__ == "__main__":
    main()
