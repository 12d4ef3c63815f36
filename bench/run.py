#!/usr/bin/env python3
"""beacon end-to-end benchmark: `make bench` (never part of `make test`).

On loopback, runs the same workloads through (a) beacon's relay
(`beacon egress`) and (b) the Go reference relay (tests/interop/go/relay),
with the same load generator, relays alternating from round to round, and
prints medians and the beacon/Go ratio:

  bulk throughput, one stream and 8 streams, upload and download
  relay CPU (user+sys from /proc/PID/stat) per GiB relayed
  64-byte request/response latency on an open stream (p50, p99)
  connect latency (open + target line + dial + first byte), connects/s
  relay RSS per idle open stream (1 tunnel x N, 1000 tunnels x 10)

beacon forward rows (a separate table; `--forward-only` runs just
those): per new connection through `beacon forward` against a beacon
relay, from the client's connect to the first byte back (-L with the
client speaking first, and SOCKS5 with its reply), against one round
trip on an open stream through the same forward, all measured in the
same run by the same client; the Go relay row shows the fixed grace a
relay without connect results costs.

WAN rows (a separate table; `--wan-only` runs just those): the tunnel
(controller -> relay) crosses an emulated path, wanproxy (rate, one-way
delay of rtt/2, a bounded bottleneck buffer; built with the tests), at
1 Gbit/s with 10, 50 and 150 ms round trips and 100 Mbit/s at 50 ms; the
relay -> backend hop stays on loopback. One stream up and down for plain
TCP over the same path (the link), `ssh -W`, Go controller stack + Go
relay, Go controller stack + beacon relay, and `beacon connect` + beacon
relay; 64-byte round trips beside a download on the same tunnel; relay
RSS with 100 streams downloading. Transfers stop after a time cap (the
bytes then are those that got across).

Load generators: bench-go (bench/go/loadgen: Go crypto/tls + hashicorp
yamux, the same stack as the Go controller) and beacon_loadgen
(libbeacon, beacon's own controller). Backends are Go (bench-go serve).
Baselines: direct TCP, `ssh -W` through a private sshd, `openssl speed`.

  bench/run.py --build BUILD [--quick] [--rounds N] [--out DIR]
               [--wan-only | --no-wan | --forward-only]
               [--loss-only | --no-loss] [--loss-paths R:RTT:LOSS,...]
               [--baseline REV]   (this tree against REV: bench/baseline.py)

Loss rows (bench/lossbench.py; `--loss-only` runs just those): one
stream across a packet-level path with random loss (tests/tools/netlab,
two network namespaces joined through tun devices; needs root).

Standard library only. Every process started here is stopped by PID.
"""
import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import lossbench

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOOPBACK = "127.0.0.1"
GIB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


RR_WARMUP = 200  # unmeasured round trips first (both generators' default)

def log(msg):
    sys.stderr.write("[bench] %s\n" % msg)
    sys.stderr.flush()


def free_port():
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(addr, proc, timeout=10):
    host, port = addr.rsplit(":", 1)
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise BenchError("%s exited with %s" % (proc.name,
                                                    proc.returncode))
        try:
            socket.create_connection((host, int(port)), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError("%s never listened on %s" % (proc.name, addr))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise BenchError("connection closed after %d of %d bytes" %
                             (len(buf), n))
        buf += chunk
    return buf


def pct(sorted_values, p):
    """The p-th percentile (nearest rank) of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1,
                   int(round(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[k]


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of stat(5); rest[0] is field 3 (state).
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def slab_bytes():
    """Kernel slab memory of the whole machine (Slab in /proc/meminfo)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1]) * 1024
    return 0


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmRSS for %d" % pid)


