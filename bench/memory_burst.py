#!/usr/bin/env python3
"""Relay RSS before, during and after a memory burst (docs/OPERATIONS.md
"Sizing a relay"): TUNNELS controllers each open STREAMS streams to a
target whose connects hang (a listener whose backlog is full and never
accepted, on loopback) and push a whole 256 KiB window into each, which
the relay holds while it dials. Prints idle, peak and after-burst RSS,
the streams refused, and whether another controller's echo worked.

  bench/memory_burst.py --build BUILD [--memory-limit 256M]
                        [--tunnels 6] [--streams 1000] [--hold 8]
                        [--settle 30] [--no-limit-flag]

--no-limit-flag runs a relay without --memory-limit (older builds).
"""
import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--memory-limit", default="256M")
    ap.add_argument("--tunnels", type=int, default=6)
    ap.add_argument("--streams", type=int, default=1000)
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
    from backends import Echo
    from test_hostile import Hanging, start_flood, still_serving

    env = harness.Env("memory_burst")
    try:
        hang = env.use(Hanging())
        echo = env.use(Echo())
        extra = ["--dial-timeout", "120", "--log-level", "info"]
        if not a.no_limit_flag:
            extra += ["--memory-limit", a.memory_limit]
        relay = env.start_relay(extra, workers=2)
        time.sleep(1.0)
        idle = relay.rss_kib()
        floods = [start_flood(env, relay, hang.addr, a.streams,
                              "flood%d" % i) for i in range(a.tunnels)]
        peak, t_end = idle, time.monotonic() + a.hold
        while time.monotonic() < t_end:
            peak = max(peak, relay.rss_kib())
            time.sleep(0.1)
        ok = True
        try:
            still_serving(env, relay, echo, seed=1)
        except harness.Failure as e:
            ok = False
            print("other controller: %s" % str(e).splitlines()[0])
        peak = max(peak, relay.rss_kib())
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
        print("| %d x %d | %s | %.1f MiB | %.1f MiB | %.1f MiB | %s |" %
              (a.tunnels, a.streams,
               "none" if a.no_limit_flag else a.memory_limit,
               idle / 1024, peak / 1024, after / 1024,
               "echo ok" if ok else "FAILED"))
        print("refusal log lines (rate-limited, 1/s per tunnel): %d" %
              refused)
        print("RSS after the flood (s, MiB): " + ", ".join(
            "%.0f:%.1f" % (t, r / 1024) for t, r in samples[::4]))
    finally:
        env.close()


if __name__ == "__main__":
    main()
