#!/usr/bin/env python3
"""Relay RSS before, during and after a memory burst (docs/OPERATIONS.md
"Sizing a relay"): TUNNELS controllers each open STREAMS streams to a
target whose connects hang (a listener whose backlog is full and never
accepted, on loopback) and push a whole 256 KiB window into each, which
the relay holds while it dials; one more tunnel does the same with
NEVER_READ streams to a target that accepts and never reads. Meanwhile
another controller echoes LEGIT bytes on one stream, every byte checked.
Prints idle, peak and after-burst RSS and the refusals.

  bench/memory_burst.py --build BUILD [--memory-limit 256M]
                        [--tunnels 6] [--streams 1000] [--never-read 0]
                        [--legit 100000] [--hold 8] [--settle 30]
                        [--no-limit-flag]

--no-limit-flag runs a relay without --memory-limit (older builds).
"""
import argparse
import os
import re
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--memory-limit", default="256M")
    ap.add_argument("--tunnels", type=int, default=6)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--never-read", type=int, default=0)
    ap.add_argument("--legit", type=int, default=100000,
                    help="bytes the other controller echoes")
    ap.add_argument("--hold", type=float, default=8.0,
                    help="seconds the flood is held")
    ap.add_argument("--settle", type=float, default=30.0,
                    help="seconds after the flood before 'after'")
    ap.add_argument("--no-limit-flag", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ.setdefault("BEACON_BIN", os.path.join(build, "beacon"))
    os.environ.setdefault("BEACON_TPEER",
                          os.path.join(build, "tests/integration/tpeer"))
    import harness
    from backends import Echo, Silent
    from test_hostile import Hanging, start_flood

    env = harness.Env("memory_burst")
    try:
        hang = env.use(Hanging())
        echo = env.use(Echo())
        silent = env.use(Silent())
        extra = ["--dial-timeout", "120", "--log-level", "info"]
        if not a.no_limit_flag:
            extra += ["--memory-limit", a.memory_limit]
        relay = env.start_relay(extra, workers=2)
        time.sleep(1.0)
        idle = relay.rss_kib()
        floods = [start_flood(env, relay, hang.addr, a.streams,
                              "flood%d" % i) for i in range(a.tunnels)]
        if a.never_read:
            floods.append(start_flood(env, relay, silent.addr, a.never_read,
                                      "never-read"))
        box = {"peak": idle, "stop": False}

        def sample():
            while not box["stop"]:
                box["peak"] = max(box["peak"], relay.rss_kib())
                time.sleep(0.05)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(a.hold / 2)
        t0 = time.monotonic()
        r = env.tpeer("echo", "--target", echo.addr, "--streams", "1",
                      "--bytes", str(a.legit), relay=relay, timeout=300,
                      expect_rc=None)
        ok = bool(r.get("ok"))
        legit_s = time.monotonic() - t0
        if not ok:
            print("other controller: %s" % r.get("error"))
        time.sleep(max(0.0, a.hold / 2 - legit_s))
        box["stop"] = True
        sampler.join(5)
        peak = box["peak"]
        for p in floods:
            p.kill()
        t0 = time.monotonic()
        samples = []
        while time.monotonic() - t0 < a.settle:
            samples.append((time.monotonic() - t0, relay.rss_kib()))
            time.sleep(0.5)
        after = relay.rss_kib()
        refused = len(re.findall(r"stream_refused", relay.log_text()))
        m = re.search(r"budgets .*", relay.log_text())
        print(m.group(0) if m else "(no budgets line)")
        print("| tunnels x streams | limit | idle RSS | peak RSS | RSS %ds "
              "after | other controller |" % a.settle)
        print("|---|---|---|---|---|---|")
        print("| %d x %d%s | %s | %.1f MiB | %.1f MiB | %.1f MiB | %s |" %
              (a.tunnels, a.streams, " + %d never read" % a.never_read
               if a.never_read else "",
               "none" if a.no_limit_flag else a.memory_limit,
               idle / 1024, peak / 1024, after / 1024,
               "%d bytes echoed and checked in %.1f s" % (a.legit, legit_s)
            if ok else "FAILED"))
        print("refusal log lines (rate-limited, 1/s per tunnel): %d" %
              refused)
        print("RSS after the flood (s, MiB): " + ", ".join(
            "%.0f:%.1f" % (t, r / 1024) for t, r in samples[::4]))
    finally:
        env.close()


if __name__ == "__main__":
    main()