class Procs:
    """Processes started by the benchmark, stopped by PID at the end."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.procs = []

    def spawn(self, argv, name, stdin=subprocess.DEVNULL):
        err = open(os.path.join(self.logdir, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                             stderr=err)
        err.close()
        p.name = name
        self.procs.append(p)
        return p

    def stop(self, p, timeout=10):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
                p.wait(timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        if p.stdout:
            p.stdout.close()
        if p.stdin:
            p.stdin.close()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(reversed(self.procs)):
            self.stop(p)


class Bench:
    def __init__(self, ns):
        self.ns = ns
        self.build = os.path.abspath(ns.build)
        self.beacon = os.path.join(self.build, "beacon")
        self.libgen = os.path.join(self.build, "bench", "beacon_loadgen")
        for f in (self.beacon, self.libgen):
            if not os.access(f, os.X_OK):
                raise BenchError("%s is missing: build first" % f)
        if ns.out:
            self.dir = os.path.abspath(ns.out)
            shutil.rmtree(self.dir, ignore_errors=True)
            os.makedirs(self.dir)
        else:
            self.dir = tempfile.mkdtemp(prefix="beacon-bench-")
        self.logdir = os.path.join(self.dir, "logs")
        os.makedirs(self.logdir)
        self.procs = Procs(self.logdir)
        self.results = {}   # (section, metric, who) -> [values]
        self.notes = []
        self.quick = ns.quick
        self.rounds = ns.rounds or (1 if ns.quick else 3)
        self.memory_only = ns.memory_only
        self.bulk = (64 << 20) if ns.quick else GIB
        self.rr_count = 2000 if ns.quick else 10000
        self.conn_count = 300 if ns.quick else 2000
        self.conn_par_count = 600 if ns.quick else 4000
        self.ssh_conn_count = 5 if ns.quick else 20
        self.wan_only = ns.wan_only
        if ns.wan_paths:
            self.WAN_PATHS = tuple(
                tuple(int(x) for x in p.split(":"))
                for p in ns.wan_paths.split(","))
        self.forward_only = ns.forward_only
        self.fwd_count = 200 if ns.quick else 1000
        self.fwd_rr = 1000 if ns.quick else 5000
        self.no_wan = ns.no_wan
        self.wanproxy = os.path.join(self.build, "wanproxy")
        self.loss_only, self.no_loss = ns.loss_only, ns.no_loss
        self.loss = lossbench.LossBench(
            self, lossbench.parse_paths(ns.loss_paths)
            if ns.loss_paths else None, ns.loss_cap or None,
            rr_only=ns.loss_rr_only)
        self.skipped = []   # rows not run, and why

    # ---- setup ---------------------------------------------------------
    def setup(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.fd_hard = hard if hard != resource.RLIM_INFINITY else 1 << 20
        gobin = os.path.join(self.dir, "go")
        log("building the Go load generator and peers")
        r = subprocess.run(["sh", os.path.join(HERE, "go", "build.sh"),
                            gobin], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode:
            raise BenchError("Go build failed:\n" + r.stdout.decode())
        self.gogen = os.path.join(gobin, "bench-go")
        self.gorelay_bin = os.path.join(gobin, "go-relay")
        self.pki = os.path.join(self.dir, "pki")
        r = subprocess.run([self.beacon, "pki", "init", self.pki],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode:
            raise BenchError("beacon pki init: " + r.stdout.decode())
        self.backends = {}
        self.backend_procs = {}
        for kind in ("sink", "source", "echo", "hello"):
            p = self.procs.spawn([self.gogen, "serve", "-kind", kind],
                                 "backend-" + kind)
            line = p.stdout.readline().decode()
            m = re.match(r"listening (\S+)", line)
            if not m:
                raise BenchError("backend %s: %r" % (kind, line))
            self.backends[kind] = m.group(1)
            self.backend_procs[kind] = p
        self.relays = {"beacon": self.start_relay("beacon"),
                       "go": self.start_relay("go")}
        self.sshd = self.start_sshd()

    def start_relay(self, which, tag=""):
        port = free_port()
        addr = "%s:%d" % (LOOPBACK, port)
        if which == "beacon":
            # Per-stream log lines off on both relays (go-relay -quiet):
            # the benchmark measures relaying, not logging.
            argv = [self.beacon, "egress", "--config-dir", self.pki,
                    "--tunnel-addr", addr, "--allow", "127.0.0.0/8",
                    "--log-level", "warn", "--max-streams", "20000",
                    "--max-tunnels", "4096"]
        else:
            argv = [self.gorelay_bin, "-listen", addr, "-quiet",
                    "-cert", os.path.join(self.pki, "relay.crt"),
                    "-key", os.path.join(self.pki, "relay.key"),
                    "-ca", os.path.join(self.pki, "fleet-ca.crt")]
        p = self.procs.spawn(argv, "relay-%s%s" % (which, tag))
        wait_port(addr, p)
        p.addr = addr
        return p

    def start_sshd(self):
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.access(sshd, os.X_OK) or not shutil.which("ssh"):
            self.notes.append("ssh -W skipped: no sshd/ssh")
            return None
        d = os.path.join(self.dir, "ssh")
        os.makedirs(d)
        for name in ("host", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                            "-f", os.path.join(d, name)], check=True)
        shutil.copy(os.path.join(d, "client.pub"),
                    os.path.join(d, "authorized_keys"))
        port = free_port()
        cfg = os.path.join(d, "sshd_config")
        with open(cfg, "w") as f:
            f.write("Port %d\nListenAddress %s\nHostKey %s\n"
                    "PidFile %s\nAuthorizedKeysFile %s\n"
                    "PasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nUsePAM no\n"
                    "StrictModes no\nAllowTcpForwarding yes\n"
                    "PermitRootLogin prohibit-password\n" % (
                        port, LOOPBACK, os.path.join(d, "host"),
                        os.path.join(d, "sshd.pid"),
                        os.path.join(d, "authorized_keys")))
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", 0o755, exist_ok=True)
        p = self.procs.spawn([sshd, "-D", "-e", "-f", cfg], "sshd")
        try:
            wait_port("%s:%d" % (LOOPBACK, port), p)
        except BenchError as e:
            self.notes.append("ssh -W skipped: %s" % e)
            self.procs.stop(p)
            return None
        p.cmd_for = lambda port_: (
            "ssh -q -i %s -p %d -o BatchMode=yes "
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
            " -o LogLevel=ERROR -W {target} %s" % (
                os.path.join(d, "client"), port_, LOOPBACK))
        p.cmd = p.cmd_for(port)
        p.addr = "%s:%d" % (LOOPBACK, port)
        # One round trip proves the key is accepted.
        try:
            r = self.gen("go", ["rr", "-via", "cmd", "-cmd", p.cmd,
                                "-count", "10", "-warmup", "1"],
                         self.backends["echo"], timeout=30)
            log("sshd up (rr p50 %.0f us)" % r["p50_us"])
        except BenchError as e:
            self.notes.append("ssh -W skipped: %s" % e)
            self.procs.stop(p)
            return None
        return p

    # ---- running one workload -----------------------------------------
    def gen(self, kind, args, target, relay=None, timeout=600):
        """Runs one load generator; returns its JSON result."""
        if kind == "go":
            argv = [self.gogen] + args + ["-target", target]
            if relay:
                argv += ["-relay", relay,
                         "-cert", os.path.join(self.pki, "controller.crt"),
                         "-key", os.path.join(self.pki, "controller.key"),
                         "-ca", os.path.join(self.pki, "fleet-ca.crt")]
        else:
            argv = [self.libgen, args[0]] + [
                a if not a.startswith("-") else "-" + a for a in args[1:]]
            argv += ["--relay", relay, "--config-dir", self.pki,
                     "--target", target]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError("%s timed out" % " ".join(argv))
        if r.returncode:
            raise BenchError("%s failed (%d): %s" % (
                " ".join(argv), r.returncode, r.stderr.decode()[-2000:]))
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = json.loads(r.stdout.decode().strip().splitlines()[-1])
        res["gen_cpu"] = (ru1.ru_utime - ru0.ru_utime +
                          ru1.ru_stime - ru0.ru_stime)
        return res

    def record(self, section, metric, who, value):
        self.results.setdefault((section, metric, who), []).append(value)

    def workloads(self, section, who, kind, relay=None, via=None,
                  relay_proc=None, cmd=None):
        """The standard set of workloads for one (generator, path); via
        cmd runs `cmd` (default: ssh -W) per stream."""
        extra = []
        if via:
            extra = ["-via", via] + (["-cmd", cmd or self.sshd.cmd]
                                     if via == "cmd" else [])
        addr = relay_proc.addr if relay_proc else relay
        n8 = self.bulk // 8
        for name, mode, streams, nbytes in (
                ("upload 1 stream", "upload", 1, self.bulk),
                ("download 1 stream", "download", 1, self.bulk),
                ("upload 8 streams", "upload", 8, n8),
                ("download 8 streams", "download", 8, n8)):
            if via == "cmd" and streams > 1:
                continue
            be = "sink" if mode == "upload" else "source"
            tgt = self.backends[be]
            bpid = self.backend_procs[be].pid
            c0 = cpu_seconds(relay_proc.pid) if relay_proc else None
            b0 = cpu_seconds(bpid)
            r = self.gen(kind, [mode, "-streams", str(streams), "-bytes",
                                str(nbytes)] + extra, tgt, addr)
            gib = r["bytes"] / GIB
            self.record(section, name + " MB/s", who, r["mbps"])
            # The rest of the path shares the two cores with the relay:
            # its CPU bounds what any relay can reach (RESULTS.md).
            self.record(section, "generator CPU s/GiB, " + name, who,
                        r["gen_cpu"] / gib)
            self.record(section, "backend CPU s/GiB, " + name, who,
                        (cpu_seconds(bpid) - b0) / gib)
            if relay_proc:
                cpu = cpu_seconds(relay_proc.pid) - c0
                self.record(section, "relay CPU s/GiB, " + name, who,
                            cpu / gib)
        c0 = cpu_seconds(relay_proc.pid) if relay_proc else None
        r = self.gen(kind, ["rr", "-count", str(self.rr_count)] + extra,
                     self.backends["echo"], addr)
        self.record(section, "rr 64 B p50 us", who, r["p50_us"])
        self.record(section, "rr 64 B p99 us", who, r["p99_us"])
        # The relay's own CPU per round trip and per connect: the part of
        # the latency a relay controls (wake-ups and the other processes
        # are the rest).
        if relay_proc:
            self.record(section, "relay CPU us per round trip", who,
                        (cpu_seconds(relay_proc.pid) - c0) * 1e6 /
                        (self.rr_count + RR_WARMUP))
        n = self.ssh_conn_count if via == "cmd" else self.conn_count
        c0 = cpu_seconds(relay_proc.pid) if relay_proc else None
        r = self.gen(kind, ["connect", "-count", str(n)] + extra,
                     self.backends["hello"], addr)
        self.record(section, "connect p50 us", who, r["p50_us"])
        self.record(section, "connect p99 us", who, r["p99_us"])
        self.record(section, "connects/s, 1 caller", who, r["per_s"])
        if relay_proc:
            self.record(section, "relay CPU us per connect", who,
                        (cpu_seconds(relay_proc.pid) - c0) * 1e6 / n)
        if via != "cmd":
            r = self.gen(kind, ["connect", "-count", str(self.conn_par_count),
                                "-par", "32"] + extra,
                         self.backends["hello"], addr)
            self.record(section, "connects/s, 32 callers", who, r["per_s"])

    # ---- memory ----------------------------------------------------------
    def idle_memory(self, which, tunnels, streams):
        relay = self.start_relay(which, "-idle")
        try:
            time.sleep(0.5)
            base = rss_bytes(relay.pid)
            slab0 = slab_bytes()
            argv = [self.gogen, "idle", "-tunnels", str(tunnels),
                    "-streams", str(streams), "-target",
                    self.backends["hello"], "-relay", relay.addr,
                    "-cert", os.path.join(self.pki, "controller.crt"),
                    "-key", os.path.join(self.pki, "controller.key"),
                    "-ca", os.path.join(self.pki, "fleet-ca.crt")]
            gen = self.procs.spawn(argv, "idle-%s" % which,
                                   stdin=subprocess.PIPE)
            try:
                line = gen.stdout.readline().decode()
                if not line.startswith("ready"):
                    raise BenchError("idle generator against %s relay: %r "
                                     "(see %s)" % (which, line, self.logdir))
                time.sleep(2)
                rss = rss_bytes(relay.pid)
                slab = slab_bytes() - slab0
            finally:
                self.procs.stop(gen)
            return base, rss, slab
        finally:
            self.procs.stop(relay)

    def memory(self):
        # Every relayed stream holds one target socket in the relay (and
        # one in the hello backend), and one tunnel may hold at most a
        # quarter of the descriptors left after the handshake reserve
        # (docs/SECURITY.md): 4 375 of a 20 000 limit, 2 187 of 10 000.
        n = 4000 if self.fd_hard >= 16000 else 2000
        if self.quick:
            n = 1000
        tun, per = (100, 10) if self.quick else (1000, 10)
        per_stream = {}
        for label, t, s in (("1 tunnel x %d streams" % n, 1, n),
                            ("%d tunnels x %d streams" % (tun, per), tun,
                             per)):
            for which in ("beacon", "go"):
                log("memory: %s relay, %s" % (which, label))
                base, rss, slab = self.idle_memory(which, t, s)
                self.record("memory", "RSS MiB, " + label, which,
                            rss / (1 << 20))
                self.record("memory", "bytes per idle stream, " + label,
                            which, (rss - base) / (t * s))
                # What a tunnel costs beyond its streams (TLS session,
                # mux, buffers), from the one-tunnel figure per stream.
                if t == 1:
                    per_stream[which] = (rss - base) / s
                    # What the kernel holds besides, machine-wide: both
                    # ends of each target connection (relay and backend)
                    # and their epoll entries.
                    self.record("memory", "kernel slab bytes per idle "
                                "stream, " + label, which, slab / s)
                else:
                    self.record("memory", "bytes per idle tunnel, beyond "
                                "its streams", which,
                                (rss - base - t * s * per_stream[which]) / t)

    # ---- WAN: the tunnel across an emulated path -----------------------
    WAN_PATHS = ((1000, 10), (1000, 50), (1000, 150), (100, 50))
    WAN_WHO = ("link", "ssh -W", "Go/Go", "Go/beacon", "beacon")

    @staticmethod
    def path_name(rate, rtt):
        return "%s %d ms" % ("1 Gbit/s" if rate == 1000 else
                             "%d Mbit/s" % rate, rtt)

    def start_wanproxy(self, target, rate, rtt, tag):
        p = self.procs.spawn([self.wanproxy, "--listen", LOOPBACK + ":0",
                              "--connect", target, "--rate-mbit", str(rate),
                              "--rtt-ms", str(rtt)], "wanproxy-" + tag)
        line = p.stdout.readline().decode()
        m = re.match(r"listening (\S+)", line)
        if not m:
            raise BenchError("wanproxy %s: %r" % (tag, line))
        p.addr = m.group(1)
        return p

    def connect_cmd(self, relay_addr):
        return "%s connect --relay %s --config-dir %s {target}" % (
            self.beacon, relay_addr, self.pki)

    def wan_gen(self, who, args, target, px):
        """One bench-go run for `who`, its tunnel (or TCP) through the
        path's proxies px."""
        if who == "link":
            return self.gen("go", args + ["-via", "direct"],
                            target, timeout=self.wan_timeout)
        if who == "ssh -W":
            return self.gen("go", args + ["-via", "cmd", "-cmd",
                                          self.sshd.cmd_for(
                                              int(px["ssh"].addr.rsplit(
                                                  ":", 1)[1]))],
                            target, timeout=self.wan_timeout)
        if who == "beacon":
            cmd = self.connect_cmd(px["beacon"].addr)
            return self.gen("go", args + ["-via", "cmd", "-cmd", cmd],
                            target, timeout=self.wan_timeout)
        relay = px["go" if who == "Go/Go" else "beacon"].addr
        return self.gen("go", args, target, relay, timeout=self.wan_timeout)

    # ---- beacon forward: what a new connection costs -------------------
    FWD_ROWS = ("-L: connect + first byte",
                "SOCKS5: connect + reply + first byte",
                "round trip on an open stream",
                "no forward: direct TCP, connect + first byte")

    def start_forward(self, relay_addr, tag):
        lport, sport = free_port(), free_port()
        argv = [self.beacon, "forward", "--relay", relay_addr,
                "--config-dir", self.pki, "--log-level", "warn",
                "-L", "%d:%s" % (lport, self.backends["echo"]),
                "--socks", "%s:%d" % (LOOPBACK, sport)]
        p = self.procs.spawn(argv, "forward-" + tag)
        p.laddr = "%s:%d" % (LOOPBACK, lport)
        p.saddr = "%s:%d" % (LOOPBACK, sport)
        wait_port(p.laddr, p)
        wait_port(p.saddr, p)
        return p

    @staticmethod
    def _addr(a):
        host, port = a.rsplit(":", 1)
        return host, int(port)

    def fwd_first_byte(self, addr, socks_target=None):
        """Microseconds from connect() to the echo of the client's first
        byte, through SOCKS5 (greeting, CONNECT, reply) when given."""
        t0 = time.perf_counter()
        with socket.create_connection(self._addr(addr), 10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if socks_target:
                host, port = self._addr(socks_target)
                c.sendall(b"\x05\x01\x00")
                if recv_exact(c, 2) != b"\x05\x00":
                    raise BenchError("SOCKS5: no method accepted")
                c.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) +
                          port.to_bytes(2, "big"))
                reply = recv_exact(c, 10)
                if reply[1] != 0:
                    raise BenchError("SOCKS5 reply %d" % reply[1])
            c.sendall(b"x")
            if recv_exact(c, 1) != b"x":
                raise BenchError("no echo through %s" % addr)
        return (time.perf_counter() - t0) * 1e6

    def fwd_round_trips(self, addr, n):
        with socket.create_connection(self._addr(addr), 10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            lat = []
            for i in range(n + 50):
                t0 = time.perf_counter()
                c.sendall(b"x")
                recv_exact(c, 1)
                if i >= 50:  # warm-up first
                    lat.append((time.perf_counter() - t0) * 1e6)
        return lat

    def fwd_record(self, who, row, lat):
        lat.sort()
        self.record("forward", row + " p50 us", who, pct(lat, 50))
        self.record("forward", row + " p99 us", who, pct(lat, 99))

    def forward_rows(self, rnd):
        echo = self.backends["echo"]
        fwd = self.start_forward(self.relays["beacon"].addr, "beacon")
        try:
            for _ in range(20):  # the tunnel is up, the paths are warm
                self.fwd_first_byte(fwd.laddr)
            n = self.fwd_count
            L, S, rr, d = self.FWD_ROWS
            self.fwd_record("beacon", L, [self.fwd_first_byte(fwd.laddr)
                                          for _ in range(n)])
            self.fwd_record("beacon", S,
                            [self.fwd_first_byte(fwd.saddr, echo)
                             for _ in range(n)])
            self.fwd_record("beacon", rr,
                            self.fwd_round_trips(fwd.laddr, self.fwd_rr))
            self.fwd_record("beacon", d, [self.fwd_first_byte(echo)
                                          for _ in range(n)])
        finally:
            self.procs.stop(fwd)
        # Behind a Go relay there are no connect results: a SOCKS client
        # waits out --connect-grace (250 ms). A few, to show it.
        fwd = self.start_forward(self.relays["go"].addr, "go")
        try:
            self.fwd_first_byte(fwd.laddr)
            self.fwd_record("go", S, [self.fwd_first_byte(fwd.saddr, echo)
                                      for _ in range(10)])
            self.fwd_record("go", rr, self.fwd_round_trips(fwd.laddr, 500))
        finally:
            self.procs.stop(fwd)

    def forward_table(self, w, fmt):
        if not any(k[0] == "forward" for k in self.results):
            return
        L, S, rr, d = self.FWD_ROWS
        w("")
        w("### beacon forward: what a new connection costs (medians of "
          "%d rounds)" % self.rounds)
        w("")
        w("One Python client, TCP_NODELAY, the client speaking first "
          "(1-byte echo, Go echo backend); %d connects per row and round, "
          "%d round trips. \"over rr\": the p50 minus that of one round "
          "trip on an open stream through the same forward and relay "
          "(and their ratio); \"over TCP\": minus a direct TCP connect + "
          "first byte to the backend." % (self.fwd_count, self.fwd_rr))
        w("")
        w("| %-48s | %9s | %9s | %9s | %6s | %9s |" % (
            "path", "p50 us", "p99 us", "over rr", "ratio",
            "over TCP"))
        w("|%s|%s|%s|%s|%s|%s|" % ("-" * 50, "-" * 11, "-" * 11, "-" * 11,
                                   "-" * 8, "-" * 11))
        direct = self.med("forward", d + " p50 us", "beacon")
        for who in ("beacon", "go"):
            base = self.med("forward", rr + " p50 us", who)
            for row in self.FWD_ROWS:
                a = self.med("forward", row + " p50 us", who)
                if a is None:
                    continue
                b = self.med("forward", row + " p99 us", who)
                over = ratio = over_tcp = "-"
                if row in (L, S) and base:
                    over = fmt(a - base)
                    ratio = "%.2fx" % (a / base)
                if row in (L, S) and direct:
                    over_tcp = fmt(a - direct)
                label = row if row == d else "%s relay: %s" % (
                    "beacon" if who == "beacon" else "Go", row)
                w("| %-48s | %9s | %9s | %9s | %6s | %9s |" % (
                    label,
                    fmt(a), fmt(b), over, ratio, over_tcp))

    def wan(self):
        if not os.access(self.wanproxy, os.X_OK):
            self.skipped.append("WAN rows: %s is missing (build the "
                                "wanproxy target)" % self.wanproxy)
            return
        paths = self.WAN_PATHS
        if self.quick and paths == Bench.WAN_PATHS:
            paths = ((1000, 50),)
            self.skipped.append("WAN paths other than 1 Gbit/s 50 ms: "
                                "--quick")
        who = list(self.WAN_WHO)
        if not self.sshd:
            who.remove("ssh -W")
            self.skipped.append("WAN ssh -W rows: no sshd")
        # A stream limited by a fixed window over 150 ms would take minutes
        # for 512 MiB: each transfer stops after cap seconds instead.
        cap = 4 if self.quick else 12
        self.wan_timeout = cap + 120
        for rate, rtt in paths:
            name = self.path_name(rate, rtt)
            # Long enough that connection set-up (TCP, TLS, stream open:
            # two or three round trips) and the window ramp are a small
            # part of the figure, as for any sustained transfer.
            nbytes = (512 << 20) if rate >= 1000 else (64 << 20)
            if self.quick:
                nbytes = 16 << 20
            px = {}
            try:
                for tag, tgt in (("sink", self.backends["sink"]),
                                 ("source", self.backends["source"]),
                                 ("go", self.relays["go"].addr),
                                 ("beacon", self.relays["beacon"].addr)):
                    px[tag] = self.start_wanproxy(tgt, rate, rtt, tag)
                if self.sshd:
                    px["ssh"] = self.start_wanproxy(self.sshd.addr, rate,
                                                    rtt, "ssh")
                for rnd in range(self.rounds):
                    order = who[rnd % len(who):] + who[:rnd % len(who)]
                    log("WAN %s, round %d/%d" % (name, rnd + 1,
                                                 self.rounds))
                    for w in order:
                        for mode in ("upload", "download"):
                            tgt = (px["sink"] if mode == "upload" else
                                   px["source"]).addr if w == "link" else \
                                self.backends["sink" if mode == "upload"
                                              else "source"]
                            try:
                                r = self.wan_gen(w, [mode, "-streams", "1",
                                                     "-bytes", str(nbytes),
                                                     "-seconds", str(cap)],
                                                 tgt, px)
                            except BenchError as e:
                                self.notes.append("WAN %s %s %s: %s" % (
                                    name, w, mode, str(e)[:300]))
                                continue
                            self.record("wan", "%s, %s MB/s" % (name, mode),
                                        w, r["mbps"])
                if (rate, rtt) == (1000, 50):
                    self.wan_rr_beside_bulk(name, px)
                    self.wan_rss(name, px)
            finally:
                for p in px.values():
                    self.procs.stop(p)

    def wan_rr_beside_bulk(self, name, px):
        count = "20" if self.quick else "100"
        args = ["rrbulk", "-count", count, "-bytes", str(1 << 40)]
        for rnd in range(self.rounds):
            for w in ("Go/Go", "Go/beacon", "beacon"):
                log("WAN %s: round trips beside a download, %s" % (name, w))
                try:
                    if w == "beacon":
                        r = self.rr_via_forward(args, px)
                    else:
                        relay = px["go" if w == "Go/Go" else "beacon"].addr
                        r = self.gen("go", args + ["-bulk-target",
                                                   self.backends["source"]],
                                     self.backends["echo"], relay,
                                     timeout=120)
                except BenchError as e:
                    self.notes.append("WAN rr beside a download, %s: %s" %
                                      (w, str(e)[:300]))
                    continue
                self.record("wan", "rr 64 B beside a download, p50 ms", w,
                            r["p50_us"] / 1000)
                self.record("wan", "rr 64 B beside a download, p99 ms", w,
                            r["p99_us"] / 1000)
                self.record("wan", "the download meanwhile, MB/s", w,
                            r["bulk_mbps"])

    def rr_via_forward(self, args, px):
        """Two connections through one `beacon forward` (one tunnel): -L
        to the source for the download, -L to the echo for the rr."""
        pb, pe = free_port(), free_port()
        fwd = self.procs.spawn(
            [self.beacon, "forward", "--relay", px["beacon"].addr,
             "--config-dir", self.pki,
             "-L", "%s:%d:%s" % (LOOPBACK, pb, self.backends["source"]),
             "-L", "%s:%d:%s" % (LOOPBACK, pe, self.backends["echo"])],
            "forward-wan")
        try:
            wait_port("%s:%d" % (LOOPBACK, pe), fwd)
            return self.gen("go", args + ["-via", "direct", "-bulk-target",
                                          "%s:%d" % (LOOPBACK, pb)],
                            "%s:%d" % (LOOPBACK, pe), timeout=120)
        finally:
            self.procs.stop(fwd)

    def wan_rss(self, name, px):
        """Peak relay RSS while 100 streams of one tunnel download across
        the path (the relay's buffers under a real bandwidth-delay)."""
        streams = 20 if self.quick else 100
        secs = 4 if self.quick else 10
        for which in ("go", "beacon"):
            w = "Go/Go" if which == "go" else "Go/beacon"
            log("WAN %s: relay RSS, %d streams downloading, %s relay" % (
                name, streams, which))
            relay = self.start_relay(which, "-wan-rss")
            rpx = self.start_wanproxy(relay.addr, 1000, 50, "rss")
            try:
                base = rss_bytes(relay.pid)
                argv = [self.gogen, "download", "-streams", str(streams),
                        "-bytes", str(1 << 40), "-seconds", str(secs),
                        "-target", self.backends["source"], "-relay",
                        rpx.addr,
                        "-cert", os.path.join(self.pki, "controller.crt"),
                        "-key", os.path.join(self.pki, "controller.key"),
                        "-ca", os.path.join(self.pki, "fleet-ca.crt")]
                gen = self.procs.spawn(argv, "wan-rss-" + which)
                peak = base
                while gen.poll() is None:
                    peak = max(peak, rss_bytes(relay.pid))
                    time.sleep(0.1)
                out = gen.stdout.read().decode().strip().splitlines()
                self.procs.stop(gen)
                if gen.returncode or not out:
                    self.notes.append("WAN RSS, %s relay: generator rc %s "
                                      "(see %s)" % (which, gen.returncode,
                                                    self.logdir))
                    continue
                r = json.loads(out[-1])
                self.record("wan", "relay RSS MiB, %d streams downloading"
                            % streams, w, peak / (1 << 20))
                self.record("wan", "%d streams downloading, MB/s in all"
                            % streams, w, r["mbps"])
            finally:
                self.procs.stop(rpx)
                self.procs.stop(relay)

    # ---- baselines -------------------------------------------------------
    def openssl_speed(self):
        out = {}
        for alg in ("aes-128-gcm", "chacha20-poly1305"):
            r = subprocess.run(["openssl", "speed", "-evp", alg, "-seconds",
                                "1" if self.quick else "3", "-bytes",
                                "16384"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            m = re.search(r"([\d.]+)k\s*$", r.stdout.decode().strip())
            out[alg] = float(m.group(1)) / 1000 if m else None
        return out

    # ---- the run ---------------------------------------------------------
    def run(self):
        t0 = time.time()
        self.setup()
        if self.loss_only:
            self.loss.run()
            self.skipped.append("every other table: --loss-only")
            self.speed = {}
            self.elapsed = time.time() - t0
            return
        if self.forward_only:
            for rnd in range(self.rounds):
                log("round %d/%d: beacon forward" % (rnd + 1, self.rounds))
                self.forward_rows(rnd)
            self.skipped.append("every other table: --forward-only")
            self.elapsed = time.time() - t0
            return
        loopback = not (self.memory_only or self.wan_only)
        for rnd in range(self.rounds if loopback else 0):
            order = ("beacon", "go") if rnd % 2 == 0 else ("go", "beacon")
            for which in order:
                for gk, gname in (("go", "bench-go"), ("lib", "libbeacon")):
                    log("round %d/%d: %s relay, %s generator" % (
                        rnd + 1, self.rounds, which, gname))
                    self.workloads("gen=" + gname, which, gk,
                                   relay_proc=self.relays[which])
            log("round %d/%d: direct TCP and ssh -W" % (rnd + 1, self.rounds))
            self.workloads("baseline", "direct", "go", via="direct",
                           relay="-")
            if self.sshd:
                self.workloads("baseline", "ssh -W", "go", via="cmd",
                               relay="-")
            # What a user runs: `beacon connect` (stdin/stdout pumped by
            # libbeacon's loop) through the beacon relay, per stream.
            log("round %d/%d: beacon connect" % (rnd + 1, self.rounds))
            self.workloads("baseline", "beacon connect", "go", via="cmd",
                           relay="-", cmd=self.connect_cmd(
                               self.relays["beacon"].addr))
            log("round %d/%d: beacon forward" % (rnd + 1, self.rounds))
            self.forward_rows(rnd)
        if not self.wan_only:
            self.memory()
        else:
            self.skipped.append("loopback tables and idle memory: "
                                "--wan-only")
        if self.memory_only:
            self.skipped.append("WAN rows: --memory-only")
        elif self.no_wan:
            self.skipped.append("WAN rows: --no-wan")
        else:
            self.wan()
        if not (self.no_loss or self.memory_only or self.wan_only):
            self.loss.run()
        self.speed = self.openssl_speed()
        self.elapsed = time.time() - t0

    # ---- report ----------------------------------------------------------
    def med(self, section, metric, who):
        v = self.results.get((section, metric, who))
        return statistics.median(v) if v else None

    def table(self):
        lines = []
        w = lines.append

        def fmt(x):
            if x is None:
                return "-"
            if abs(x) >= 100:
                return "%.0f" % x
            if abs(x) >= 10:
                return "%.1f" % x
            return "%.2f" % x

        def notes_and_text():
            for n in self.notes:
                w("Note: " + n)
            for n in self.skipped:
                w("Skipped: " + n)
            return "\n".join(lines)

        if self.forward_only:
            self.forward_table(w, fmt)
            w("")
            return notes_and_text()
        if self.loss_only:
            self.loss.table(w, fmt)
            w("")
            return notes_and_text()
        if self.wan_only:
            self.misses = []
            self.wan_table(w, fmt)
            w("")
            return notes_and_text()

        def row(metric, a, b, target=None, ok=None, name_w=44):
            ratio = (a / b) if a is not None and b else None
            verdict = ""
            if target:
                verdict = "%-7s %s" % (target, "-" if ok is None else
                                       ("ok" if ok else "MISS"))
            w("| %-*s | %10s | %10s | %6s | %s |" % (
                name_w, metric, fmt(a), fmt(b),
                "-" if ratio is None else "%.2fx" % ratio, verdict))
            return ratio

        def header(title, a, b):
            w("")
            w("### " + title)
            w("")
            w("| %-44s | %10s | %10s | %6s | %s |" % (
                "metric (median of %d)" % self.rounds, a, b, "ratio",
                "target"))
            w("|%s|%s|%s|%s|%s|" % ("-" * 46, "-" * 12, "-" * 12, "-" * 8,
                                    "-" * 14))

        def cmp(r, op, lim):
            if r is None:
                return None
            return r <= lim if op == "<=" else r >= lim

        targets = {
            "upload 1 stream MB/s": (">=", 1.5),
            "download 1 stream MB/s": (">=", 1.5),
            "relay CPU s/GiB, upload 1 stream": ("<=", 0.4),
            "relay CPU s/GiB, download 1 stream": ("<=", 0.4),
            "relay CPU s/GiB, upload 8 streams": ("<=", 0.4),
            "relay CPU s/GiB, download 8 streams": ("<=", 0.4),
            "rr 64 B p50 us": ("<=", 0.7),
            "connect p50 us": ("<=", 0.5),
            "connects/s, 1 caller": (">=", 2.0),
            "connects/s, 32 callers": (">=", 2.0),
        }
        metrics = []
        for (sec, metric, who) in self.results:
            if sec.startswith("gen=") and metric not in metrics:
                metrics.append(metric)
        order = ["upload 1 stream MB/s", "download 1 stream MB/s",
                 "upload 8 streams MB/s", "download 8 streams MB/s"]
        rest = [m for m in metrics if m not in order]
        # CPU rows grouped: the relay's first, then the rest of the path's.
        group = ("relay CPU", "generator CPU", "backend CPU")
        rest.sort(key=lambda m: next((i for i, g in enumerate(group)
                                      if m.startswith(g)), len(group)))
        metrics = order + rest
        self.misses = []
        for gen in ("bench-go", "libbeacon"):
            sec = "gen=" + gen
            header("Relay under test, load generator %s "
                   "(beacon relay / Go relay)" % gen, "beacon", "go")
            for m in metrics:
                a, b = self.med(sec, m, "beacon"), self.med(sec, m, "go")
                t = targets.get(m) if gen == "bench-go" else None
                ratio = (a / b) if a is not None and b else None
                ok = cmp(ratio, *t) if t else None
                row(m, a, b, "%s%.1fx" % t if t else None, ok)
                if t and ok is False:
                    self.misses.append("%s: %.2fx (target %s%.1fx)" % (
                        m, ratio, t[0], t[1]))
        # End to end: each controller with its own relay.
        e2e = [("upload 1 stream MB/s", ">="), ("download 1 stream MB/s",
                                                  ">="),
               ("rr 64 B p50 us", "<="), ("connect p50 us", "<="),
               ("connects/s, 1 caller", ">=")]
        header("End to end: libbeacon + beacon relay / bench-go "
               "(Go controller stack) + Go relay", "beacon", "go")
        def e2e_rows(mine, theirs, miss, skip=""):
            """One end-to-end table: mine and theirs are (section, who);
            the MB/s rows carry the 2x target."""
            for m, op in e2e:
                if skip and skip in m:
                    continue
                a = self.med(mine[0], m, mine[1])
                b = self.med(theirs[0], m, theirs[1])
                t = (op, 2.0) if "MB/s" in m else None
                ratio = (a / b) if a is not None and b else None
                ok = cmp(ratio, *t) if t else None
                row(m, a, b, "%s%.1fx" % t if t else None, ok)
                if t and ok is False:
                    self.misses.append("%s, %s: %.2fx" % (miss, m, ratio))

        e2e_rows(("gen=libbeacon", "beacon"), ("gen=bench-go", "go"),
                 "end to end vs Go/Go")
        header("End to end: `beacon connect` + beacon relay / bench-go "
               "(Go controller stack) + Go relay", "beacon", "go")
        e2e_rows(("baseline", "beacon connect"), ("gen=bench-go", "go"),
                 "beacon connect vs Go/Go", skip="connects/s")
        if self.sshd:
            header("End to end: libbeacon + beacon relay / ssh -W",
                   "beacon", "ssh -W")
            e2e_rows(("gen=libbeacon", "beacon"), ("baseline", "ssh -W"),
                     "end to end vs ssh -W")
        header("Idle streams: relay memory", "beacon", "go")
        for (sec, m, who) in sorted(self.results):
            if sec != "memory" or who != "beacon":
                continue
            a, b = self.med(sec, m, "beacon"), self.med(sec, m, "go")
            # The target is per idle stream: the one-tunnel figure. With
            # 10 streams a tunnel, its TLS session dominates (own row).
            if m.startswith("bytes per idle stream, 1 tunnel"):
                ok = a is not None and a <= 2048
                row(m, a, b, "<=2048 B", ok)
                if not ok:
                    self.misses.append("%s: %.0f B (target <= 2048)" % (m, a))
            else:
                row(m, a, b)
        w("")
        w("### Baselines (no relay)")
        w("")
        w("| %-44s | %10s | %10s |" % ("metric (median)", "direct TCP",
                                        "ssh -W"))
        w("|%s|%s|%s|" % ("-" * 46, "-" * 12, "-" * 12))
        for m in metrics:
            if m.startswith("relay CPU") or (" CPU s/GiB, " in m and
                                              " 8 streams" in m):
                continue
            a = self.med("baseline", m, "direct")
            b = self.med("baseline", m, "ssh -W")
            w("| %-44s | %10s | %10s |" % (m, fmt(a), fmt(b)))
        self.forward_table(w, fmt)
        self.wan_table(w, fmt)
        self.loss.table(w, fmt)
        w("")
        for alg, v in self.speed.items():
            w("openssl speed -evp %s (16 KiB blocks, 1 core): %s MB/s" % (
                alg, fmt(v)))
        w("")
        if self.misses:
            w("Targets missed: " + "; ".join(self.misses))
        else:
            w("All targets met.")
        return notes_and_text()

    def wan_table(self, w, fmt):
        metrics = []
        for (sec, m, who) in self.results:
            if sec == "wan" and m not in metrics:
                metrics.append(m)
        if not metrics:
            return
        who = self.WAN_WHO
        w("")
        w("### WAN: the tunnel across wanproxy (medians of %d)" %
          self.rounds)
        w("")
        w("link: plain TCP over the path; ssh -W: through sshd over the "
          "path; Go/Go: Go controller stack + Go relay; Go/beacon: Go "
          "controller stack + beacon relay; beacon: `beacon connect` + "
          "beacon relay (beside a download: two -L of one `beacon "
          "forward`). Transfers stop after a time cap.")
        w("")
        w("Ratios: beacon / Go/Go (end to end), Go/beacon / Go/Go (the "
          "relay alone), beacon / ssh -W, beacon / link.")
        w("")
        w("| %-44s | %s | %8s | %8s | %8s | %8s |" % (
            "metric", " | ".join("%9s" % x for x in who), "b/GoGo",
            "relay", "b/ssh", "b/link"))
        w("|%s|%s|%s|" % ("-" * 46, "|".join("-" * 11 for _ in who),
                          "|".join("-" * 10 for _ in range(4))))
        for m in metrics:
            v = {x: self.med("wan", m, x) for x in who}

            def ratio(a, b):
                return ("%.2fx" % (a / b)) if a is not None and b else "-"
            w("| %-44s | %s | %8s | %8s | %8s | %8s |" % (
                m, " | ".join("%9s" % fmt(v[x]) for x in who),
                ratio(v["beacon"], v["Go/Go"]),
                ratio(v["Go/beacon"], v["Go/Go"]),
                ratio(v["beacon"], v["ssh -W"]),
                ratio(v["beacon"], v["link"])))

    def machine(self):
        model = ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        return "%d CPUs, %s, Linux %s, %s" % (
            os.cpu_count(), model, platform.release(),
            time.strftime("%Y-%m-%d %H:%M %Z"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="CMake build directory")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: small sizes, one round")
    ap.add_argument("--rounds", type=int, default=0,
                    help="interleaved rounds (default 3, quick 1)")
    ap.add_argument("--out", help="work directory (default: a new temp dir)")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--memory-only", action="store_true",
                    help="only the idle-stream memory workloads")
    ap.add_argument("--wan-only", action="store_true",
                    help="only the WAN rows (tunnel across wanproxy)")
    ap.add_argument("--no-wan", action="store_true",
                    help="skip the WAN rows")
    ap.add_argument("--forward-only", action="store_true",
                    help="only the beacon forward per-connection rows")
    ap.add_argument("--wan-paths", metavar="MBIT:MS,...",
                    help="WAN paths to run instead of all four, e.g. "
                    "1000:150 (rate in Mbit/s, round trip in ms)")
    ap.add_argument("--loss-only", action="store_true",
                    help="only the loss rows (tunnel across netlab)")
    ap.add_argument("--no-loss", action="store_true",
                    help="skip the loss rows")
    ap.add_argument("--loss-paths", metavar="MBIT:MS:PCT,...",
                    help="loss paths instead of all twelve, e.g. "
                    "100:100:1 (rate, round trip, loss %%)")
    ap.add_argument("--loss-rr-only", action="store_true",
                    help="of the loss rows, only the round trips beside "
                    "a download")
    ap.add_argument("--loss-cap", type=int, default=0,
                    help="seconds per loss-row transfer (default 10)")
    ap.add_argument("--baseline", metavar="REV",
                    help="build git revision REV beside this tree and "
                    "interleave the two relays and the Go relay, round "
                    "by round (bench/baseline.py)")
    ns = ap.parse_args()
    if ns.baseline:
        sys.path.insert(0, HERE)
        import baseline
        return baseline.main(ns)
    b = None
    try:
        b = Bench(ns)
        b.run()
        print("## beacon benchmark (%s)" % ("quick" if ns.quick else
                                            "%d rounds" % b.rounds))
        print()
        print("Machine: " + b.machine())
        print("Run time: %.0f s; logs in %s" % (b.elapsed, b.logdir))
        print(b.table())
        if ns.json:
            with open(ns.json, "w") as f:
                json.dump({"|".join(k): v for k, v in b.results.items()},
                          f, indent=1)
        return 0
    except BenchError as e:
        sys.stderr.write("bench: FAIL: %s\n" % e)
        return 1
    finally:
        if b:
            b.procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
