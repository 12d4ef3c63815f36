"""Shared helpers of the interop tests (standard library only).

A test file `test_interop_<x>.py` defines `test_<case>(env)` functions and
ends with `interop_util.main(globals())`; CTest runs `python3 FILE CASE`
(tests/interop/CMakeLists.txt). Exit code 77 means "skipped" and is always
accompanied by a loud message on stderr.

Environment: BEACON_GO_PEERS_DIR (go-relay, go-controller), BEACON_BIN,
BEACON_BUILD_DIR, BEACON_SRC_DIR.
"""

import ctypes
import hashlib
import json
import re
import selectors
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
# Sanitizer builds run an order of magnitude slower: heavy cases shrink.
SANITIZED = os.environ.get("BEACON_SANITIZED") == "1"


def _label(name):
    """A marker read by tests/interop/CMakeLists.txt when it sets CTest
    labels (like tests/integration's @harness.slow); at run time it only
    records the label on the function."""
    def deco(fn):
        fn.beacon_labels = getattr(fn, "beacon_labels", ()) + (name,)
        return fn
    return deco


slow = _label("slow")    # long by design (keep-alive, idle timers)
heavy = _label("heavy")  # moves GiBs: run alone (RUN_SERIAL)


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
[wrongname]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:wrong.example
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
    follow docs/PROTOCOL.md "Transport: TLS 1.3 with mutual
    authentication": relay.crt is the leaf followed by fleet-ca.crt."""
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


_CA_CNF = """
[ca]
default_ca = tca
[tca]
database = index.txt
new_certs_dir = newcerts
serial = ca.serial
default_md = sha256
policy = pol
unique_subject = no
copy_extensions = none
[pol]
commonName = supplied
"""

# Extra leaves made on demand (each costs a few openssl runs):
# name -> (ext section, validity as (start, end) offsets in days or None).
_EXTRA = {
    "expired-controller": ("controller", (-10, -1)),
    "future-controller": ("controller", (1, 10)),
    "wrongname-relay": ("wrongname", None),
}

def _asn1_time(days):
    t = time.gmtime(time.time() + days * 86400)
    return time.strftime("%Y%m%d%H%M%SZ", t)


def issue_extra(d, name):
    """Issue one of _EXTRA from d's Fleet CA into d (NAME.crt, NAME.key),
    once. Dated certificates go through `openssl ca`, whose -startdate and
    -enddate can put both ends in the past or the future (OpenSSL 3.0's
    `x509 -req` cannot)."""
    crt = os.path.join(d, name + ".crt")
    if os.path.exists(crt):
        return crt
    ext, dates = _EXTRA[name]
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", name + ".key", cwd=d)
    _openssl("req", "-new", "-key", name + ".key", "-subj", "/CN=" + name,
             "-config", "ext.cnf", "-out", name + ".csr", cwd=d)
    if dates is None:
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "fleet-ca.crt",
                 "-CAkey", "fleet-ca.key", "-CAcreateserial", "-days", "2",
                 "-extfile", "ext.cnf", "-extensions", ext,
                 "-out", name + ".leaf", cwd=d)
    else:
        cadb = os.path.join(d, "cadb")
        if not os.path.isdir(cadb):
            os.makedirs(os.path.join(cadb, "newcerts"))
            open(os.path.join(cadb, "index.txt"), "w").close()
            with open(os.path.join(cadb, "ca.serial"), "w") as f:
                f.write("%032x\n" % int.from_bytes(os.urandom(15), "big"))
            with open(os.path.join(cadb, "ca.cnf"), "w") as f:
                f.write(_CA_CNF)
        _openssl("ca", "-batch", "-notext", "-config", "ca.cnf",
                 "-cert", "../fleet-ca.crt", "-keyfile", "../fleet-ca.key",
                 "-in", "../" + name + ".csr", "-out", "../" + name + ".leaf",
                 "-startdate", _asn1_time(dates[0]),
                 "-enddate", _asn1_time(dates[1]),
                 "-extfile", "../ext.cnf", "-extensions", ext, cwd=cadb)
    with open(crt, "w") as out:
        for part in (name + ".leaf", "fleet-ca.crt"):
            with open(os.path.join(d, part)) as f:
                out.write(f.read())
    return crt


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


