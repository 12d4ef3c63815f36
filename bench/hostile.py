#!/usr/bin/env python3
"""beacon under hostile traffic: `make hostile` (never part of `make test`).

Each row attacks a real `beacon egress` on loopback (127.0.0.0/8; the
lookups row in a private mount+network namespace of its own) the way
docs/SECURITY.md's attackers would, while a legitimate controller keeps
working, and prints one table: row, figure, target, verdict.

  preauth      2 000 idle connections from 127.0.0.2 plus 200 garbage
               handshakes/s from 127.0.0.3; handshakes from 127.0.0.1
               must succeed (>= 99 %, each within 1 s)
  memory       --memory-limit 256M; 2 tunnels x 4 096 streams to a target
               whose connects hang plus 256 streams to one that never
               reads, all fed as fast as windows allow; RSS sampled
  descriptors  relay under prlimit --nofile=4096, three tunnels open all
               the streams they can; a fourth controller's echoes
  lookups      4 096 streams to names a silent DNS server never answers;
               an /etc/hosts name and a literal must answer in 100 ms
  scale        10 000 idle tunnels and the streams the fd limit leaves,
               per-tunnel and per-stream RSS; a storm of 5 000 controllers
               dialling at once; handshakes per relay CPU-second, beside
               the Go relay (tests/interop/go/relay)
  metrics      32 and 256 idle connections to --metrics-addr; /metrics and
               /healthz must still answer within 1 s

Every row also checks "nothing lost": a tunnel established before the
attack is still up after it and carries a hashed upload intact.

A row whose flag the relay does not know (exit status 2, usage error)
says "unsupported"; when the attack itself still runs without that flag
its figures are printed beside it. Every row has its own time bound;
every process started here is stopped by PID (tests/integration/
harness.py Env). Standard library only; the hostile controllers are
bench-go (bench/go/loadgen, modes hold and flood).

  bench/hostile.py --build BUILD [--rows preauth,memory,...] [--out FILE]
"""
import argparse
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness  # noqa: E402
from backends import Echo, Silent, Sink, SlowAccept  # noqa: E402
from test_relay_peer import (PING, SYN, PeerError, Session,  # noqa: E402
                             client_context, frame)

MIB = 1 << 20
KIB = 1 << 10
# Rows in running order with their wall-clock bounds (seconds).
ROWS = {"preauth": 150, "memory": 240, "descriptors": 150, "lookups": 150,
        "scale": 480, "metrics": 90}
# A TLS record header announcing a 512-byte handshake message; garbage
# follows it.
GARBAGE_HEAD = bytes([0x16, 0x03, 0x01, 0x02, 0x00])
REOPEN_RATE = 200  # idle connections reopened per second, at most


def log(msg):
    sys.stderr.write("[hostile] %s\n" % msg)
    sys.stderr.flush()


class Unsupported(Exception):
    """The relay refused a flag with a usage error (exit status 2)."""


def verdict(ok):
    return "pass" if ok else "fail"


def ms(seconds):
    return "%.0f ms" % (seconds * 1000)


# ---- the legitimate controller ---------------------------------------------

class Controller:
    """A legitimate controller (tests/integration/test_relay_peer.py
    Session: TLS 1.3 + yamux in Python) with the bench's PKI."""

    def __init__(self, pki):
        self.ctx = client_context(os.path.join(pki, "controller.crt"),
                                  os.path.join(pki, "controller.key"),
                                  os.path.join(pki, "fleet-ca.crt"))

    def session(self, env, port, source=None, timeout=10):
        s = Session(port, None, None, None, ctx=self.ctx, timeout=timeout,
                    source=source)
        env.add_cleanup(lambda: close_session(s))
        return s

    def handshake(self, port, source, bound=1.0):
        """One full tunnel set-up: TLS with the client certificate, then a
        yamux ping the relay answers. Returns (ok, seconds)."""
        t0 = time.monotonic()
        try:
            s = Session(port, None, None, None, ctx=self.ctx, timeout=bound,
                        source=source)
        except (OSError, ValueError):
            return False, time.monotonic() - t0
        try:
            s.send_raw(frame(PING, SYN, 0, 1))
            with s.cv:
                while not s.pings and not s.dead:
                    left = t0 + bound - time.monotonic()
                    if left <= 0:
                        break
                    s.cv.wait(left)
                ok = s.pings > 0
        finally:
            close_session(s)
        el = time.monotonic() - t0
        return ok and el <= bound, el


