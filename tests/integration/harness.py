"""Integration-test harness for beacon (standard library only).

A test file tests/integration/test_<file>.py holds cases and ends with
`harness.main()`:

    import harness
    from backends import Echo

    @harness.slow                      # CTest label "slow"
    def test_round_trip(env):
        relay = env.start_relay()
        with Echo() as echo:
            r = env.tpeer("echo", "--target", echo.addr, "--streams", "4",
                          "--bytes", "100000", relay=relay)
            harness.check(r["ok"], r)

    if __name__ == "__main__":
        harness.main()

CMake registers every `def test_<case>(` as CTest
`integration.<file>.<case>` running `python3 test_<file>.py test_<case>`
(main() takes the name with or without the test_ prefix).
Decorators read by CMake (put them directly above the def):
    @harness.slow  -> label slow     @harness.soak  -> label soak
    @harness.bench -> label bench    @harness.nosan -> label nosan
    @harness.heavy -> RUN_SERIAL (never in parallel with other tests)
    @harness.timeout(S) -> the case's wall-clock bound (default 240 s;
                           the CTest TIMEOUT becomes S + 60)
`harness.skip(reason)` ends the case with exit code 77 (CTest: skipped)
and a loud message. A failure prints the traceback and the tail of every
process log, then exits 1. BEACON_KEEP_TMP=1 keeps the temporary dir.

Environment (set by CTest): BEACON_BIN, BEACON_TPEER, BEACON_BUILD_DIR,
BEACON_SRC_DIR, BEACON_GO_PEERS_DIR, BEACON_SANITIZED=1 in sanitizer
builds (`harness.SANITIZED`).

Env (one per case, cleaned up afterwards):
    env.tmp, env.path(*parts)          temporary dir / a path in it
    env.bin, env.tpeer_bin             beacon and tpeer executables
    env.free_port()                    a free 127.0.0.1 TCP port
    env.start(argv, name=, env=, stdin=, stdout=, cwd=) -> Proc
        stderr goes to <tmp>/<name>.log; stdout to <name>.out unless
        stdout=subprocess.PIPE; env= entries are added to os.environ.
    env.run(argv, timeout=60, input=None, check=False, env=None)
        -> subprocess.CompletedProcess (bytes stdout/stderr captured)
    env.beacon(*args, **run_kw)        env.run([BEACON_BIN, *args])
    env.pki() -> dir                   `beacon pki init` (cached): holds
        root-ca, fleet-ca, relay, controller .crt/.key; usable as the
        --config-dir of both egress and connect/forward
    env.issue(name, cn=, usage=, san=, not_before_days=, days=,
              self_signed_ca=False, ca_dir=, ca_name=, out_dir=)
        -> (crt, key)                  `beacon pki issue`
    env.config_dir(name, {dest: src})  a dir holding copies of files
    env.start_relay(extra_args=(), config_dir=None, workers=1, name=,
                    port=None, env=None, allow_loopback=True) -> Proc
        `beacon egress` on 127.0.0.1:<port>, waits until it listens;
        Proc.port, Proc.addr ("127.0.0.1:<port>")
    env.tpeer(*scenario, relay=, config_dir=, cert=, key=, ca=,
              expect_host=, timeout=120, expect_rc=0) -> dict
        runs tpeer and returns its JSON line; expect_rc=None: any rc,
        the dict then also holds "rc" and "stderr"
    env.start_tpeer(*scenario, relay=, ..., name=) -> Proc with stdin
        and stdout pipes: for `hold`, p.readline() -> "ready ACKED RESET",
        p.stdin.close() ends it, p.readline() -> its JSON line
    tpeer scenarios: see `tpeer --help` (tests/integration/tpeer/main.c)
    env.add_cleanup(fn)                called at teardown, LIFO
    env.use(ctx) -> ctx.__enter__()    exit at teardown (backends, proxy)

Proc: .pid .name .argv .popen .stdin .stdout .port .addr .log_path
    wait_log(regex, timeout=10) -> re.Match (fails with the log on timeout)
    readline(timeout=10) -> str | None   (stdout=subprocess.PIPE)
    log_text(), out_text(), alive(), wait(timeout) -> rc
    stop(sig=SIGTERM, timeout=10) -> rc (SIGKILL after timeout)
    kill(), send_signal(sig), rss_kib(), fd_count(), socket_inodes(),
    cpu_seconds(),
    threads(), listening(port)

Helpers: check(cond, msg), check_eq(a, b, msg), eventually(fn,
timeout=10, interval=0.05, msg=None) -> fn's first truthy result,
wait_port(host, port, timeout=10), random_bytes(n, seed=0),
pattern_chunks(n, seed=0, chunk=65536), sha256_hex(data),
sha256_stream(fileobj_or_socket, limit=None) -> (count, hexdigest),
send_pattern(sock, n, seed=0) -> hexdigest, skip(reason), Failure.
"""

