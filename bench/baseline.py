"""The baseline mode of bench/run.py: `make bench BASELINE=REV`.

Builds revision REV beside the working tree (`git archive REV` into a
directory of its own, a CMake build of `beacon` there, kept between runs
under the bench build's baseline/ folder) and runs this tree's relay,
REV's relay and the Go reference relay against the same load generator,
interleaved round by round (the order rotates), each workload once per
relay per round. Every row is printed as it completes; at the end one
table gives the medians, each round's values and the ratios.

Rows:
  relay: bench-go (Go controller stack) through each relay, one stream
    of bulk up and down: MB/s and relay CPU s/GiB (/proc/PID/stat);
    64-byte round trips, p50;
  end to end: `beacon connect` through its own build's relay, one
    stream up and down (the Go pair is bench-go + Go relay);
  WAN (--wan-paths, default 1 Gbit/s 50 ms): the tunnel across
    wanproxy, one stream of 128 MiB up and down, `beacon connect` of
    each build against plain TCP over the same path in the same round:
    each round's ratio is kept, as the targets hold per run.

Standard library only. Every process started here is stopped by PID.
"""
import os
import shutil
import statistics
import subprocess
import time

import run as bench

WHO = ("this", "base", "go")


def build_revision(rev, root, into):
    """Builds `beacon` of REV under into/<commit>; returns its path.
    A finished build is reused: a revision's tree does not change."""
    r = subprocess.run(["git", "-C", root, "rev-parse", "--verify",
                        rev + "^{commit}"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode:
        raise bench.BenchError("--baseline %s: %s" % (
            rev, r.stderr.decode().strip()))
    commit = r.stdout.decode().strip()
    top = os.path.join(into, commit[:12])
    binary = os.path.join(top, "build", "beacon")
    if os.access(binary, os.X_OK):
        return binary, commit
    src = os.path.join(top, "src")
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(src)
    bench.log("baseline: git archive %s into %s" % (commit[:12], src))
    git = subprocess.Popen(["git", "-C", root, "archive", commit],
                           stdout=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", src], stdin=git.stdout)
    git.stdout.close()
    if git.wait() or tar.returncode:
        raise bench.BenchError("git archive %s failed" % commit)
    bench.log("baseline: building %s (cmake, RelWithDebInfo)" % commit[:12])
    for argv in (["cmake", "-S", src, "-B", os.path.join(top, "build"),
                  "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                  "-DBEACON_TESTS=OFF"],
                 ["cmake", "--build", os.path.join(top, "build"),
                  "--target", "beacon", "-j2"]):
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode:
            raise bench.BenchError("baseline build failed: %s\n%s" % (
                " ".join(argv), r.stdout.decode()[-3000:]))
    return binary, commit


class BaselineBench(bench.Bench):
    """This tree, REV and the Go relay, interleaved."""

    def __init__(self, ns):
        super().__init__(ns)
        into = os.path.join(self.build, "baseline")
        self.base_beacon, self.base_commit = build_revision(
            ns.baseline, bench.ROOT, into)
        self.binaries = {"this": self.beacon, "base": self.base_beacon}
        self.rows = []   # metric names in the order first seen

    def start_sshd(self):
        return None   # no ssh -W rows in this mode

    def setup(self):
        super().setup()
        self.procs.stop(self.relays.pop("beacon"))
        for who in ("this", "base"):
            self.relays[who] = self.start_build_relay(who)

    def start_build_relay(self, who, tag=""):
        addr = "%s:%d" % (bench.LOOPBACK, bench.free_port())
        argv = [self.binaries[who], "egress", "--config-dir", self.pki,
                "--tunnel-addr", addr, "--allow", "127.0.0.0/8",
                "--log-level", "warn", "--max-streams", "20000",
                "--max-tunnels", "4096", "--workers", "1"]
        p = self.procs.spawn(argv, "relay-%s%s" % (who, tag))
        bench.wait_port(addr, p)
        p.addr = addr
        return p

    def connect_cmd_of(self, who, relay_addr):
        return "%s connect --relay %s --config-dir %s {target}" % (
            self.binaries[who], relay_addr, self.pki)

    def put(self, rnd, metric, who, value, unit=""):
        if metric not in self.rows:
            self.rows.append(metric)
        self.record("baseline", metric, who, value)
        bench.log("round %d | %-40s | %-4s | %.3f %s" % (
            rnd + 1, metric, who, value, unit))

    # ---- loopback ------------------------------------------------------
    def loopback_round(self, rnd):
        order = WHO[rnd % 3:] + WHO[:rnd % 3]
        for who in order:
            relay = self.relays[who]
            for mode in ("upload", "download"):
                be = "sink" if mode == "upload" else "source"
                c0 = bench.cpu_seconds(relay.pid)
                r = self.gen("go", [mode, "-streams", "1", "-bytes",
                                    str(self.bulk)], self.backends[be],
                             relay.addr)
                gib = r["bytes"] / bench.GIB
                self.put(rnd, "relay: %s 1 stream MB/s" % mode, who,
                         r["mbps"], "MB/s")
                self.put(rnd, "relay: %s relay CPU s/GiB" % mode, who,
                         (bench.cpu_seconds(relay.pid) - c0) / gib, "s/GiB")
            r = self.gen("go", ["rr", "-count", str(self.rr_count)],
                         self.backends["echo"], relay.addr)
            self.put(rnd, "relay: rr 64 B p50 us", who, r["p50_us"], "us")
        for who in order:
            if who == "go":
                continue
            relay = self.relays[who]
            for mode in ("upload", "download"):
                be = "sink" if mode == "upload" else "source"
                c0 = bench.cpu_seconds(relay.pid)
                r = self.gen("go", [mode, "-streams", "1", "-bytes",
                                    str(self.bulk), "-via", "cmd", "-cmd",
                                    self.connect_cmd_of(who, relay.addr)],
                             self.backends[be], relay="-")
                gib = r["bytes"] / bench.GIB
                self.put(rnd, "connect: %s 1 stream MB/s" % mode, who,
                         r["mbps"], "MB/s")
                self.put(rnd, "connect: %s relay CPU s/GiB" % mode, who,
                         (bench.cpu_seconds(relay.pid) - c0) / gib, "s/GiB")
                self.put(rnd, "connect: %s connect+bench-go CPU s/GiB" %
                         mode, who, r["gen_cpu"] / gib, "s/GiB")

    # ---- WAN -----------------------------------------------------------
    def wan_paths(self):
        if self.ns.wan_paths:
            return self.WAN_PATHS
        return ((1000, 50),)

    def wan_round(self, rnd, rate, rtt, px):
        name = self.path_name(rate, rtt)
        nbytes = (16 << 20) if self.quick else (128 << 20)
        cap = 60
        order = ("link", "this", "base")
        order = order[rnd % 3:] + order[:rnd % 3]
        for mode in ("upload", "download"):
            be = "sink" if mode == "upload" else "source"
            got = {}
            for who in order:
                args = [mode, "-streams", "1", "-bytes", str(nbytes),
                        "-seconds", str(cap)]
                try:
                    if who == "link":
                        r = self.gen("go", args + ["-via", "direct"],
                                     px[be].addr, timeout=cap + 60)
                    else:
                        cmd = self.connect_cmd_of(who, px[who].addr)
                        r = self.gen("go", args + ["-via", "cmd", "-cmd",
                                                   cmd], self.backends[be],
                                     relay="-", timeout=cap + 60)
                except bench.BenchError as e:
                    self.notes.append("WAN %s %s %s: %s" % (
                        name, who, mode, str(e)[:300]))
                    continue
                got[who] = r["mbps"]
                self.put(rnd, "WAN %s: %s MB/s" % (name, mode), who,
                         r["mbps"], "MB/s")
            for who in ("this", "base"):
                if got.get(who) and got.get("link"):
                    self.put(rnd, "WAN %s: %s / link, same round" % (
                        name, mode), who, got[who] / got["link"], "x")

    def wan(self):
        if not os.access(self.wanproxy, os.X_OK):
            self.skipped.append("WAN rows: %s is missing" % self.wanproxy)
            return
        for rate, rtt in self.wan_paths():
            px = {}
            try:
                for tag, tgt in (("sink", self.backends["sink"]),
                                 ("source", self.backends["source"]),
                                 ("this", self.relays["this"].addr),
                                 ("base", self.relays["base"].addr)):
                    px[tag] = self.start_wanproxy(tgt, rate, rtt, tag)
                for rnd in range(self.rounds):
                    self.wan_round(rnd, rate, rtt, px)
            finally:
                for p in px.values():
                    self.procs.stop(p)

    def run(self):
        t0 = time.time()
        self.setup()
        if not self.wan_only:
            for rnd in range(self.rounds):
                self.loopback_round(rnd)
        else:
            self.skipped.append("loopback rows: --wan-only")
        if self.no_wan:
            self.skipped.append("WAN rows: --no-wan")
        else:
            self.wan()
        self.elapsed = time.time() - t0

    # ---- report --------------------------------------------------------
    def table(self):
        lines = []
        w = lines.append

        def fmt(x):
            if x is None:
                return "-"
            return "%.0f" % x if abs(x) >= 100 else (
                "%.1f" % x if abs(x) >= 10 else "%.2f" % x)

        def ratio(a, b):
            return "%.2fx" % (a / b) if a is not None and b else "-"

        w("")
        w("### This tree against %s, interleaved (medians of %d)" % (
            self.base_commit[:12], self.rounds))
        w("")
        w("`go` in the connect rows is the Go pair (bench-go + Go relay); "
          "WAN `x` rows are each round's ratio to plain TCP over the "
          "same path, measured in the same round.")
        w("")
        w("| %-48s | %8s | %8s | %8s | %7s | %7s | %7s | %s |" % (
            "metric", "this", "base", "go", "t/base", "t/go", "b/go",
            "this, each round ; base, each round"))
        w("|%s|%s|%s|" % ("-" * 50, "|".join("-" * 10 for _ in range(3)),
                          "|".join("-" * 9 for _ in range(3)) + "|---"))
        for m in self.rows:
            v = {x: self.med("baseline", m, x) for x in WHO}
            if v["go"] is None and m.startswith("connect: ") and \
                    "MB/s" in m:
                v["go"] = self.med("baseline", m.replace("connect:",
                                                         "relay:"), "go")
            spread = " ; ".join(" ".join(fmt(x) for x in self.results.get(
                ("baseline", m, who), [])) for who in ("this", "base"))
            w("| %-48s | %8s | %8s | %8s | %7s | %7s | %7s | %s |" % (
                m, fmt(v["this"]), fmt(v["base"]), fmt(v["go"]),
                ratio(v["this"], v["base"]), ratio(v["this"], v["go"]),
                ratio(v["base"], v["go"]), spread))
        for n in self.notes:
            w("Note: " + n)
        for n in self.skipped:
            w("Skipped: " + n)
        return "\n".join(lines)


def main(ns):
    b = None
    try:
        b = BaselineBench(ns)
        b.run()
        print("## beacon benchmark against a baseline (%d rounds)" %
              b.rounds)
        print()
        print("Machine: " + b.machine())
        print("Run time: %.0f s; logs in %s" % (b.elapsed, b.logdir))
        print(b.table())
        return 0
    except bench.BenchError as e:
        bench.sys.stderr.write("bench: FAIL: %s\n" % e)
        return 1
    finally:
        if b:
            b.procs.stop_all()