def close_session(s):
    if not getattr(s, "closed_once", False):
        s.closed_once = True
        s.close()


def upload(sess, sink, nbytes, seed=0, timeout=120):
    """nbytes of a seeded pattern to a Sink through one stream; returns
    (intact, seconds, why)."""
    t0 = time.monotonic()
    want = harness.pattern_sha256(nbytes, seed)
    try:
        st = sess.open(sink.addr)
        for chunk in harness.pattern_chunks(nbytes, seed):
            st.write(chunk, timeout=max(0.1, t0 + timeout -
                                        time.monotonic()))
        st.close_write()
        answer = st.read_all(timeout=max(0.1, t0 + timeout -
                                         time.monotonic()))
    except PeerError as e:
        return False, time.monotonic() - t0, str(e)
    got = answer.decode(errors="replace").split()
    ok = got == [str(nbytes), want]
    return ok, time.monotonic() - t0, "" if ok else "sink saw %r" % got


def echo_probe(sess, target, size=64, bound=1.0):
    """Opens a stream to an echo target, sends size bytes and reads them
    back; returns (ok, seconds) where ok needs the echo within bound."""
    t0 = time.monotonic()
    msg = os.urandom(size)
    got = b""
    try:
        st = sess.open(target)
        st.write(msg, timeout=bound)
        while len(got) < size:
            left = t0 + bound - time.monotonic()
            if left <= 0:
                break
            b = st.read(size - len(got), timeout=left)
            if not b:
                break
            got += b
        st.send_reset()
    except PeerError:
        pass
    el = time.monotonic() - t0
    return got == msg and el <= bound, el


class Witness:
    """An established tunnel from before the attack; after it, it must
    still be up and carry a hashed upload intact ("nothing lost")."""

    def __init__(self, ctl, env, relay):
        self.sink = env.use(Sink())
        self.sess = ctl.session(env, relay.port)

    def line(self, row, nbytes=4 * MIB):
        ok, el, why = upload(self.sess, self.sink, nbytes, seed=7,
                             timeout=60)
        up = not self.sess.dead
        fig = "tunnel from before %s; %d MiB upload %s in %.1f s%s" % (
            "up" if up else "DOWN (%s)" % self.sess.why, nbytes // MIB,
            "sha256 intact" if ok else "BROKEN", el,
            "" if ok else " (%s)" % why)
        return (row + ": nothing lost", fig, "tunnel up, bytes intact",
                verdict(ok and up))


# ---- processes -----------------------------------------------------------

class Sampler:
    """Samples fn() every interval seconds in a thread; keeps the max."""

    def __init__(self, fn, interval=0.1):
        self.fn, self.interval = fn, interval
        self.peak, self.count, self.last = 0, 0, 0
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                v = self.fn()
            except (OSError, ValueError, TypeError):
                v = None
            if v is not None:
                self.last = v
                self.peak = max(self.peak, v)
                self.count += 1
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._th.join(5)
        return self.peak


def rss_mib(proc):
    return proc.rss_kib() / 1024.0