def echo_many(addr, nconns, nbytes, seed0=100, timeout=120):
    """Open nconns TCP connections to addr at once (one thread,
    non-blocking), send nbytes of pattern seed0+i on each, half-close,
    and check that exactly the same bytes come back before EOF. Returns
    the number of connections checked; raises Fail on the first error."""
    host, port = addr.rsplit(":", 1)
    sel = selectors.DefaultSelector()
    want = {}
    conns = []
    for i in range(nconns):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex((host, int(port)))
        st = {"i": i, "out": b"".join(pattern_chunks(seed0 + i, nbytes)),
              "off": 0, "got": hashlib.sha256(), "n": 0, "eof": False,
              "shut": False}
        want[i] = hashlib.sha256(st["out"]).hexdigest()
        conns.append((c, st))
        sel.register(c, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
    left = nconns
    end = time.time() + timeout
    try:
        while left:
            if time.time() > end:
                stuck = [st["i"] for c, st in conns if not st["eof"]]
                raise Fail("echo_many: %d of %d connections unfinished "
                           "after %ss (e.g. %s)" % (left, nconns, timeout,
                                                    stuck[:5]))
            for key, ev in sel.select(1.0):
                c, st = key.fileobj, key.data
                if ev & selectors.EVENT_WRITE and not st["shut"]:
                    try:
                        k = c.send(st["out"][st["off"]:st["off"] + 65536])
                        st["off"] += k
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as e:
                        raise Fail("conn %d: send: %r" % (st["i"], e))
                    if st["off"] == len(st["out"]):
                        c.shutdown(socket.SHUT_WR)
                        st["shut"] = True
                        sel.modify(c, selectors.EVENT_READ, st)
                if ev & selectors.EVENT_READ:
                    try:
                        b = c.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as e:
                        raise Fail("conn %d: recv after %d bytes: %r" % (
                            st["i"], st["n"], e))
                    if b:
                        st["got"].update(b)
                        st["n"] += len(b)
                        continue
                    check(st["n"] == nbytes and
                          st["got"].hexdigest() == want[st["i"]],
                          "conn %d: EOF after %d of %d bytes (sha ok: %s)"
                          % (st["i"], st["n"], nbytes,
                             st["got"].hexdigest() == want[st["i"]]))
                    st["eof"] = True
                    sel.unregister(c)
                    left -= 1
    finally:
        for c, _ in conns:
            c.close()
        sel.close()
    return nconns


def recv_all(c, limit=None):
    """Read a blocking socket to EOF; return (count, sha256hex, head)."""
    h = hashlib.sha256()
    n = 0
    head = b""
    while True:
        b = c.recv(256 * 1024)
        if not b:
            return n, h.hexdigest(), head
        if len(head) < 4096:
            head += b[:4096 - len(head)]
        h.update(b)
        n += len(b)
        if limit is not None and n > limit:
            raise Fail("more than %d bytes received" % limit)


# ---- libbeacon through ctypes --------------------------------------------
# The C library itself (docs/ARCHITECTURE.md "libbeacon").

class BeaconError(Exception):
    def __init__(self, code, hop, message):
        Exception.__init__(self, "%d (hop %d): %s" % (code, hop, message))
        self.code = code
        self.message = message


class _Err(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("hop", ctypes.c_int),
                ("message", ctypes.c_char * 256)]


def preload_sanitizer_runtime():
    """A sanitizer build of libbeacon.so can only be loaded into Python
    when the ASan/UBSan runtimes come first: re-exec this test with them
    preloaded (before it starts any process). Python itself is not built
    for LeakSanitizer, so leak checks are off for this process tree; the
    library's leaks are covered by the C tests of the same build."""
    if not os.environ.get("BEACON_SANITIZED") or \
            "libasan" in os.environ.get("LD_PRELOAD", ""):
        return
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        out = subprocess.run(["gcc", "-print-file-name=" + name],
                             capture_output=True, text=True).stdout.strip()
        if not os.path.isabs(out):
            raise Skip("no %s to preload for the sanitizer build" % name)
        libs.append(out)
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(libs)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":detect_leaks=0").lstrip(":")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


