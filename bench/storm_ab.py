#!/usr/bin/env python3
"""The reconnect storm of `make hostile` (row scale), relays side by side.

Runs, round by round, each relay given with --relay NAME=PATH (and the Go
relay, for the handshake rate) through the two storm phases of
bench/hostile.py's scale row, on fresh relays:

  rate   1 000 controllers, 16 dialling at once: tunnels up per second of
         the relay's CPU (utime + stime)
  storm  5 000 controllers dialling at once from 5 000 loopback
         addresses, each refusal retried after 0.1 s doubling to 2 s for
         up to 30 s: tunnels up within 10 s, when the last came up, the
         attempts, the relay's CPU, and its refusals and handshake
         failures by reason (its /metrics)

The order of the relays rotates each round, so that a machine shared
with other work loads each variant alike; every run prints one line with
the load average, and the end prints each variant's medians and each
round's ratios to the first relay named.

  bench/storm_ab.py --build BUILD --relay new=build/beacon \\
      --relay base=OTHER/beacon [--rounds 3] [--no-go] [--rate-only]
      [--extra-flags ...]
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hostile  # noqa: E402

METRICS = ("beacon_handshake_refusals_total",
           "beacon_handshake_failures_total")


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def labelled(port):
    """{metric{labels}: value} for the METRICS families."""
    out = {}
    for line in hostile.metrics_text(port).splitlines():
        if line.startswith(METRICS):
            name, _, value = line.rpartition(" ")
            short = name.replace("beacon_handshake_", "").replace(
                "_total", "").replace('reason="', "").replace('"', "")
            if float(value):
                out[short] = int(float(value))
    return out


def failure_reasons(text):
    """The most frequent handshake_failed reasons in a relay's log."""
    import collections
    import re
    c = collections.Counter(re.findall(
        r"handshake_failed .*?reason=(\"[^\"]*\"|\S+)", text))
    return ", ".join("%s x%d" % kv for kv in c.most_common(3))


def run_rate(h, env, relay):
    c0 = relay.cpu_seconds()
    g = h.gen(env, "hold", relay, ["-tunnels", 1000, "-par", 16,
                                   "-deadline", 30], "rate")
    r = h.result(g, 90)
    rate = r["up"] / max(1e-6, relay.cpu_seconds() - c0)
    g.stdin.close()
    g.stop()
    return rate


def run_storm(h, env, relay):
    c0 = relay.cpu_seconds()
    g = h.gen(env, "hold", relay, ["-tunnels", 5000, "-par", 5000,
                                   "-deadline", 30, "-mark", 10,
                                   "-sources", 5000], "storm")
    r = h.result(g, 90)
    r["cpu"] = relay.cpu_seconds() - c0
    # the generator shares the machine: what it spent bounds the relay's
    r["gen_cpu"] = g.cpu_seconds()
    g.stdin.close()
    g.stop()
    return r


def one(h, name, path, flags, rate_only=False):
    env = h.env("storm-" + name)
    try:
        load0 = loadavg()
        if name == "go":
            relay = h.start_go_relay(env)
            res = {"rate": run_rate(h, env, relay), "load": load0}
            if rate_only:
                return res
            relay.stop()
            relay = h.start_go_relay(env)
            res.update(run_storm(h, env, relay))
            res["why"] = {}
            res["load"] = load0
            return res
        h.beacon = path
        mport = env.free_port()
        relay = h.start_relay(env, ["--metrics-addr", "127.0.0.1:%d" % mport]
                              + list(flags), name="relay-" + name)
        res = {"rate": run_rate(h, env, relay), "load": load0}
        relay.stop()
        if rate_only:
            return res
        relay = h.start_relay(env, ["--metrics-addr", "127.0.0.1:%d" % mport]
                              + list(flags), name="relay-" + name)
        res.update(run_storm(h, env, relay))
        res["why"] = labelled(mport)
        res["log"] = failure_reasons(relay.log_text())
        res["load"] = load0
        return res
    finally:
        env.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--relay", action="append", required=True,
                    help="NAME=PATH of a beacon binary; repeatable")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-go", action="store_true")
    ap.add_argument("--rate-only", action="store_true",
                    help="only the handshake rate, no storm")
    ap.add_argument("--extra-flags", default="",
                    help="egress flags for every beacon relay")
    ns = ap.parse_args()
    relays = [tuple(x.split("=", 1)) for x in ns.relay]
    flags = ns.extra_flags.split()
    ns.rows, ns.out, ns.inner, ns.pki, ns.gobin = "", None, None, None, None
    built = os.path.join(os.path.abspath(ns.build), "hostile-go")
    if os.access(os.path.join(built, "bench-go"), os.X_OK):
        ns.gobin = built  # built by an earlier run
    h = hostile.Hostile(ns)
    who = relays + ([] if ns.no_go else [("go", None)])
    runs = {n: [] for n, _ in who}
    try:
        for rnd in range(ns.rounds):
            order = who[rnd % len(who):] + who[:rnd % len(who)]
            for name, path in order:
                r = one(h, name, path, flags, ns.rate_only)
                runs[name].append(r)
                if ns.rate_only:
                    print("round %d %s: %.0f handshakes/CPU-s (load %.1f)" %
                          (rnd + 1, name, r["rate"], r["load"]), flush=True)
                    continue
                print("round %d %s: %.0f handshakes/CPU-s; storm %d/5000 "
                      "within 10 s, %d by %.1f s, %d attempts, relay CPU "
                      "%.1f s, generator CPU %.1f s; %s (load %.1f)" % (
                          rnd + 1, name, r["rate"], r["by_mark"], r["up"],
                          r["seconds"], r["attempts"], r["cpu"], r["gen_cpu"],
                          " ".join("%s=%d" % kv for kv in
                                   sorted(r["why"].items())) or "-",
                          r["load"]), flush=True)
                if r.get("log"):
                    print("    failures logged: %s" % r["log"], flush=True)
    finally:
        h.top.close()
    first = relays[0][0]
    print("\nmedians over %d rounds:" % ns.rounds)
    for name, _ in who:
        rs = runs[name]
        if not rs:
            continue
        line = "  %s: %.0f handshakes/CPU-s" % (
            name, statistics.median(r["rate"] for r in rs))
        if not ns.rate_only:
            line += "; storm %d within 10 s, last up %.1f s, %d attempts, " \
                "relay CPU %.1f s" % (
                    statistics.median(r["by_mark"] for r in rs),
                    statistics.median(r["seconds"] for r in rs),
                    statistics.median(r["attempts"] for r in rs),
                    statistics.median(r["cpu"] for r in rs))
        print(line)
    for name, _ in who:
        if name == first or not runs[name]:
            continue
        ratios = ["%.2f" % (b["rate"] / a["rate"])
                  for a, b in zip(runs[first], runs[name])]
        print("  rate %s/%s per round: %s" % (name, first, " ".join(ratios)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