class Hostile:
    def __init__(self, ns):
        self.build = os.path.abspath(ns.build)
        self.beacon = os.path.join(self.build, "beacon")
        if not os.access(self.beacon, os.X_OK):
            raise SystemExit("%s is missing: build first" % self.beacon)
        os.environ["BEACON_BIN"] = self.beacon
        os.environ["BEACON_BUILD_DIR"] = self.build
        self.top = harness.Env("hostile")
        self.pki = ns.pki or self.top.pki()
        self.gobin = ns.gobin or self.build_go()
        self.gogen = os.path.join(self.gobin, "bench-go")
        self.ctl = Controller(self.pki)

    def build_go(self):
        out = os.path.join(self.build, "hostile-go")
        log("building bench-go and the Go relay into %s" % out)
        r = subprocess.run(["sh", os.path.join(HERE, "go", "build.sh"), out],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode:
            raise SystemExit("Go build failed:\n" + r.stdout.decode())
        return out

    def env(self, name):
        env = harness.Env(name)
        env._pki = self.pki
        return env

    # -- relays --

    def relay_argv(self, env, addr, flags):
        return [self.beacon, "egress", "--config-dir", self.pki,
                "--tunnel-addr", addr, "--allow", "127.0.0.0/8",
                "--allow", "::1/128", "--log-level", "warn"] + list(flags)

    def supports(self, env, flags):
        """False when the relay rejects flags as a usage error."""
        addr = "127.0.0.1:%d" % env.free_port()
        r = env.run(self.relay_argv(env, addr, flags) + ["--check-config"],
                    timeout=30)
        if r.returncode == 2:
            log("relay rejects %s: %s" % (" ".join(flags),
                                          r.stderr.decode().strip()))
            return False
        return True

    def start_relay(self, env, flags=(), prefix=(), name="relay"):
        if flags and not self.supports(env, flags):
            raise Unsupported(" ".join(flags))
        port = env.free_port()
        addr = "127.0.0.1:%d" % port
        p = env.start(list(prefix) + self.relay_argv(env, addr, flags),
                      name=name)
        p.port, p.addr = port, addr
        env.wait_listening(p, port)
        return p

    def start_go_relay(self, env):
        port = env.free_port()
        addr = "127.0.0.1:%d" % port
        p = env.start([os.path.join(self.gobin, "go-relay"), "-listen", addr,
                       "-quiet",
                       "-cert", os.path.join(self.pki, "relay.crt"),
                       "-key", os.path.join(self.pki, "relay.key"),
                       "-ca", os.path.join(self.pki, "fleet-ca.crt")],
                      name="go-relay")
        p.port, p.addr = port, addr
        env.wait_listening(p, port)
        return p

    # -- hostile and load-generating controllers (bench-go) --

    def gen(self, env, mode, relay, args, name, target=None):
        argv = [self.gogen, mode, "-relay", relay.addr,
                "-cert", os.path.join(self.pki, "controller.crt"),
                "-key", os.path.join(self.pki, "controller.key"),
                "-ca", os.path.join(self.pki, "fleet-ca.crt")]
        if target:
            argv += ["-target", target]
        return env.start(argv + [str(a) for a in args], name=name,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    @staticmethod
    def result(proc, timeout):
        line = proc.readline(timeout=timeout)
        if not line:
            raise harness.Failure("%s ended without a result: %s" % (
                proc.name, harness._tail(proc.log_text(), 5)))
        return json.loads(line)

    def flood(self, env, relay, tunnels, streams, target, write=False,
              reopen=True, name="flood"):
        args = ["-tunnels", tunnels, "-streams", streams]
        args += ["-write"] if write else []
        args += ["-reopen"] if reopen else []
        p = self.gen(env, "flood", relay, args, name, target)
        p.first = self.result(p, 60)
        log("%s: %s" % (name, p.first))
        return p

    def end_flood(self, p):
        try:
            p.stdin.close()
            return self.result(p, 30)
        except (harness.Failure, ValueError, OSError):
            p.stop()
            return {}

    def helper(self, env, *args, name):
        """This script's own flooders (_idle, _garbage) in a child."""
        return env.start([sys.executable, os.path.abspath(__file__)] +
                         [str(a) for a in args], name=name,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    # ---- rows ---------------------------------------------------------

    def row_preauth(self, env):
        relay = self.start_relay(env)
        witness = Witness(self.ctl, env, relay)
        idle = self.helper(env, "_idle", relay.addr, "127.0.0.2", 2000,
                           name="idle-flood")
        garbage = self.helper(env, "_garbage", relay.addr, "127.0.0.3", 200,
                              name="garbage-flood")
        time.sleep(5)  # let the idle connections pile up
        lat, ok, n = [], 0, 100
        for _ in range(n):
            good, el = self.ctl.handshake(relay.port, "127.0.0.1")
            ok += good
            lat.append(el)
            time.sleep(0.1)
        stats = []
        for p in (idle, garbage):
            p.stdin.close()
            stats.append(self.result(p, 20))
        lat.sort()
        fig = ("%d/%d handshakes ok within 1 s (p50 %s, max %s); flood: "
               "%d idle held (%d reopened), %d garbage sent" % (
                   ok, n, ms(lat[n // 2]), ms(lat[-1]), stats[0]["held"],
                   stats[0]["reopened"], stats[1]["sent"]))
        return [("preauth: handshakes", fig, ">= 99 %, each <= 1 s",
                 verdict(ok >= 0.99 * n)),
                witness.line("preauth")]

    def row_memory(self, env):
        flags = ["--memory-limit", "256M"]
        limited = self.supports(env, flags)
        relay = self.start_relay(env, flags if limited else [])
        witness = Witness(self.ctl, env, relay)
        hang, silent = env.use(SlowAccept()), env.use(Silent())
        sink = env.use(Sink())
        time.sleep(1)
        idle = rss_mib(relay)
        rss = Sampler(lambda: rss_mib(relay))
        t0 = time.monotonic()
        floods = [self.flood(env, relay, 2, 4096, hang.addr, write=True,
                             name="flood-hang"),
                  self.flood(env, relay, 1, 256, silent.addr, write=True,
                             name="flood-noread")]
        legit = self.ctl.session(env, relay.port)
        ok, el, why = upload(legit, sink, 64 * MIB, seed=3, timeout=150)
        time.sleep(max(0.0, 20 - (time.monotonic() - t0)))
        done = [self.end_flood(p) for p in floods]
        peak = rss.stop()
        samples = rss.count
        written = sum(d.get("written", 0) for d in done)
        log("memory: attack over, peak %.0f MiB; 30 s to settle" % peak)
        time.sleep(30)
        after = rss_mib(relay)
        note = "" if limited else " (no --memory-limit: unsupported)"
        v = (lambda ok_: verdict(ok_)) if limited else \
            (lambda ok_: "unsupported")
        return [
            ("memory: peak RSS", "idle %.0f MiB, peak %.0f MiB over %d "
             "samples; attack wrote %.0f MiB%s" % (idle, peak, samples,
                                                  written / MIB, note),
             "<= 256 + 64 MiB", v(peak <= 256 + 64)),
            ("memory: RSS 30 s after", "%.0f MiB (idle %.0f MiB)%s" % (
                after, idle, note), "<= 2 x idle + 32 MiB",
             v(after <= 2 * idle + 32)),
            ("memory: legit 64 MiB", "%s in %.1f s%s" % (
                "sha256 intact" if ok else "BROKEN", el,
                "" if ok else " (%s)" % why), "hash intact", verdict(ok)),
            witness.line("memory")]

    def row_descriptors(self, env):
        relay = self.start_relay(env, prefix=["prlimit", "--nofile=4096"])
        witness = Witness(self.ctl, env, relay)
        hang, echo = env.use(SlowAccept()), env.use(Echo())
        fds = Sampler(relay.fd_count)
        flood = self.flood(env, relay, 3, 4096, hang.addr, name="flood-fds")
        time.sleep(2)
        lat, ok, n, refused = [], 0, 25, ""
        try:
            sess = self.ctl.session(env, relay.port, timeout=5)
        except (OSError, ValueError) as e:
            sess, refused = None, " (its tunnel refused: %s)" % (
                type(e).__name__)
        for _ in range(n if sess else 0):
            good, el = echo_probe(sess, echo.addr)
            ok += good
            lat.append(el)
            time.sleep(0.2)
        done = self.end_flood(flood)
        peak = fds.stop()
        fig = ("%d/%d echoes ok within 1 s%s%s; relay fds peak %d/4096;"
               " hostile: %d/3 tunnels up, %d streams opened" % (
                   ok, n, " (max %s)" % ms(max(lat)) if lat else "",
                   refused, peak, flood.first["tunnels"],
                   done.get("opened", 0)))
        return [("descriptors: echoes", fig, "all ok, each <= 1 s",
                 verdict(ok == n)),
                witness.line("descriptors")]

    def row_lookups(self, env):
        """Runs row_lookups_inner in `unshare -rmn`: its own resolv.conf,
        hosts and a DNS server that never answers."""
        argv = ["unshare", "-rmn", sys.executable, os.path.abspath(__file__),
                "--build", self.build, "--pki", self.pki, "--gobin",
                self.gobin, "--inner", "lookups"]
        r = env.run(argv, timeout=ROWS["lookups"] - 10)
        sys.stderr.write(r.stderr.decode(errors="replace"))
        out = r.stdout.decode(errors="replace").strip().splitlines()
        if r.returncode or not out:
            raise harness.Failure("namespace run exited %d" % r.returncode)
        return [tuple(x) for x in json.loads(out[-1])]

    def row_lookups_inner(self, env):
        d = env.path("etc")
        os.makedirs(d)
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:5 attempts:2\n")
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost beacon-hosts.test\n::1 localhost\n")
        for name in ("resolv.conf", "hosts"):
            env.run(["mount", "--bind", os.path.join(d, name),
                     "/etc/" + name], check=True)
        dns = SilentDNS()
        env.add_cleanup(dns.close)
        relay = self.start_relay(env)
        witness = Witness(self.ctl, env, relay)
        echo = env.use(Echo())
        # Held, not reopened: the attack is 4 096 lookups in flight, not
        # a storm of streams the relay refuses.
        flood = self.flood(env, relay, 1, 4096, "h{i}.silent.test:80",
                           reopen=False, name="flood-names")
        time.sleep(2)
        sess = self.ctl.session(env, relay.port)
        echo_probe(sess, "127.0.0.1:%d" % echo.port, bound=3.0)  # warm-up
        lines = []
        for label, host in (("/etc/hosts name", "beacon-hosts.test"),
                            ("literal", "127.0.0.1")):
            res = [echo_probe(sess, "%s:%d" % (host, echo.port), bound=3.0)
                   for _ in range(3)]
            good = sum(1 for r in res if r[0] and r[1] <= 0.1)
            worst = max(r[1] for r in res)
            lines.append(("lookups: %s" % label, "%d/3 within 100 ms (%s); "
                          "DNS queries left unanswered: %d" % (
                              good, "max " + ms(worst) if worst < 3 else
                              "probe gave up at 3 s", dns.queries),
                          "each <= 100 ms", verdict(good == 3)))
        self.end_flood(flood)
        return lines + [witness.line("lookups")]

    def row_scale(self, env):
        mport = env.free_port()
        relay = self.start_relay(env, ["--metrics-addr",
                                       "127.0.0.1:%d" % mport])
        relay.mport = mport
        witness = Witness(self.ctl, env, relay)
        hello = env.start([self.gogen, "serve", "-kind", "hello"],
                          name="hello", stdout=subprocess.PIPE)
        hello_addr = hello.readline(timeout=10).split()[1]
        time.sleep(1)
        base = rss_mib(relay)
        holders = [self.gen(env, "hold", relay, [
            "-tunnels", 5000, "-streams", 10, "-par", 32, "-deadline", 75],
            "hold-%d" % i, hello_addr) for i in range(2)]
        tun = [self.result(h, 120) for h in holders]
        up = sum(t["up"] for t in tun)
        time.sleep(2)
        with_tunnels = rss_mib(relay)
        per_tunnel = (with_tunnels - base) * 1024 / max(1, up)
        # The witness is a tunnel too: 9 999 of these make 10 000.
        lines = [("scale: idle tunnels", "%d/10000 up (+1 witness); %.1f "
                  "KiB each (RSS %.0f -> %.0f MiB)" % (
                      up, per_tunnel, base, with_tunnels),
                  "10 000 up, <= 24 KiB each",
                  verdict(up + 1 >= 10000 and per_tunnel <= 24))]
        lines += self.scale_streams(relay, holders, tun, with_tunnels)
        for h in holders:
            h.stdin.close()
        lines.append(witness.line("scale"))
        for h in holders + [relay]:
            h.stop()
        lines += self.scale_storm(env, hello_addr)
        return lines

    def scale_streams(self, relay, holders, tun, before):
        """Idle streams, 10 a tunnel as in 100 000 over 10 000 (so each
        tunnel's own cost of carrying data is shared as it would be).
        Every stream holds a socket to its target, so the process's
        descriptor limit (20 000 here) caps them, not memory: the row
        asks for what the relay's descriptor budget admits with 10 000
        tunnels up (its pool below the high water, 7/8, less the
        tunnels' own sockets), and reports what the memory ledger
        charges a stream, which is what 100 000 would cost."""
        gauges = scrape(relay.mport)
        fds_pool, fds_held = gauges["beacon_fds_limit"], \
            gauges["beacon_fds_held"]
        mem_before = gauges["beacon_memory_held_bytes"]
        up = sum(t["up"] for t in tun)
        fits = int(fds_pool - fds_pool // 8 - fds_held)
        asked = max(0, min(100000, 10 * up, fits))
        share = [asked * t["up"] // max(1, up) for t in tun]
        share[0] += asked - sum(share)
        for h, n in zip(holders, share):
            h.stdin.write(b"%d\n" % max(1, n))
            h.stdin.flush()
        res = [self.result(h, 180) for h in holders]
        n = sum(r["up"] for r in res)
        # Idle: each tunnel's keep-alive tick (20 s) frees its output
        # queue's chunk, as it does for any tunnel that went quiet.
        time.sleep(22)
        after = rss_mib(relay)
        gauges = scrape(relay.mport)
        limit = gauges["beacon_memory_limit_bytes"]
        charge = (gauges["beacon_memory_held_bytes"] - mem_before) / max(1, n)
        per_stream = (after - before) * 1024 / max(1, n)
        # 100 000 streams at this charge, with the tunnels' own charge.
        need = mem_before + 100000 * charge
        return [("scale: idle streams", "%d/%d up (what the fd budget admits"
                 " beside %d tunnels: %d of %d fds), 10 a tunnel, %.2f KiB "
                 "RSS each" % (n, asked, up + 1, fds_held, fds_pool,
                               per_stream),
                 "<= 2 KiB each, none refused",
                 verdict(n >= 1000 and n == asked and per_stream <= 2)),
                ("scale: 100 000 in budget", "ledger %.2f KiB a stream: "
                 "100 000 streams + the tunnels hold %.0f MiB of the default"
                 " --memory-limit %.0f MiB (RAM/4); fits the default of "
                 "%.1f GiB of RAM" % (
                     charge / 1024, need / 2**20, limit / 2**20,
                     need * 8 / 7 * 4 / 2**30),
                 "fit the default limit",
                 verdict(need <= limit - limit / 8))]

    def scale_storm(self, env, hello_addr):
        lines, rate = [], {}
        for which in ("beacon", "go"):
            relay = self.start_relay(env, name="relay-storm") \
                if which == "beacon" else self.start_go_relay(env)
            c0 = relay.cpu_seconds()
            h = self.gen(env, "hold", relay, ["-tunnels", 1000, "-par", 16,
                                              "-deadline", 30],
                         "rate-" + which, hello_addr)
            r = self.result(h, 60)
            rate[which] = r["up"] / max(1e-6, relay.cpu_seconds() - c0)
            h.stdin.close()
            h.stop()
            if which == "beacon":
                # All dial at once; each refused one retries with
                # back-off for 30 s, so the figure says when all were up.
                # Each controller from its own address, as a fleet's
                # are (the per-source handshake cap is for one address).
                h = self.gen(env, "hold", relay, [
                    "-tunnels", 5000, "-par", 5000, "-deadline", 30,
                    "-mark", 10, "-sources", 5000], "storm", hello_addr)
                c0 = relay.cpu_seconds()
                r = self.result(h, 90)
                lines.append(("scale: reconnect storm", "%d/5000 up within "
                              "10 s, %d by %.1f s (%d attempts; relay CPU "
                              "%.1f s)" % (r["by_mark"], r["up"],
                                           r["seconds"], r["attempts"],
                                           relay.cpu_seconds() - c0),
                              "5 000 up within 10 s",
                              verdict(r["by_mark"] == 5000)))
                h.stdin.close()
                h.stop()
            relay.stop()
        lines.append(("scale: handshakes/CPU-s", "beacon %.0f, Go relay %.0f"
                      " (1 000 tunnels, 16 at once)" % (rate["beacon"],
                                                        rate["go"]),
                      "side by side", "info"))
        return lines

    def row_metrics(self, env):
        mport = env.free_port()
        relay = self.start_relay(env, ["--metrics-addr",
                                       "127.0.0.1:%d" % mport])
        witness = Witness(self.ctl, env, relay)
        lines = []
        for n in (32, 256):
            idle = [socket.create_connection(("127.0.0.1", mport), 5)
                    for _ in range(n)]
            time.sleep(0.5)
            res = []
            for path in ("/metrics", "/healthz") * 3:
                res.append(http_get(mport, path))
                time.sleep(0.2)
            for s in idle:
                s.close()
            good = sum(1 for ok, _ in res if ok)
            lines.append(("metrics: %d idle conns" % n, "%d/%d GETs answered"
                          " within 1 s (max %s)" % (
                              good, len(res), ms(max(e for _, e in res))),
                          "all answered, each <= 1 s",
                          verdict(good == len(res))))
        return lines + [witness.line("metrics")]

    # ---- running -------------------------------------------------------

    def run_row(self, name):
        env = self.env(name)
        expired = threading.Event()

        def overrun():
            expired.set()
            log("%s: over its %d s bound, stopping its processes" %
                (name, ROWS[name]))
            env.stop_all(grace=1.0)
        timer = threading.Timer(ROWS[name], overrun)
        timer.daemon = True
        timer.start()
        t0 = time.monotonic()
        log("row %s (bound %d s)" % (name, ROWS[name]))
        try:
            lines = getattr(self, "row_" + name)(env)
        except Unsupported as e:
            lines = [(name, "relay rejects %s" % e, "", "unsupported")]
        except Exception as e:  # noqa: BLE001 - one row fails, not the run
            env.dump_logs()
            why = "timed out after %d s" % ROWS[name] if expired.is_set() \
                else "%s: %s" % (type(e).__name__, e)
            lines = [(name, why[:200], "", "fail")]
        finally:
            timer.cancel()
            env.close()
        log("row %s: %.0f s" % (name, time.monotonic() - t0))
        return lines


def metrics_text(port):
    """The relay's /metrics answer (headers included), as text."""
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.settimeout(10)
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def scrape(port):
    """The relay's gauges and counters without labels, by name."""
    out = {}
    for line in metrics_text(port).splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and "{" not in line:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def http_get(port, path, bound=1.0):
    """(answered 200 within bound, seconds)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), bound) as s:
            s.settimeout(bound)
            s.sendall(b"GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" %
                      path.encode())
            head = s.recv(64)
        ok = head.startswith(b"HTTP/1.") and b" 200" in head[:13]
    except OSError:
        ok = False
    el = time.monotonic() - t0
    return ok and el <= bound, el


class SilentDNS:
    """A name server that reads every query and never answers (UDP and
    TCP on 127.0.0.1:53, inside the lookups row's own namespace)."""

    def __init__(self):
        self.queries = 0
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 53))
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 53))
        self.tcp.listen(64)
        self.held = []
        self.stopping = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ)
        sel.register(self.tcp, selectors.EVENT_READ)
        while not self.stopping:
            for key, _ in sel.select(0.2):
                try:
                    if key.fileobj is self.udp:
                        self.udp.recv(4096)
                        self.queries += 1
                    else:
                        self.held.append(self.tcp.accept()[0])
                        self.queries += 1
                except OSError:
                    pass

    def close(self):
        self.stopping = True
        for s in self.held + [self.udp, self.tcp]:
            s.close()


# ---- this script's own flooders (run as children) ------------------------

def _stdin_closed(sel, timeout):
    for key, _ in sel.select(timeout):
        if key.data == "stdin" and not os.read(0, 4096):
            return True
    return False


def flood_idle(addr, src, count):
    """Holds `count` connections from src that never send a byte; those
    the relay closes are reopened, at most REOPEN_RATE a second (so this
    stays an idle flood, not a connection storm). Ends when stdin does."""
    host, port = addr.rsplit(":", 1)
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, "stdin")
    held, opened = set(), 0
    allowance, t_last = float(count), time.monotonic()
    while True:
        now = time.monotonic()
        allowance = min(count, allowance + REOPEN_RATE * (now - t_last))
        t_last = now
        while len(held) < count and allowance >= 1:
            allowance -= 1
            s = socket.socket()
            s.setblocking(False)
            try:
                s.setsockopt(socket.SOL_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
                s.bind((src, 0))
                s.connect_ex((host, int(port)))
            except OSError:
                s.close()
                break
            sel.register(s, selectors.EVENT_READ, "conn")
            held.add(s)
            opened += 1
        for key, _ in sel.select(0.2):
            if key.data == "stdin":
                if not os.read(0, 4096):
                    print(json.dumps({"held": len(held),
                                      "reopened": opened - count}))
                    return
                continue
            s = key.fileobj
            try:
                alive = s.recv(4096)
            except OSError:
                alive = b""
            if not alive:
                sel.unregister(s)
                held.discard(s)
                s.close()


def flood_garbage(addr, src, rate):
    """rate connections/s from src, each sending a TLS record header and
    512 random bytes, then closing. Ends when stdin does."""
    host, port = addr.rsplit(":", 1)
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, "stdin")
    sent = failed = 0
    pending = {}
    t_next = time.monotonic()
    while True:
        now = time.monotonic()
        while t_next <= now:
            t_next += 1.0 / rate
            s = socket.socket()
            s.setblocking(False)
            try:
                s.setsockopt(socket.SOL_IP, 24, 1)
                s.bind((src, 0))
                s.connect_ex((host, int(port)))
            except OSError:
                s.close()
                failed += 1
                continue
            sel.register(s, selectors.EVENT_WRITE, "conn")
            pending[s] = now + 1.0
        for key, _ in sel.select(max(0.0, t_next - time.monotonic())):
            if key.data == "stdin":
                if not os.read(0, 4096):
                    print(json.dumps({"sent": sent, "failed": failed}))
                    return
                continue
            s = key.fileobj
            try:
                s.send(GARBAGE_HEAD + os.urandom(512))
                sent += 1
            except OSError:
                failed += 1
            sel.unregister(s)
            del pending[s]
            s.close()
        for s, dl in list(pending.items()):
            if dl < time.monotonic():
                sel.unregister(s)
                del pending[s]
                s.close()
                failed += 1


# ---- output ----------------------------------------------------------------

def table(lines):
    head = ("row", "figure", "target", "verdict")
    w = [max(len(str(x[i])) for x in [head] + lines) for i in range(4)]
    out = ["| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) +
           " |" for r in [head, tuple("-" * n for n in w)] + lines]
    return "\n".join(out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("_idle", "_garbage"):
        fn = flood_idle if sys.argv[1] == "_idle" else flood_garbage
        fn(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rows", default=",".join(ROWS),
                    help="comma-separated, of: " + ", ".join(ROWS))
    ap.add_argument("--out", help="also write the table to this file")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    ap.add_argument("--pki", help=argparse.SUPPRESS)
    ap.add_argument("--gobin", help=argparse.SUPPRESS)
    ns = ap.parse_args()
    rows = [r.strip() for r in ns.rows.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROWS]
    if bad:
        ap.error("unknown rows %s (have: %s)" % (bad, ", ".join(ROWS)))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    h = Hostile(ns)
    try:
        if ns.inner:
            env = h.env(ns.inner + "-inner")
            try:
                subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
                print(json.dumps(getattr(h, "row_%s_inner" % ns.inner)(env)))
            finally:
                env.close()
            return 0
        t0 = time.monotonic()
        lines = []
        for r in rows:
            lines += h.run_row(r)
        text = table(lines)
        print(text)
        print("\n%d rows in %.0f s; relay %s" % (
            len(rows), time.monotonic() - t0, h.beacon))
        if ns.out:
            with open(ns.out, "w") as f:
                f.write(text + "\n")
        return 1 if any(x[3] == "fail" for x in lines) else 0
    finally:
        h.top.close()


if __name__ == "__main__":
    sys.exit(main())