class LibBeacon:
    """The controller API of libbeacon.so: tunnel(...) -> handle,
    dial(handle, target) -> a connected socket.socket."""

    EGOAWAY = -514

    def __init__(self):
        bd = os.environ.get("BEACON_BUILD_DIR", "")
        path = os.path.join(bd, "libbeacon.so") if bd else ""
        if not path or not os.path.exists(path):
            raise Skip("libbeacon.so not found in BEACON_BUILD_DIR=%r" % bd)
        lib = ctypes.CDLL(path)
        vp = ctypes.c_void_p
        lib.beacon_config_new.restype = vp
        lib.beacon_config_free.argtypes = [vp]
        lib.beacon_config_add_relay.argtypes = [vp, ctypes.c_char_p]
        lib.beacon_config_set_identity.argtypes = [vp] + \
            [ctypes.c_char_p] * 3
        lib.beacon_config_set_timeouts.argtypes = [vp] + [ctypes.c_int] * 3
        lib.beacon_config_set_keepalive.argtypes = [vp] + [ctypes.c_int] * 2
        lib.beacon_tunnel_new.argtypes = [ctypes.POINTER(vp), vp,
                                          ctypes.POINTER(_Err)]
        lib.beacon_dial.argtypes = [vp, ctypes.c_char_p, ctypes.c_int,
                                    ctypes.POINTER(_Err)]
        lib.beacon_tunnel_free.argtypes = [vp]
        self.lib = lib
        self.tunnels = []

    def tunnel(self, relay, pki, cert="controller", keepalive=None):
        lib = self.lib
        cfg = lib.beacon_config_new()
        check(cfg, "beacon_config_new failed")
        try:
            check(lib.beacon_config_add_relay(cfg, relay.encode()) == 0,
                  "beacon_config_add_relay(%r) failed" % relay)
            check(lib.beacon_config_set_identity(
                cfg, os.path.join(pki, cert + ".crt").encode(),
                os.path.join(pki, cert + ".key").encode(),
                os.path.join(pki, "fleet-ca.crt").encode()) == 0,
                "beacon_config_set_identity failed")
            lib.beacon_config_set_timeouts(cfg, 10000, 10000, 10000)
            if keepalive:
                lib.beacon_config_set_keepalive(cfg, *keepalive)
            t = ctypes.c_void_p()
            e = _Err()
            rc = lib.beacon_tunnel_new(ctypes.byref(t), cfg, ctypes.byref(e))
            if rc:
                raise BeaconError(rc, e.hop, e.message.decode())
        finally:
            lib.beacon_config_free(cfg)
        self.tunnels.append(t)
        return t

    def dial(self, t, target, timeout_ms=10000):
        e = _Err()
        fd = self.lib.beacon_dial(t, target.encode(), timeout_ms,
                                  ctypes.byref(e))
        if fd < 0:
            raise BeaconError(fd, e.hop, e.message.decode())
        return socket.socket(fileno=fd)

    def close(self):
        for t in self.tunnels:
            self.lib.beacon_tunnel_free(t)
        self.tunnels = []


# ---- processes ------------------------------------------

