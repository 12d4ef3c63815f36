"""Shared helpers of the interop tests (standard library only).

A test file `test_interop_<x>.py` defines `test_<case>(env)` functions and
ends with `interop_util.main(globals())`; CTest runs `python3 FILE CASE`
(tests/interop/CMakeLists.txt). Exit code 77 means "skipped" and is always
accompanied by a loud message on stderr.

Environment: BEACON_GO_PEERS_DIR (go-relay, go-controller), BEACON_BIN,
BEACON_BUILD_DIR, BEACON_SRC_DIR.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SKIP = 77
LOOPBACK = "127.0.0.1"


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ---- deterministic payload (same bytes as go-controller's pattern) ---------

PERIOD = 65521


def pattern_block(seed):
    out = bytearray()
    ctr = 0
    while len(out) < PERIOD:
        out += hashlib.sha256(seed.to_bytes(8, "little") +
                              ctr.to_bytes(4, "little")).digest()
        ctr += 1
    return bytes(out[:PERIOD])


_XOR = [bytes(x ^ k for x in range(256)) for k in range(256)]


def pattern_chunks(seed, nbytes, size=256 * 1024):
    """Yield the first nbytes of the pattern for seed in chunks."""
    block = pattern_block(seed)
    off = 0
    pend = bytearray()
    while off < nbytes:
        seg = off // PERIOD
        i = off % PERIOD
        k = min(PERIOD - i, nbytes - off)
        pend += block[i:i + k].translate(_XOR[seg & 0xff])
        off += k
        if len(pend) >= size:
            yield bytes(pend)
            pend = bytearray()
    if pend:
        yield bytes(pend)


def pattern_sha(seed, nbytes):
    h = hashlib.sha256()
    for c in pattern_chunks(seed, nbytes):
        h.update(c)
    return h.hexdigest()


# ---- PKI with the openssl command line --------------------------------------

_EXT = """
[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[fleet]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[relay]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
authorityKeyIdentifier = keyid
[controller]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[node]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:node.example, IP:127.0.0.1
authorityKeyIdentifier = keyid
"""


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        raise Fail("openssl %s: %s" % (" ".join(args),
                                       r.stderr.decode(errors="replace")))


def make_pki(d):
    """Offline root -> Fleet CA (intermediate) -> relay / controller / node
    leaves, plus a second, unrelated Fleet CA's controller ("rogue"). Files
    follow DESIGN 1.1: relay.crt is the leaf followed by fleet-ca.crt."""
    if not shutil.which("openssl"):
        raise Skip("openssl command not found")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write(_EXT)

    def key(name):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", name + ".key", cwd=d)

    def selfsign(name, cn):
        key(name)
        _openssl("req", "-new", "-x509", "-key", name + ".key", "-subj",
                 "/CN=" + cn, "-days", "2", "-out", name + ".crt",
                 "-config", "ext.cnf", "-extensions", "root", cwd=d)

    def issue(name, cn, ca, ext):
        key(name)
        _openssl("req", "-new", "-key", name + ".key", "-subj", "/CN=" + cn,
                 "-config", "ext.cnf", "-out", name + ".csr", cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt",
                 "-CAkey", ca + ".key", "-CAcreateserial", "-days", "2",
                 "-extfile", "ext.cnf", "-extensions", ext,
                 "-out", name + ".crt", cwd=d)

    selfsign("root-ca", "beacon test root")
    issue("fleet-ca", "beacon test fleet CA", "root-ca", "fleet")
    issue("relay-leaf", "relay", "fleet-ca", "relay")
    issue("controller", "controller", "fleet-ca", "controller")
    issue("node", "node", "fleet-ca", "node")
    selfsign("rogue-root", "rogue root")
    issue("rogue-ca", "rogue fleet CA", "rogue-root", "fleet")
    issue("rogue-controller", "controller", "rogue-ca", "controller")
    with open(os.path.join(d, "relay.crt"), "w") as out:
        for part in ("relay-leaf.crt", "fleet-ca.crt"):
            with open(os.path.join(d, part)) as f:
                out.write(f.read())
    os.rename(os.path.join(d, "relay-leaf.key"), os.path.join(d, "relay.key"))
    return d


# ---- plain TCP backends (threads) -----------------------------------------

class Backend:
    """A loopback TCP server; handler(conn) runs in a thread per
    connection. Counts connections; close() stops accepting."""

    def __init__(self, handler, host=LOOPBACK):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.addr = ("[%s]:%d" if fam == socket.AF_INET6 else "%s:%d") % (
            host, self.port)
        self.handler = handler
        self.connections = 0
        self.errors = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(120)
            self.handler(c)
        except OSError as e:
            self.errors.append(repr(e))
        finally:
            c.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _echo(c):
    while True:
        b = c.recv(256 * 1024)
        if not b:
            break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)


def _sink(c):
    h = hashlib.sha256()
    n = 0
    while True:
        b = c.recv(256 * 1024)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(b"%d %s\n" % (n, h.hexdigest().encode()))
    c.shutdown(socket.SHUT_WR)


def echo_server(host=LOOPBACK):
    """Echoes everything; half-closes after the client's EOF."""
    return Backend(_echo, host)


def sink_server(host=LOOPBACK):
    """Reads to EOF, then answers "<count> <sha256hex>\\n" and closes."""
    return Backend(_sink, host)


def answer_after_server(nbytes, host=LOOPBACK):
    """Answers "<count> <sha256hex>\\n" as soon as nbytes arrived (no EOF
    needed), then reads to EOF."""
    def h(c):
        sha = hashlib.sha256()
        n = 0
        while n < nbytes:
            b = c.recv(min(256 * 1024, nbytes - n))
            if not b:
                break
            sha.update(b)
            n += len(b)
        c.sendall(b"%d %s\n" % (n, sha.hexdigest().encode()))
        while c.recv(65536):
            pass
    return Backend(h, host)


def source_server(nbytes, seed=1, host=LOOPBACK):
    """Sends nbytes of the pattern, half-closes, waits for the peer's EOF."""
    def h(c):
        for chunk in pattern_chunks(seed, nbytes):
            c.sendall(chunk)
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass
    return Backend(h, host)


def free_port():
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def refused_addr():
    """A loopback address nothing listens on (bound, never listening)."""
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    return s, "%s:%d" % (LOOPBACK, s.getsockname()[1])


# ---- processes ------------------------------------------

class Env:
    """Per-test state: temp dir, PKI, started processes and backends, all
    cleaned up (processes by PID) by close()."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="beacon-interop-")
        self.procs = []
        self.backends = []
        self._pki = None
        peers = os.environ.get("BEACON_GO_PEERS_DIR")
        if not peers:
            bd = os.environ.get("BEACON_BUILD_DIR", "")
            peers = os.path.join(bd, "go-peers") if bd else ""
        self.go_relay_bin = os.path.join(peers, "go-relay")
        self.go_controller_bin = os.path.join(peers, "go-controller")
        self.beacon_bin = os.environ.get("BEACON_BIN", "")

    def need_go(self):
        for b in (self.go_relay_bin, self.go_controller_bin):
            if not os.access(b, os.X_OK):
                raise Skip("Go peer %r not built (no Go toolchain? build "
                           "target go-peers; set BEACON_GO_PEERS_DIR)" % b)

    @property
    def pki(self):
        if self._pki is None:
            self._pki = make_pki(os.path.join(self.dir, "pki"))
        return self._pki

    def p(self, name):
        return os.path.join(self.pki, name)

    def backend(self, b):
        self.backends.append(b)
        return b

    def spawn(self, argv, name):
        log = open(os.path.join(self.dir, name + ".log"), "wb")
        pr = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                              stdin=subprocess.DEVNULL)
        pr.log_path = log.name
        pr.name = name
        log.close()
        self.procs.append(pr)
        return pr

    def wait_listening(self, pr, timeout=10):
        """Read the "listening ADDR" line a peer prints once ready."""
        end = time.time() + timeout
        line = b""
        os.set_blocking(pr.stdout.fileno(), False)
        while time.time() < end:
            try:
                b = pr.stdout.read1(4096) if hasattr(pr.stdout, "read1") \
                    else os.read(pr.stdout.fileno(), 4096)
            except BlockingIOError:
                b = None
            if b:
                line += b
                if b"\n" in line:
                    first = line.split(b"\n", 1)[0].decode()
                    check(first.startswith("listening "),
                          "%s: unexpected first line %r" % (pr.name, first))
                    return first.split(" ", 1)[1]
            elif pr.poll() is not None:
                raise Fail("%s exited with %s before listening:\n%s" % (
                    pr.name, pr.returncode, self.log(pr)))
            else:
                time.sleep(0.02)
        raise Fail("%s did not start listening within %ss" % (pr.name,
                                                             timeout))

    def log(self, pr):
        try:
            with open(pr.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def wait_log(self, pr, pred, timeout=5):
        """Wait until pred(log text) holds (logs trail the peer's view)."""
        end = time.time() + timeout
        while True:
            text = self.log(pr)
            if pred(text):
                return text
            if time.time() > end:
                raise Fail("%s log never matched:\n%s" % (pr.name, text))
            time.sleep(0.05)

    def start_go_relay(self, *extra, ca="fleet-ca.crt"):
        self.need_go()
        pr = self.spawn([self.go_relay_bin, "-listen", LOOPBACK + ":0",
                         "-cert", self.p("relay.crt"),
                         "-key", self.p("relay.key"),
                         "-ca", self.p(ca)] + list(extra), "go-relay")
        pr.addr = self.wait_listening(pr)
        return pr

    def controller_args(self, relay, cert="controller"):
        return ["-relay", relay, "-cert", self.p(cert + ".crt"),
                "-key", self.p(cert + ".key"), "-ca", self.p("fleet-ca.crt")]

    def go_controller(self, mode, relay, *args, cert="controller",
                      timeout=120, expect_ok=True):
        """Run go-controller MODE to completion; return its JSON result."""
        self.need_go()
        argv = [self.go_controller_bin, mode] + \
            self.controller_args(relay, cert) + list(args)
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise Fail("go-controller %s: no result within %ss" % (mode,
                                                                  timeout))
        out = r.stdout.decode(errors="replace").strip().splitlines()
        err = r.stderr.decode(errors="replace")
        res = None
        for line in reversed(out):
            if line.startswith("{"):
                res = json.loads(line)
                break
        if expect_ok:
            check(r.returncode == 0 and res and res.get("ok"),
                  "go-controller %s %s: rc %d\nstdout: %s\nstderr: %s" % (
                      mode, " ".join(args), r.returncode, out, err[-3000:]))
        print("go-controller %s: %s" % (mode, json.dumps(res)))
        return r.returncode, res, err

    def stop(self, pr, sig=signal.SIGTERM, timeout=10):
        """Stop one process by PID; return its exit code."""
        if pr.poll() is None:
            try:
                os.kill(pr.pid, sig)
            except ProcessLookupError:
                pass
            try:
                pr.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(pr.pid, signal.SIGKILL)
                pr.wait(5)
        return pr.returncode

    def close(self, ok):
        for pr in self.procs:
            self.stop(pr, timeout=5)
            if pr.stdout:
                pr.stdout.close()
            if not ok:
                sys.stderr.write("---- %s log ----\n%s\n" % (pr.name,
                                                            self.log(pr)))
        for b in self.backends:
            b.close()
        if ok and not os.environ.get("BEACON_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            sys.stderr.write("test files kept in %s\n" % self.dir)


def main(ns):
    """Run test case argv[1] of the module whose globals are ns (or list
    the cases when none is given)."""
    cases = sorted(k[5:] for k in ns if k.startswith("test_") and
                   callable(ns[k]))
    if len(sys.argv) != 2 or sys.argv[1] not in cases:
        sys.stderr.write("usage: %s CASE\ncases: %s\n" % (
            sys.argv[0], " ".join(cases)))
        sys.exit(2)
    case = sys.argv[1]
    env = Env(case)
    ok = False
    skipped = None
    start = time.time()
    try:
        ns["test_" + case](env)
        ok = True
    except Skip as e:
        ok = True
        skipped = str(e)
    except Fail as e:
        sys.stderr.write("FAIL %s: %s\n" % (case, e))
    except Exception:
        traceback.print_exc()
    env.close(ok)
    if skipped is not None:
        sys.stderr.write("\n*** SKIPPED %s: %s ***\n\n" % (case, skipped))
        sys.exit(SKIP)
    print("%s %s in %.2fs" % ("PASS" if ok else "FAIL", case,
                              time.time() - start))
    sys.exit(0 if ok else 1)
