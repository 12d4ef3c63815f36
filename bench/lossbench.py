"""Loss rows of `make bench` (bench/run.py --loss-only): the tunnel across
a packet-level path with loss (tests/tools/netlab).

netlab makes two network namespaces joined through tun devices: A
(10.77.0.1) holds the load generator and the controller side, B
(10.77.0.2) the relays, sshd and the backends. Every packet between them
crosses the emulated path: rate, one-way delay rtt/2, a drop-tail queue
of one bandwidth-delay product, random loss (both directions, ACKs too).
Kernel TCP on both ends reacts to real loss.

Rows per path, one stream, upload and download, each transfer capped in
time (the bytes that got across by then count):
  TCP cubic / TCP bbr   plain TCP over the path, with both namespaces'
                        net.ipv4.tcp_congestion_control set to it
  Go/Go                 Go controller stack + Go relay
  ssh -W                through sshd
  beacon cubic          `beacon connect --congestion cubic` + `beacon
                        egress --congestion cubic`
  beacon                beacon's default (bbr where allowed)
Plain TCP sets its congestion control per socket (bench-go -cc, on both
ends). Go/Go and ssh -W run with the system default (a network
namespace cannot choose a default outside
net.ipv4.tcp_allowed_congestion_control), printed beside the table.

Head-of-line blocking: 64-byte round trips on one stream beside a
download on another stream of the same tunnel (Go/Go, beacon), and on a
second plain TCP connection beside a plain download (TCP), at 1 % loss.

Needs root (namespaces, tun); without it the rows are skipped with a
note. Standard library only; every process is stopped by PID.
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

LAB_A, LAB_B = "10.77.0.1", "10.77.0.2"


class LabError(Exception):
    pass


def log(msg):
    sys.stderr.write("[bench] %s\n" % msg)
    sys.stderr.flush()


RELAY_PORT, GO_RELAY_PORT, SSH_PORT = 7443, 7444, 2222
BACKEND_PORTS = {"sink": 9001, "source": 9002, "echo": 9003}
# The backends again, listening with BBR (accepted sockets inherit it):
# the download rows of plain TCP send from them.
BBR_OFFSET = 10

# (Mbit/s, round trip ms, loss %)
LOSS_PATHS = tuple((rate, rtt, loss) for rate in (100, 1000)
                   for rtt in (50, 150) for loss in (0, 0.1, 1))
WHO = ("TCP cubic", "TCP bbr", "Go/Go", "ssh -W", "beacon cubic", "beacon")
RR_TIMEOUT = 150  # a round trip of seconds (CUBIC at 1 %) shows as a note
RR_WHO = ("TCP cubic", "TCP bbr", "Go/Go", "beacon cubic", "beacon")


def path_name(rate, rtt, loss):
    return "%s %d ms %g %%" % ("1 Gbit/s" if rate == 1000 else
                               "%d Mbit/s" % rate, rtt, loss)


class LossBench:
    def __init__(self, bench, paths=None, cap=None, rr_paths=None,
                 rr_only=False):
        self.b = bench
        self.rr_only = rr_only
        # --quick (the CTest smoke run): one path keeps it a minute.
        self.paths = paths or (((100, 50, 1),) if bench.quick
                               else LOSS_PATHS)
        self.cap = cap or (4 if bench.quick else 10)
        self.rr_paths = rr_paths if rr_paths is not None else \
            ((100, 50, 1),)
        self.netlab = os.path.join(bench.build, "netlab")

    # ---- the lab -------------------------------------------------------
    def usable(self):
        if os.geteuid() != 0:
            return "needs root (network namespaces, tun devices)"
        if not os.path.exists("/dev/net/tun"):
            return "no /dev/net/tun"
        if not os.access(self.netlab, os.X_OK):
            return "%s is missing (build the netlab target)" % self.netlab
        return None

    def ns(self, side, argv):
        return ["nsenter", "--net=/proc/%d/ns/net" %
                (self.pid_a if side == "a" else self.pid_b), "--"] + \
            [str(x) for x in argv]

    def start_lab(self, rate, rtt, loss):
        p = self.b.procs.spawn([self.netlab, "--rate-mbit", str(rate),
                                "--delay-ms", "%g" % (rtt / 2.0),
                                "--loss", "%g" % loss, "--seed", "21"],
                               "netlab")
        pids = {}
        for _ in range(3):
            line = p.stdout.readline().decode()
            m = re.match(r"(ns-[ab]) (\d+) ", line)
            if m:
                pids[m.group(1)] = int(m.group(2))
        if line.strip() != "ready" or len(pids) != 2:
            raise LabError("netlab did not start: %r" % line)
        self.lab = p
        self.pid_a, self.pid_b = pids["ns-a"], pids["ns-b"]
        return p

    def spawn(self, side, argv, name):
        return self.b.procs.spawn(self.ns(side, argv), name)

    def wait_port(self, side, port, proc, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if proc.poll() is not None:
                raise LabError("%s exited" % proc.name)
            for table in ("tcp", "tcp6"):  # Go listens dual-stack
                with open("/proc/%d/net/%s" % (proc.pid, table)) as f:
                    for row in f.read().splitlines()[1:]:
                        c = row.split()
                        if c[3] == "0A" and \
                                int(c[1].rsplit(":", 1)[1], 16) == port:
                            return
            time.sleep(0.05)
        raise LabError("%s never listened on %d" % (proc.name, port))

    def start_side_b(self):
        """Backends, both relays and sshd inside namespace B."""
        b = self.b
        for kind, port in BACKEND_PORTS.items():
            for cc, off in (("cubic", 0), ("bbr", BBR_OFFSET)):
                p = self.spawn("b", [b.gogen, "serve", "-kind", kind,
                                     "-cc", cc, "-listen",
                                     "0.0.0.0:%d" % (port + off)],
                               "lab-%s-%s" % (kind, cc))
                self.wait_port("b", port + off, p)
        p = self.spawn("b", [b.beacon, "egress", "--config-dir", self.pki_b,
                             "--tunnel-addr", "%s:%d" % (LAB_B, RELAY_PORT),
                             "--allow", "127.0.0.0/8", "--log-level", "warn"],
                       "lab-relay-beacon")
        self.wait_port("b", RELAY_PORT, p)
        p = self.spawn("b", [b.beacon, "egress", "--config-dir", self.pki_b,
                             "--tunnel-addr", "%s:%d" % (LAB_B, RELAY_PORT + 10),
                             "--allow", "127.0.0.0/8", "--log-level", "warn",
                             "--congestion", "cubic"], "lab-relay-cubic")
        self.wait_port("b", RELAY_PORT + 10, p)
        p = self.spawn("b", [b.gorelay_bin, "-listen",
                             "%s:%d" % (LAB_B, GO_RELAY_PORT), "-quiet",
                             "-cert", os.path.join(self.pki_b, "relay.crt"),
                             "-key", os.path.join(self.pki_b, "relay.key"),
                             "-ca", os.path.join(self.pki_b, "fleet-ca.crt")],
                       "lab-relay-go")
        self.wait_port("b", GO_RELAY_PORT, p)
        self.ssh_cmd = None
        if b.sshd:
            with open(os.path.join(b.dir, "ssh", "sshd_config")) as f:
                lines = [x for x in f.read().splitlines() if not
                         x.startswith(("Port ", "ListenAddress ",
                                       "PidFile "))]
            cfg = os.path.join(b.dir, "ssh", "sshd_config.lab")
            with open(cfg, "w") as f:
                f.write("\n".join(lines + [
                    "Port %d" % SSH_PORT, "ListenAddress " + LAB_B,
                    "PidFile none"]) + "\n")
            p = self.spawn("b", [shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", cfg],
                           "lab-sshd")
            self.wait_port("b", SSH_PORT, p)
            # setpriv: ssh dies with its bench-go, so a capped download
            # does not go on across the next row.
            self.ssh_cmd = "setpriv --pdeathsig KILL " + b.sshd.cmd_for(
                SSH_PORT).replace(" 127.0.0.1", " " + LAB_B)

    def relay_pki(self):
        """A relay certificate naming 10.77.0.2, beside the bench PKI."""
        b = self.b
        out = os.path.join(b.dir, "lab-pki")
        os.makedirs(out, exist_ok=True)
        r = subprocess.run([b.beacon, "pki", "issue", "--out-dir", out,
                            "--name", "relay", "--ca-dir", b.pki, "--usage",
                            "server", "--san", LAB_B],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode:
            raise LabError("pki issue: " + r.stdout.decode())
        with open(os.path.join(b.pki, "fleet-ca.crt"), "rb") as f:
            ca = f.read()
        with open(os.path.join(out, "fleet-ca.crt"), "wb") as f:
            f.write(ca)
        self.pki_b = out

    # ---- one measurement -------------------------------------------------
    def gen(self, who, args, target, timeout=None):
        b = self.b
        argv = [b.gogen] + args + ["-target", target]
        if who.startswith("TCP"):
            argv += ["-via", "direct", "-cc", who.split()[1]]
        elif who == "ssh -W":
            argv += ["-via", "cmd", "-cmd", self.ssh_cmd]
        elif who.startswith("beacon"):
            port = RELAY_PORT + (10 if who == "beacon cubic" else 0)
            cmd = "%s connect --relay %s:%d --config-dir %s%s {target}" % (
                b.beacon, LAB_B, port, b.pki,
                " --congestion cubic" if who == "beacon cubic" else "")
            argv += ["-via", "cmd", "-cmd", cmd]
        else:  # Go/Go
            argv += ["-relay", "%s:%d" % (LAB_B, GO_RELAY_PORT),
                     "-cert", os.path.join(b.pki, "controller.crt"),
                     "-key", os.path.join(b.pki, "controller.key"),
                     "-ca", os.path.join(b.pki, "fleet-ca.crt")]
        # stderr to a file: a child bench-go leaves behind (ssh -W after a
        # capped download) must not hold a pipe open until the timeout.
        with open(os.path.join(b.logdir, "lab-gen.log"), "a+b") as err:
            start = err.seek(0, os.SEEK_END)
            # Its own process group, ended as a group by its id when done:
            # an ssh -W child of a capped download would otherwise go on
            # downloading across the next row.
            p = subprocess.Popen(self.ns("a", argv), stdout=subprocess.PIPE,
                                 stderr=err, start_new_session=True)
            try:
                out, _ = p.communicate(timeout=timeout or self.cap + 30)
            except subprocess.TimeoutExpired:
                raise LabError("%s timed out" % who)
            finally:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
            if p.returncode:
                err.seek(start)
                raise LabError("%s failed: %s" % (
                    who, err.read().decode(errors="replace")[-500:]))
        return json.loads(out.decode().strip().splitlines()[-1])

    def transfer(self, name, who, mode):
        if who in ("TCP cubic", "TCP bbr"):
            target = "%s:%d" % (LAB_B, BACKEND_PORTS[
                "sink" if mode == "upload" else "source"] +
                (BBR_OFFSET if who == "TCP bbr" else 0))
        else:
            target = "127.0.0.1:%d" % BACKEND_PORTS[
                "sink" if mode == "upload" else "source"]
        try:
            r = self.gen(who, [mode, "-streams", "1", "-bytes",
                               str(4 << 30), "-seconds", str(self.cap)],
                         target)
        except Exception as e:  # noqa: BLE001 - noted, the run goes on
            self.b.notes.append("loss %s %s %s: %s" % (name, who, mode,
                                                       str(e)[:300]))
            return
        self.b.record("loss", "%s, %s Mbit/s" % (name, mode), who,
                      r["mbps"] * 8)

    def rr_beside_bulk(self, name, rtt):
        count = "30" if self.b.quick else "100"
        for who in RR_WHO:
            args = ["rrbulk", "-count", count, "-bytes", str(1 << 40)]
            if who.startswith("TCP"):
                off = BBR_OFFSET if who == "TCP bbr" else 0
                args += ["-bulk-target", "%s:%d" % (
                    LAB_B, BACKEND_PORTS["source"] + off)]
                target = "%s:%d" % (LAB_B, BACKEND_PORTS["echo"] + off)
                try:
                    r = self.gen(who, args, target, timeout=RR_TIMEOUT)
                except Exception as e:  # noqa: BLE001
                    self.b.notes.append("loss rr %s %s: %s" % (name, who, e))
                    continue
            else:
                try:
                    r = self.rr_tunnel(who, args)
                except Exception as e:  # noqa: BLE001
                    self.b.notes.append("loss rr %s %s: %s" % (name, who,
                                                               str(e)[:300]))
                    continue
            self.b.record("loss-rr", "%s, p50 ms" % name, who,
                          r["p50_us"] / 1000)
            self.b.record("loss-rr", "%s, p99 ms" % name, who,
                          r["p99_us"] / 1000)
            self.b.record("loss-rr", "%s, p99 / RTT" % name, who,
                          r["p99_us"] / 1000 / rtt)
            self.b.record("loss-rr", "%s, download meanwhile Mbit/s" % name,
                          who, r["bulk_mbps"] * 8)

    def rr_tunnel(self, who, args):
        b = self.b
        src = "127.0.0.1:%d" % BACKEND_PORTS["source"]
        echo = "127.0.0.1:%d" % BACKEND_PORTS["echo"]
        if who == "Go/Go":
            return self.gen("Go/Go", args + ["-bulk-target", src], echo,
                            timeout=RR_TIMEOUT)
        port = RELAY_PORT + (10 if who == "beacon cubic" else 0)
        argv = [b.beacon, "forward", "--relay", "%s:%d" % (LAB_B, port),
                "--config-dir", b.pki, "--log-level", "warn",
                "-L", "127.0.0.1:8001:" + src, "-L", "127.0.0.1:8002:" + echo]
        if who == "beacon cubic":
            argv += ["--congestion", "cubic"]
        fwd = self.spawn("a", argv, "lab-forward")
        try:
            self.wait_port("a", 8002, fwd)
            return self.gen("TCP cubic", args + ["-bulk-target",
                                                 "127.0.0.1:8001"],
                            "127.0.0.1:8002", timeout=RR_TIMEOUT)
        finally:
            b.procs.stop(fwd)

    # ---- the rows ---------------------------------------------------------
    def run(self):
        why = self.usable()
        if why:
            self.b.skipped.append("loss rows: " + why)
            return
        self.relay_pki()
        who = [w for w in WHO if w != "ssh -W" or self.b.sshd]
        for rate, rtt, loss in self.paths:
            name = path_name(rate, rtt, loss)
            started = len(self.b.procs.procs)
            try:
                self.start_lab(rate, rtt, loss)
                self.start_side_b()
                for rnd in range(0 if self.rr_only else self.b.rounds):
                    order = who[rnd % len(who):] + who[:rnd % len(who)]
                    log("loss %s, round %d/%d" % (name, rnd + 1,
                                                         self.b.rounds))
                    for w in order:
                        for mode in ("upload", "download"):
                            self.transfer(name, w, mode)
                if (rate, rtt, loss) in self.rr_paths:
                    for rnd in range(self.b.rounds):
                        self.rr_beside_bulk(name, rtt)
            except (LabError, OSError, subprocess.SubprocessError) as e:
                self.b.notes.append("loss %s: %s" % (name, e))
            finally:
                for p in list(reversed(self.b.procs.procs[started:])):
                    self.b.procs.stop(p)

    def table(self, w, fmt):
        metrics = [m for (sec, m, _) in self.b.results if sec == "loss"]
        metrics = list(dict.fromkeys(metrics))
        if metrics:
            w("")
            w("### Loss: one stream across netlab (medians of %d, "
              "Mbit/s, %d s cap)" % (self.b.rounds, self.cap))
            w("")
            w("Go/Go and ssh -W: the system default congestion control "
              "(%s here); beacon: its default (bbr where allowed); beacon "
              "cubic: --congestion cubic on both ends. Transfers stop "
              "after the cap." % system_default())
            w("")
            w("| %-38s | %s | %8s | %8s |" % (
                "path, direction", " | ".join("%12s" % x for x in WHO),
                "b/bbr", "b/GoGo"))
            w("|%s|%s|%s|" % ("-" * 40, "|".join("-" * 14 for _ in WHO),
                              "|".join("-" * 10 for _ in range(2))))
            for m in metrics:
                v = {x: self.b.med("loss", m, x) for x in WHO}
                w("| %-38s | %s | %8s | %8s |" % (
                    m, " | ".join("%12s" % fmt(v[x]) for x in WHO),
                    _ratio(v["beacon"], v["TCP bbr"]),
                    _ratio(v["beacon"], v["Go/Go"])))
        metrics = [m for (sec, m, _) in self.b.results if sec == "loss-rr"]
        metrics = list(dict.fromkeys(metrics))
        if metrics:
            w("")
            w("### Loss: 64-byte round trips beside a download (medians "
              "of %d)" % self.b.rounds)
            w("")
            w("TCP: a second plain connection beside a plain download "
              "(both with that congestion control); "
              "Go/Go and beacon: a second stream of the same tunnel.")
            w("")
            w("| %-44s | %s |" % ("metric", " | ".join(
                "%12s" % x for x in RR_WHO)))
            w("|%s|%s|" % ("-" * 46, "|".join("-" * 14 for _ in RR_WHO)))
            for m in metrics:
                w("| %-44s | %s |" % (m, " | ".join(
                    "%12s" % fmt(self.b.med("loss-rr", m, x))
                    for x in RR_WHO)))


def _ratio(a, b):
    return ("%.2fx" % (a / b)) if a is not None and b else "-"


def parse_paths(text):
    """"RATE:RTT:LOSS,..." (Mbit/s, ms, %) into tuples."""
    out = []
    for p in text.split(","):
        rate, rtt, loss = p.split(":")
        out.append((int(rate), int(rtt), float(loss)))
    return tuple(out)


def median_or_none(v):
    return statistics.median(v) if v else None


def system_default():
    try:
        with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
            return f.read().strip()
    except OSError:
        return "unknown"