class Env:
    """Per-test state: temp dir, PKI, started processes and backends, all
    cleaned up (processes by PID) by close()."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="beacon-interop-")
        self.procs = []
        self.backends = []
        self.cleanups = []
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

    def log_text(self, pr):
        """pr's whole log (log() keeps only the tail, for messages)."""
        try:
            with open(pr.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

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

    # ---- beacon ------------------------------------------------------

    def need_beacon(self):
        if not self.beacon_bin or not os.access(self.beacon_bin, os.X_OK):
            raise Skip("beacon binary not built (BEACON_BIN=%r)" %
                       self.beacon_bin)

    def beacon(self, *args, timeout=60, input=None):
        """Run a short beacon command; return the CompletedProcess."""
        self.need_beacon()
        return subprocess.run([self.beacon_bin] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, input=input)

    def wait_log_re(self, pr, regex, timeout=10):
        """Wait for regex in pr's whole log; return the match."""
        rx = re.compile(regex, re.M)
        end = time.time() + timeout
        while True:
            exited = pr.poll() is not None
            try:
                with open(pr.log_path, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                text = ""
            m = rx.search(text)
            if m:
                return m
            if exited:
                raise Fail("%s exited (%s) before logging /%s/:\n%s" % (
                    pr.name, pr.returncode, regex, text[-4000:]))
            if time.time() > end:
                raise Fail("%s never logged /%s/ within %ss:\n%s" % (
                    pr.name, regex, timeout, text[-4000:]))
            time.sleep(0.05)

    def start_beacon_relay(self, *extra, config_dir=None, name="beacon"):
        """`beacon egress` on 127.0.0.1:<free>, one worker, loopback
        targets allowed (the default policy refuses them). config_dir
        holds relay.crt, relay.key, fleet-ca.crt (default: the PKI)."""
        self.need_beacon()
        pr = self.spawn([self.beacon_bin, "egress", "--config-dir",
                         config_dir or self.pki, "--tunnel-addr",
                         LOOPBACK + ":0", "--workers", "1",
                         "--allow", "127.0.0.0/8"] + list(extra), name)
        m = self.wait_log_re(pr, r"\blistening address=(\S+)")
        pr.addr = m.group(1)
        return pr

    def start_beacon_forward(self, relay, *fronts, config_dir=None,
                             name="forward"):
        """`beacon forward` with -L specs etc. in fronts; returns the proc
        with .addrs: the listening addresses in the order logged."""
        self.need_beacon()
        pr = self.spawn([self.beacon_bin, "forward", "--relay", relay,
                         "--config-dir", config_dir or self.pki] +
                        list(fronts), name)
        nfront = sum(1 for a in fronts if a in ("-L", "--socks",
                                                  "--http-connect"))
        end = time.time() + 10
        while True:
            addrs = re.findall(r"\blistening .*?address=(\S+)",
                               self.log(pr))
            if len(addrs) >= nfront:
                pr.addrs = addrs
                return pr
            if pr.poll() is not None or time.time() > end:
                raise Fail("beacon forward did not start:\n" + self.log(pr))
            time.sleep(0.05)

    def go_backend(self, kind, nbytes=0, seed=1):
        """A Go TCP backend (go-controller serve): echo, sink or source.
        Faster than the Python ones and with a deep listen backlog."""
        self.need_go()
        pr = self.spawn([self.go_controller_bin, "serve", "-listen",
                         LOOPBACK + ":0", "-kind", kind, "-bytes",
                         str(nbytes), "-seed", str(seed)],
                        "go-" + kind)
        pr.addr = self.wait_listening(pr)
        return pr

    def stop(self, pr, sig=signal.SIGTERM, timeout=10):
        """Stop one process by PID; return its exit code."""
        if pr.poll() is None:
            try:
                os.kill(pr.pid, sig)
                # A test may have frozen it (SIGSTOP): let it see sig.
                os.kill(pr.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            try:
                pr.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(pr.pid, signal.SIGKILL)
                pr.wait(5)
        return pr.returncode

    def libbeacon(self):
        lb = LibBeacon()
        self.cleanups.append(lb.close)
        return lb

    def close(self, ok):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                traceback.print_exc()
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
    if case.startswith("library"):
        preload_sanitizer_runtime()
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
