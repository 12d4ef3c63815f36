#!/usr/bin/env python3
"""The descriptor budget under `prlimit --nofile=N` (docs/OPERATIONS.md
"Sizing a relay"): HOSTILE tunnels each hold as many streams as they can
(4 000 asked) to a loopback target that accepts and never answers, then
another controller runs PROBES echo round trips, each timed. Prints the
streams each hostile tunnel got, the relay_limit refusals, the relay's
descriptors and the probes' worst time.

  bench/fd_flood.py --build BUILD [--nofile 4096] [--hostile 3]
                    [--probes 25]
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--nofile", type=int, default=4096)
    ap.add_argument("--hostile", type=int, default=3)
    ap.add_argument("--probes", type=int, default=25)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ.setdefault("BEACON_BIN", os.path.join(build, "beacon"))
    os.environ.setdefault("BEACON_TPEER",
                          os.path.join(build, "tests/integration/tpeer"))
    import harness
    from backends import Echo, Silent
    env = harness.Env("fd_flood")
    try:
        silent = env.use(Silent())
        echo = env.use(Echo())
        port = env.free_port()
        relay = env.start(["prlimit", "--nofile=%d:%d" % (a.nofile, a.nofile),
                           env.need_bin(), "egress", "--config-dir",
                           env.pki(), "--tunnel-addr", "127.0.0.1:%d" % port,
                           "--allow", "127.0.0.0/8", "--workers", "2",
                           "--log-level", "info"], name="relay")
        relay.port, relay.addr = port, "127.0.0.1:%d" % port
        env.wait_listening(relay, port)
        # All started before the target holds thousands of sockets: the
        # harness reads their pipes with select().
        procs = [env.start_tpeer("--beacon-alpn", "hold", "--target",
                                 silent.addr, "--streams", "4000",
                                 relay=relay, name="hostile%d" % i)
                 for i in range(a.hostile)]
        holds = []
        for i, p in enumerate(procs):
            line = p.readline(timeout=120)
            if not line or not line.startswith("ready"):
                raise SystemExit("hostile %d: %r" % (i, line))
            holds.append((p, line.split()))
        fds = relay.fd_count()
        worst, ok = 0.0, 0
        for k in range(a.probes):
            t0 = time.monotonic()
            r = env.tpeer("echo", "--target", echo.addr, "--streams", "1",
                          "--bytes", "1000", "--seed", str(k), relay=relay,
                          expect_rc=None)
            worst = max(worst, time.monotonic() - t0)
            ok += bool(r.get("ok"))
        limited = 0
        for p, _ in holds:
            p.stdin.close()
            limited += json.loads(p.readline(timeout=60))["relay_limit"]
        print("| nofile | hostile tunnels | streams each (acked) | "
              "relay_limit | relay fds | probes ok | worst probe |")
        print("|---|---|---|---|---|---|---|")
        print("| %d | %d | %s | %d | %d | %d/%d | %.2f s |" %
              (a.nofile, a.hostile, ", ".join(h[1][1] for h in holds),
               limited, fds, ok, a.probes, worst))
        log = relay.log_text()
        print("EMFILE in the relay log: %s" %
              ("yes" if "Too many open files" in log else "no"))
    finally:
        env.close()


if __name__ == "__main__":
    main()