import ctypes
import hashlib
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SKIP_CODE = 77
DEFAULT_TIMEOUT = 240
LOOPBACK = "127.0.0.1"
SANITIZED = os.environ.get("BEACON_SANITIZED") == "1"
HERE = os.path.dirname(os.path.abspath(__file__))


class Failure(AssertionError):
    pass


class Skip(Exception):
    pass


# ---- decorators (read by CMakeLists.txt, see the top of this file) --------

def _label(name):
    def deco(fn):
        fn.beacon_labels = getattr(fn, "beacon_labels", ()) + (name,)
        return fn
    deco.__name__ = name
    return deco


slow = _label("slow")
soak = _label("soak")
bench = _label("bench")
nosan = _label("nosan")
heavy = _label("heavy")


def timeout(seconds):
    def deco(fn):
        fn.beacon_timeout = seconds
        return fn
    return deco


# ---- assertions -----------------------------------------------------------

def skip(reason):
    raise Skip(reason)


def check(cond, msg="check failed"):
    if not cond:
        raise Failure(msg)


def check_eq(got, want, msg=""):
    if got != want:
        raise Failure("%s: got %r, want %r" % (msg or "mismatch", got, want))


def eventually(fn, timeout=10.0, interval=0.05, msg=None):
    """Polls fn until it returns a truthy value (returned) or raises
    Failure after timeout seconds. Exceptions from fn count as falsy."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except Exception as e:  # noqa: BLE001 - retried until deadline
            last = e
        if time.monotonic() >= deadline:
            raise Failure("%s (after %.1fs, last: %r)" %
                          (msg or "condition never became true",
                           timeout, last))
        time.sleep(interval)


def wait_port(host, port, timeout=10.0):
    """Waits until host:port accepts a TCP connection."""
    def probe():
        with socket.create_connection((host, port), timeout=1):
            return True
    eventually(probe, timeout, msg="%s:%d never accepted" % (host, port))


# ---- deterministic data and checksums --------------------------------------

def pattern_chunks(n, seed=0, chunk=65536):
    """Yields n deterministic pseudo-random bytes in chunks (fast: about
    1 GB/s). The concatenation is random_bytes(n, seed)."""
    rng = random.Random(seed)
    left = n
    while left > 0:
        block = rng.randbytes(chunk)
        if left < chunk:
            block = block[:left]
        left -= len(block)
        yield block


def random_bytes(n, seed=0):
    return b"".join(pattern_chunks(n, seed))


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def pattern_sha256(n, seed=0):
    h = hashlib.sha256()
    for b in pattern_chunks(n, seed):
        h.update(b)
    return h.hexdigest()


def sha256_stream(src, limit=None, bufsize=65536):
    """Reads a socket or binary file object to EOF (or limit bytes);
    returns (count, sha256 hex)."""
    h = hashlib.sha256()
    count = 0
    read = src.recv if hasattr(src, "recv") else src.read
    while limit is None or count < limit:
        want = bufsize if limit is None else min(bufsize, limit - count)
        b = read(want)
        if not b:
            break
        h.update(b)
        count += len(b)
    return count, h.hexdigest()


def send_pattern(sock, n, seed=0):
    """Sends random_bytes(n, seed) on a socket; returns its sha256 hex."""
    h = hashlib.sha256()
    for b in pattern_chunks(n, seed):
        sock.sendall(b)
        h.update(b)
    return h.hexdigest()


def recv_exact(sock, n):
    """Up to n bytes from a socket: fewer only when it reached EOF."""
    buf = bytearray()
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            break
        buf += b
    return bytes(buf)


def unshare_for_private_hosts(env):
    """The unshare(1) path for a test that binds an /etc/hosts of its own
    in a private mount namespace; skips the case when that cannot be."""
    import shutil
    unshare = shutil.which("unshare")
    if not unshare or os.geteuid() != 0:
        skip("needs unshare and root for a private /etc/hosts")
    probe = env.run([unshare, "-m", "true"], timeout=20)
    if probe.returncode:
        skip("cannot make a mount namespace: %s" %
             probe.stderr.decode().strip())
    return unshare


def private_resolver(inside, resolv_conf, hosts):
    """A decorator: runs the case again in `unshare -mn` (a mount and
    network namespace of its own, lo up) with resolv_conf and hosts bound
    over /etc/resolv.conf and /etc/hosts; inside, where the environment
    variable `inside` is "1", the case runs as usual. Nothing the case
    resolves can leave the machine."""
    def wrap(fn):
        def outer(env):
            if os.environ.get(inside) == "1":
                return fn(env)
            unshare = unshare_for_private_hosts(env)
            if not shutil.which("ip"):
                skip("needs ip(8) to bring up lo in the namespace")
            probe = env.run([unshare, "-mn", "true"], timeout=20)
            if probe.returncode:
                skip("cannot make a mount and network namespace: %s" %
                     probe.stderr.decode().strip())
            resolv_path, hosts_path = env.path("resolv.conf"), \
                env.path("hosts")
            with open(resolv_path, "w") as f:
                f.write(resolv_conf)
            with open(hosts_path, "w") as f:
                f.write(hosts)
            script = os.path.abspath(sys.modules[fn.__module__].__file__)
            inner = ("mount --bind %s /etc/resolv.conf && "
                     "mount --bind %s /etc/hosts && ip link set lo up && "
                     "exec %s %s %s" % (resolv_path, hosts_path,
                                        sys.executable, script,
                                        fn.__name__))
            bound = getattr(fn, "beacon_timeout", 120)
            r = env.run([unshare, "-mn", "--propagation", "private", "sh",
                         "-c", inner], timeout=bound, env={inside: "1"})
            sys.stdout.write(r.stdout.decode(errors="replace"))
            sys.stderr.write(r.stderr.decode(errors="replace"))
            if r.returncode == SKIP_CODE:
                skip("inside the namespace")
            check_eq(r.returncode, 0, "the case inside the namespace")
        outer.__name__ = fn.__name__
        outer.beacon_timeout = getattr(fn, "beacon_timeout", 120)
        return outer
    return wrap


# ---- ports ---------------------------------------------------------------

_given_ports = set()
_port_lock = threading.Lock()


def free_port():
    """A TCP port free on 127.0.0.1 and ::1. Chosen below the kernel's
    ephemeral range so outgoing connections cannot take it before the
    process under test binds it; never handed out twice by one harness."""
    lo, hi = 10000, 32000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_lo = int(f.read().split()[0])
        hi = min(hi, eph_lo - 1)
    except (OSError, ValueError, IndexError):
        pass
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(lo, hi)
        with _port_lock:
            if port in _given_ports:
                continue
        if _bindable(socket.AF_INET, LOOPBACK, port) and \
                _bindable(socket.AF_INET6, "::1", port, optional=True):
            with _port_lock:
                _given_ports.add(port)
            return port
    # Fall back to the kernel's choice (tiny reuse race).
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _bindable(family, host, port, optional=False):
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return optional
    try:
        s.bind((host, port))
        return True
    except OSError as e:
        return optional and e.errno == 99  # EADDRNOTAVAIL: no ::1
    finally:
        s.close()


# ---- processes -----------------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


def _die_with_parent():
    # Runs in the child: SIGKILL it if the harness dies (CTest timeout),
    # so no process outlives its test even when cleanup cannot run.
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _preexec():
    # PR_SET_PDEATHSIG fires when the forking *thread* exits, so only a
    # child of the main thread gets it; Env.close() still ends the rest.
    if threading.current_thread() is threading.main_thread():
        return _die_with_parent
    return None


class Proc:
    """A process started by Env.start(); always cleaned up by PID."""

    def __init__(self, popen, name, argv, log_path, out_path):
        self.popen = popen
        self.pid = popen.pid
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.out_path = out_path
        self.stdin = popen.stdin
        self.stdout = popen.stdout
        self.port = None
        self.addr = None
        self._rbuf = b""

    def __repr__(self):
        return "<Proc %s pid %d>" % (self.name, self.pid)

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def wait(self, timeout=10.0):
        """Waits for exit; returns the exit code (negative: signal)."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s (pid %d) still running after %.1fs" %
                          (self.name, self.pid, timeout)) from None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig, waits up to timeout, then SIGKILLs. Returns the exit
        code (negative for a signal, as subprocess reports it)."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        for f in (self.popen.stdin, self.popen.stdout):
            if f:
                try:
                    f.close()
                except OSError:
                    pass
        return self.popen.poll()

    def kill(self):
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass
        return self.popen.poll()

    def readline(self, timeout=10.0):
        """One line of stdout (started with stdout=subprocess.PIPE), as
        str without the newline; None at EOF. Fails after timeout. Use
        this or proc.stdout, not both."""
        fd = self.popen.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._rbuf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("%s: no line on stdout after %.1fs" %
                              (self.name, timeout))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                b = os.read(fd, 65536)
                if not b:
                    if not self._rbuf:
                        return None
                    line, self._rbuf = self._rbuf, b""
                    return line.decode(errors="replace")
                self._rbuf += b
        line, _, self._rbuf = self._rbuf.partition(b"\n")
        return line.decode(errors="replace")

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def out_text(self):
        if not self.out_path:
            return ""
        try:
            with open(self.out_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, regex, timeout=10.0, start=0):
        """Waits until the stderr log (from character offset start)
        matches regex; returns the match. Fails early if the process
        exits without a match."""
        pat = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            m = pat.search(text, start)
            if m:
                return m
            if not self.alive():
                # One more read: the exit may have flushed the line.
                m = pat.search(self.log_text(), start)
                if m:
                    return m
                raise Failure("%s exited (rc %s) before logging /%s/:\n%s" %
                              (self.name, self.popen.poll(), regex,
                               _tail(self.log_text())))
            if time.monotonic() >= deadline:
                raise Failure("%s: no /%s/ in the log after %.1fs:\n%s" %
                              (self.name, regex, timeout, _tail(text)))
            time.sleep(0.02)

    def _proc(self, name):
        with open("/proc/%d/%s" % (self.pid, name)) as f:
            return f.read()

    def rss_kib(self):
        for line in self._proc("status").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def threads(self):
        for line in self._proc("status").splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        return 0

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def cpu_seconds(self):
        """User + system CPU time used so far."""
        stat = self._proc("stat")
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def socket_inodes(self):
        """Inodes of the sockets this process holds open (empty once it
        is gone)."""
        inodes = set()
        try:
            for fd in os.listdir("/proc/%d/fd" % self.pid):
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (self.pid, fd))
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            pass
        return inodes

    def _tcp_rows(self):
        """(state, local port, remote port) of each TCP socket this
        process holds."""
        inodes = self.socket_inodes()
        rows = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6") if inodes else ():
            try:
                with open(table) as f:
                    lines = f.read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if len(cols) >= 10 and cols[9] in inodes:
                    rows.append((cols[3], int(cols[1].rsplit(":", 1)[1], 16),
                                 int(cols[2].rsplit(":", 1)[1], 16)))
        return rows

    def listening(self, port):
        """True when this process owns a TCP socket listening on port."""
        return any(st == "0A" and lp == port  # 0A = LISTEN
                   for st, lp, _ in self._tcp_rows())

    def dialling(self, port):
        """True when this process holds a TCP socket towards port (in any
        state: a connect that hangs counts)."""
        return any(st != "0A" and rp == port
                   for st, _, rp in self._tcp_rows())


