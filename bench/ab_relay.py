#!/usr/bin/env python3
"""Relay-only interleaved A/B of several beacon builds (and the Go relay).

  bench/ab_relay.py --build BUILD --relay NAME=PATH/TO/beacon ...
                    [--mode download,upload] [--rounds N] [--bytes N]
                    [--go] [--workers N] [--strace]

Each round runs bench-go (the Go controller stack), one stream of bulk,
through every relay in turn, the order rotating each round, and prints
MB/s and relay CPU s/GiB per run, then medians and ratios to the first
relay. For bisecting a loopback regression quickly: the full `make bench
BASELINE=REV` also runs round trips and `beacon connect`.

Standard library only. Every process started here is stopped by PID.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

import run as bench


SYSCALLS = ("read", "recvfrom", "write", "writev", "epoll_ctl", "epoll_wait",
            "setsockopt", "getsockopt")


def syscall_counts(path):
    """{name: calls} from an `strace -c` summary."""
    calls = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[-1] in SYSCALLS and f[3].isdigit():
            calls[f[-1]] = int(f[3])
    return calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--relay", action="append", required=True,
                    metavar="NAME=BEACON")
    ap.add_argument("--go", action="store_true", help="the Go relay too")
    ap.add_argument("--mode", default="download")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bytes", type=int, default=bench.GIB // 2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--strace", action="store_true",
                    help="syscall counts (strace -c -f) of each relay "
                    "over its run; slows the relay, so MB/s is not kept")
    ns = ap.parse_args()
    relays = [tuple(r.split("=", 1)) for r in ns.relay]
    args = argparse.Namespace(
        build=ns.build, out=None, quick=False, rounds=ns.rounds,
        memory_only=False, wan_only=False, wan_paths=None,
        forward_only=False, no_wan=True, loss_only=False, no_loss=True,
        loss_paths=None, loss_cap=None, loss_rr_only=False)
    b = bench.Bench(args)
    b.start_sshd = lambda: None
    res = {}
    sc = {}
    tracers = []
    try:
        b.setup()
        b.procs.stop(b.relays.pop("beacon"))
        if not ns.go:
            b.procs.stop(b.relays.pop("go"))
        order = []
        for name, path in relays:
            # As `make bench BASELINE=REV` starts them (bench/baseline.py).
            addr = "%s:%d" % (bench.LOOPBACK, bench.free_port())
            p = b.procs.spawn(
                [path, "egress", "--config-dir", b.pki, "--tunnel-addr",
                 addr, "--allow", "127.0.0.0/8", "--log-level", "warn",
                 "--max-streams", "20000", "--max-tunnels", "4096",
                 "--workers", str(ns.workers)], "relay-" + name)
            bench.wait_port(addr, p)
            p.addr = addr
            b.relays[name] = p
            order.append(name)
        if ns.go:
            order.append("go")
        for rnd in range(ns.rounds):
            k = rnd % len(order)
            for who in order[k:] + order[:k]:
                relay = b.relays[who]
                for mode in ns.mode.split(","):
                    be = "sink" if mode == "upload" else "source"
                    st = None
                    if ns.strace:
                        out = os.path.join(b.logdir, "strace-%s-%s-%d" % (
                            who, mode, rnd))
                        st = subprocess.Popen(
                            ["strace", "-c", "-f", "-o", out, "-p",
                             str(relay.pid)], stderr=subprocess.DEVNULL)
                        tracers.append(st)
                        time.sleep(0.5)   # attached before the transfer
                    c0 = bench.cpu_seconds(relay.pid)
                    r = b.gen("go", [mode, "-streams", "1", "-bytes",
                                     str(ns.bytes)], b.backends[be],
                              relay.addr)
                    gib = r["bytes"] / bench.GIB
                    cpu = (bench.cpu_seconds(relay.pid) - c0) / gib
                    if st:
                        st.send_signal(signal.SIGINT)
                        st.wait(timeout=30)
                        calls = syscall_counts(out)
                        sc.setdefault((mode, who), []).append(calls)
                        bench.log("round %d %-8s %-10s syscalls %s" % (
                            rnd + 1, mode, who, " ".join(
                                "%s=%d" % (k, calls.get(k, 0))
                                for k in SYSCALLS)))
                    res.setdefault((mode, who), []).append((r["mbps"], cpu))
                    bench.log("round %d %-8s %-10s %7.1f MB/s %5.2f s/GiB" %
                              (rnd + 1, mode, who, r["mbps"], cpu))
    finally:
        for st in tracers:
            if st.poll() is None:
                st.kill()
                st.wait()
        b.procs.stop_all()
    print("load: %s" % open("/proc/loadavg").read().split()[:3])
    print("| mode | relay | MB/s median | CPU s/GiB median | MB/s ratio | "
          "CPU ratio | MB/s each round | CPU each round |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in ns.mode.split(","):
        first = None
        for who in order:
            v = res.get((mode, who), [])
            if not v:
                continue
            mb = statistics.median(x[0] for x in v)
            cpu = statistics.median(x[1] for x in v)
            if first is None:
                first = (mb, cpu)
            print("| %s | %s | %.0f | %.2f | %.2fx | %.2fx | %s | %s |" % (
                mode, who, mb, cpu, mb / first[0], cpu / first[1],
                " ".join("%.0f" % x[0] for x in v),
                " ".join("%.2f" % x[1] for x in v)))
    if sc:
        print()
        print("| mode | relay | %s |" % " | ".join(SYSCALLS))
        print("|---|---|%s" % ("---|" * len(SYSCALLS)))
        for (mode, who), runs in sorted(sc.items()):
            print("| %s | %s | %s |" % (mode, who, " | ".join(
                " ".join(str(c.get(k, 0)) for c in runs) for k in SYSCALLS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