def _tail(text, lines=60):
    ls = text.splitlines()
    if len(ls) > lines:
        ls = ["... (%d lines omitted)" % (len(ls) - lines)] + ls[-lines:]
    return "\n".join(ls)


# ---- the per-case environment ---------------------------------------------

class Env:
    def __init__(self, name="case"):
        self.tmp = tempfile.mkdtemp(prefix="beacon-%s-" % name)
        self.bin = os.environ.get("BEACON_BIN") or \
            _first_existing(os.path.join(os.getcwd(), "beacon"))
        self.tpeer_bin = os.environ.get("BEACON_TPEER") or \
            _first_existing(os.path.join(os.getcwd(), "tpeer"))
        self.build_dir = os.environ.get("BEACON_BUILD_DIR", os.getcwd())
        self.src_dir = os.environ.get("BEACON_SRC_DIR",
                                      os.path.dirname(os.path.dirname(HERE)))
        self.go_peers_dir = os.environ.get(
            "BEACON_GO_PEERS_DIR", os.path.join(self.build_dir, "go-peers"))
        self.procs = []
        self._cleanups = []
        self._pki = None
        self._names = {}
        self._lock = threading.Lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def add_cleanup(self, fn):
        self._cleanups.append(fn)

    def use(self, ctx):
        """Enters a context manager now and exits it at teardown."""
        v = ctx.__enter__()
        self.add_cleanup(lambda: ctx.__exit__(None, None, None))
        return v

    def free_port(self):
        return free_port()

    def _unique(self, name):
        with self._lock:
            n = self._names.get(name, 0)
            self._names[name] = n + 1
        return name if n == 0 else "%s.%d" % (name, n)

    # -- processes --

    def start(self, argv, name=None, env=None, stdin=subprocess.DEVNULL,
              stdout=None, cwd=None):
        argv = [str(a) for a in argv]
        name = self._unique(name or os.path.basename(argv[0]))
        log_path = self.path(name + ".log")
        out_path = None
        penv = None
        if env:
            penv = dict(os.environ)
            penv.update({k: str(v) for k, v in env.items()})
        logf = open(log_path, "wb")
        outf = None
        if stdout is None:
            out_path = self.path(name + ".out")
            outf = open(out_path, "wb")
            stdout = outf
        try:
            p = subprocess.Popen(argv, stdin=stdin, stdout=stdout,
                                 stderr=logf, env=penv, cwd=cwd,
                                 preexec_fn=_preexec())
        except OSError as e:
            raise Failure("cannot start %s: %s" % (argv[0], e)) from None
        finally:
            logf.close()
            if outf:
                outf.close()
        proc = Proc(p, name, argv, log_path, out_path)
        with self._lock:
            self.procs.append(proc)
        return proc

    def run(self, argv, timeout=60, input=None, check=False, env=None,
            cwd=None):
        argv = [str(a) for a in argv]
        penv = None
        if env:
            penv = dict(os.environ)
            penv.update({k: str(v) for k, v in env.items()})
        try:
            r = subprocess.run(argv, input=input, capture_output=True,
                               timeout=timeout, env=penv, cwd=cwd,
                               stdin=None if input is not None
                               else subprocess.DEVNULL,
                               preexec_fn=_preexec())
        except subprocess.TimeoutExpired:
            raise Failure("%s timed out after %ss" %
                          (" ".join(argv), timeout)) from None
        if check and r.returncode != 0:
            raise Failure("%s exited %d:\n%s" %
                          (" ".join(argv), r.returncode,
                           r.stderr.decode(errors="replace")))
        return r

    def need_bin(self):
        if not self.bin or not os.path.exists(self.bin):
            raise Failure("beacon binary not found: set BEACON_BIN")
        return self.bin

    def beacon(self, *args, **kw):
        return self.run([self.need_bin()] + list(args), **kw)

    # -- PKI --

    def pki(self):
        """`beacon pki init` once per Env; returns the directory."""
        if self._pki is None:
            d = self.path("pki")
            self.beacon("pki", "init", d, check=True)
            self._pki = d
        return self._pki

    def issue(self, name, cn=None, usage=None, san=None,
              not_before_days=None, days=None, self_signed_ca=False,
              ca_dir=None, ca_name=None, out_dir=None):
        """`beacon pki issue`; returns (crt path, key path)."""
        out_dir = out_dir or self.path("certs")
        os.makedirs(out_dir, exist_ok=True)
        args = ["pki", "issue", "--out-dir", out_dir, "--name", name]
        if self_signed_ca:
            args.append("--self-signed-ca")
        else:
            args += ["--ca-dir", ca_dir or self.pki()]
        for flag, v in (("--cn", cn), ("--usage", usage),
                        ("--ca-name", ca_name),
                        ("--not-before-days", not_before_days),
                        ("--days", days)):
            if v is not None:
                args += [flag, str(v)]
        if san is not None:
            args += ["--san", san if isinstance(san, str) else ",".join(san)]
        self.beacon(*args, check=True)
        return (os.path.join(out_dir, name + ".crt"),
                os.path.join(out_dir, name + ".key"))

    def config_dir(self, name, files):
        """Makes <tmp>/<name> holding copies: files = {dest: src path}."""
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        for dest, src in files.items():
            shutil.copyfile(src, os.path.join(d, dest))
            if dest.endswith(".key"):
                os.chmod(os.path.join(d, dest), 0o600)
        return d

    # -- config files --

    def write_config(self, name, text, mode=0o644):
        """Writes <tmp>/<name> through a rename, as an editor or a config
        management tool would, so a relay rereading it on SIGHUP never
        reads half of it. Returns its path."""
        path = self.path(name)
        with open(path + ".new", "w") as f:
            f.write(text)
        os.chmod(path + ".new", mode)
        os.rename(path + ".new", path)
        return path

    def relay_config(self, port, rules="", extra="", level="debug",
                     name="egress.conf"):
        """Writes an egress config file (write_config()) for a relay on
        127.0.0.1:port with the test PKI and one worker that may dial the
        loopback backends: rules go before the allow lines (first match
        wins), extra after them. Comments and a blank line show that the
        file may have them. Returns its path."""
        return self.write_config(
            name,
            "# a relay of this test\n"
            "config-dir %s\n"
            "tunnel-addr %s:%d   # loopback only\n"
            "\n"
            "workers 1\n"
            "log-level %s\n"
            "%s"
            "allow 127.0.0.0/8\n"
            "allow ::1/128\n"
            "%s" % (self.pki(), LOOPBACK, port, level, rules, extra))

    # -- the relay --

    def start_relay(self, extra_args=(), config_dir=None, workers=1,
                    name="relay", port=None, env=None, allow_loopback=True,
                    wait=True, timeout=20.0):
        """Starts `beacon egress` on 127.0.0.1 and waits until it listens.
        allow_loopback adds --allow 127.0.0.0/8 --allow ::1/128 so the
        relay may dial the loopback backends."""
        port = port or self.free_port()
        argv = [self.need_bin(), "egress",
                "--config-dir", config_dir or self.pki(),
                "--tunnel-addr", "%s:%d" % (LOOPBACK, port)]
        if allow_loopback:
            argv += ["--allow", "127.0.0.0/8", "--allow", "::1/128"]
        argv += ["--log-level", "debug"]
        if workers is not None:
            argv += ["--workers", str(workers)]
        argv += list(extra_args)
        p = self.start(argv, name=name, env=env)
        p.port = port
        p.addr = "%s:%d" % (LOOPBACK, port)
        if wait:
            self.wait_listening(p, port, timeout)
        return p

    def wait_listening(self, proc, port, timeout=20.0):
        """Waits until proc listens on port (read from /proc, so no probe
        connection shows up in the process's logs or counters)."""
        deadline = time.monotonic() + timeout
        while not proc.listening(port):
            if not proc.alive():
                raise Failure("%s exited (rc %s) before listening on %d:\n%s"
                              % (proc.name, proc.popen.poll(), port,
                                 _tail(proc.log_text())))
            if time.monotonic() >= deadline:
                raise Failure("%s not listening on %d after %.1fs:\n%s" %
                              (proc.name, port, timeout,
                               _tail(proc.log_text())))
            time.sleep(0.02)

    # -- tpeer --

    def _tpeer_argv(self, scenario, relay, config_dir, cert, key, ca,
                    expect_host):
        if not self.tpeer_bin or not os.path.exists(self.tpeer_bin):
            raise Failure("tpeer not found: set BEACON_TPEER")
        if relay is None:
            raise Failure("tpeer: relay= is required")
        addr = relay if isinstance(relay, str) else relay.addr
        if cert is None or key is None or ca is None:
            d = config_dir or self.pki()
            cert = cert or os.path.join(d, "controller.crt")
            key = key or os.path.join(d, "controller.key")
            ca = ca or os.path.join(d, "fleet-ca.crt")
        argv = [self.tpeer_bin, "--relay", addr, "--cert", cert,
                "--key", key, "--ca", ca]
        if expect_host:
            argv += ["--expect-host", expect_host]
        return argv + [str(a) for a in scenario]

    def tpeer(self, *scenario, relay=None, config_dir=None, cert=None,
              key=None, ca=None, expect_host=None, timeout=120,
              expect_rc=0):
        """Runs one tpeer scenario to completion; returns its JSON result.
        With expect_rc=None any exit code is accepted and the result also
        holds "rc" and "stderr"."""
        argv = self._tpeer_argv(scenario, relay, config_dir, cert, key, ca,
                                expect_host)
        r = self.run(argv, timeout=timeout)
        err = r.stderr.decode(errors="replace")
        out = r.stdout.decode(errors="replace").strip()
        if expect_rc is not None and r.returncode != expect_rc:
            raise Failure("tpeer %s: exit %d (want %d)\nstdout: %s\n"
                          "stderr:\n%s" % (" ".join(map(str, scenario)),
                                           r.returncode, expect_rc, out,
                                           _tail(err)))
        res = {}
        if out:
            try:
                res = json.loads(out.splitlines()[-1])
            except ValueError:
                raise Failure("tpeer printed no JSON: %r\nstderr:\n%s" %
                              (out, _tail(err))) from None
        if expect_rc is None:
            res["rc"] = r.returncode
            res["stderr"] = err
        return res

    def start_tpeer(self, *scenario, relay=None, config_dir=None, cert=None,
                    key=None, ca=None, expect_host=None, name="tpeer"):
        """Starts tpeer in the background with stdin and stdout pipes (for
        `hold`: proc.readline() gives "ready ACKED RESET", closing
        proc.stdin ends it, then proc.readline() gives the JSON)."""
        argv = self._tpeer_argv(scenario, relay, config_dir, cert, key, ca,
                                expect_host)
        return self.start(argv, name=name, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE)

    # -- teardown --

    def stop_all(self, grace=5.0):
        """SIGTERM every live process we started, SIGKILL after grace."""
        with self._lock:
            procs = list(self.procs)
        live = [p for p in procs if p.alive()]
        for p in live:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for p in live:
            try:
                p.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        for p in procs:
            p.stop(timeout=0)

    def dump_logs(self, out=sys.stderr):
        for p in list(self.procs):
            out.write("---- %s (pid %d, rc %s): %s\n" %
                      (p.name, p.pid, p.popen.poll(), " ".join(p.argv)))
            out.write(_tail(p.log_text()) + "\n")
            o = p.out_text()
            if o.strip():
                out.write("---- %s stdout\n%s\n" % (p.name, _tail(o, 20)))
        out.flush()

    def close(self):
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception:  # noqa: BLE001 - teardown must go on
                traceback.print_exc()
        self.stop_all()
        if os.environ.get("BEACON_KEEP_TMP") == "1":
            sys.stderr.write("harness: kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _first_existing(*paths):
    for p in paths:
        if os.path.exists(p):
            return p
    return None


# ---- entry point -----------------------------------------------------------

def _watchdog(env, name, seconds, done):
    if done.wait(seconds):
        return
    sys.stderr.write("\n!!!! harness: %s exceeded its %ds wall-clock bound"
                     "\n" % (name, seconds))
    for th_id, frame in sys._current_frames().items():
        if th_id == threading.main_thread().ident:
            sys.stderr.write("main thread at:\n" +
                             "".join(traceback.format_stack(frame)))
    env.dump_logs()
    env.stop_all(grace=2.0)
    if os.environ.get("BEACON_KEEP_TMP") != "1":
        shutil.rmtree(env.tmp, ignore_errors=True)
    sys.stderr.flush()
    os._exit(1)


def main(cases=None):
    """Runs the case named by argv[1] (without or with the test_ prefix)
    from the calling module; `--list` prints the case names."""
    if cases is None:
        cases = sys._getframe(1).f_globals
    names = sorted(k[5:] for k, v in cases.items()
                   if k.startswith("test_") and callable(v))
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: %s CASE | --list\ncases: %s\n" %
                         (sys.argv[0], " ".join(names)))
        sys.exit(2)
    if sys.argv[1] == "--list":
        print("\n".join(names))
        sys.exit(0)
    name = sys.argv[1]
    if name.startswith("test_"):
        name = name[5:]
    fn = cases.get("test_" + name)
    if not callable(fn):
        sys.stderr.write("no case %r; cases: %s\n" % (name, " ".join(names)))
        sys.exit(2)
    bound = getattr(fn, "beacon_timeout", DEFAULT_TIMEOUT)
    env = Env(name)
    done = threading.Event()
    threading.Thread(target=_watchdog, args=(env, name, bound, done),
                     daemon=True).start()
    t0 = time.monotonic()
    rc = 0
    try:
        fn(env)
        print("PASS %s (%.1fs)" % (name, time.monotonic() - t0))
    except Skip as e:
        rc = SKIP_CODE
        msg = "SKIPPED %s: %s" % (name, e)
        sys.stderr.write("\n%s\n%s\n%s\n" % ("*" * len(msg), msg,
                                             "*" * len(msg)))
        print(msg)
    except BaseException as e:  # noqa: BLE001 - report everything
        rc = 1
        traceback.print_exc()
        env.dump_logs()
        print("FAIL %s (%.1fs): %s" % (name, time.monotonic() - t0, e))
    finally:
        done.set()
        env.close()
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(rc)
