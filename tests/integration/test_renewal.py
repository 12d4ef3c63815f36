"""Controllers move to a renewed certificate without dropping a stream
(docs/LIBRARY.md "Certificate renewal"), and refuse revoked or unpinned
relays (docs/SECURITY.md "Revoking and pinning relays").

Certificates last seconds here: `openssl ca` with a throw-away database
signs them with the test's Fleet CA and second-precision dates.
"""

import calendar
import ctypes
import os
import re
import socket
import subprocess
import time

import harness
from backends import Echo
from test_pool import Load, _Err, http_get


def run(*argv):
    r = subprocess.run(list(argv), capture_output=True, timeout=60)
    if r.returncode:
        raise harness.Failure("%s: %s" % (" ".join(argv[:3]),
                                          r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


class ShortCA:
    """Issues controller certificates valid from/to given Unix times,
    signed by the Fleet CA of env.pki()."""

    def __init__(self, env):
        self.env = env
        self.pki = env.pki()
        self.d = env.path("shortca")
        os.makedirs(self.d, exist_ok=True)
        open(os.path.join(self.d, "index.txt"), "w").close()
        with open(os.path.join(self.d, "serial"), "w") as f:
            f.write("2000\n")
        with open(os.path.join(self.d, "crlnumber"), "w") as f:
            f.write("1000\n")
        self.cnf = os.path.join(self.d, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\n"
                    "serial=%s/serial\ncrlnumber=%s/crlnumber\n"
                    "new_certs_dir=%s\nunique_subject=no\n"
                    "default_md=sha256\ndefault_crl_days=30\npolicy=p\n"
                    "[p]\ncommonName=supplied\norganizationName=optional\n"
                    % (self.d, self.d, self.d, self.d))
        self.ext = os.path.join(self.d, "client.ext")
        with open(self.ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=clientAuth\n")
        self.n = 0

    def _ca(self, *args):
        return run("openssl", "ca", "-batch", "-config", self.cnf, "-cert",
                   os.path.join(self.pki, "fleet-ca.crt"), "-keyfile",
                   os.path.join(self.pki, "fleet-ca.key"), *args)

    def issue(self, key, cn, not_before, not_after, out):
        """Signs key's public key as CN=cn,O=fleet for [not_before,
        not_after] and puts leaf + Fleet CA in out by rename (as a
        renewal tool would)."""
        self.n += 1
        csr = os.path.join(self.d, "%d.csr" % self.n)
        leaf = os.path.join(self.d, "%d.leaf" % self.n)
        run("openssl", "req", "-new", "-key", key, "-out", csr, "-subj",
            "/CN=%s/O=fleet" % cn)
        fmt = "%Y%m%d%H%M%SZ"
        self._ca("-notext", "-in", csr, "-out", leaf, "-extfile", self.ext,
                 "-startdate", time.strftime(fmt, time.gmtime(not_before)),
                 "-enddate", time.strftime(fmt, time.gmtime(not_after)))
        tmp = out + ".tmp"
        with open(tmp, "w") as o:
            for part in (leaf, os.path.join(self.pki, "fleet-ca.crt")):
                with open(part) as f:
                    o.write(f.read())
        os.rename(tmp, out)

    def revoke(self, crt, out):
        """A CRL of the Fleet CA listing crt, written to out."""
        self._ca("-revoke", crt)
        self._ca("-gencrl", "-out", out)


def not_after(crt):
    out = run("openssl", "x509", "-in", crt, "-noout", "-enddate")
    when = out.strip().split("=", 1)[1]
    return calendar.timegm(time.strptime(when, "%b %d %H:%M:%S %Y GMT"))


def controller_dir(env, ca, lifetime, cn):
    """A config dir whose controller.crt lasts `lifetime` seconds from
    now (its key from env.pki()); returns (dir, notAfter)."""
    pki = env.pki()
    d = env.config_dir("ctl-" + cn, {
        "controller.key": os.path.join(pki, "controller.key"),
        "fleet-ca.crt": os.path.join(pki, "fleet-ca.crt")})
    now = int(time.time())
    ca.issue(os.path.join(d, "controller.key"), cn, now - 5, now + lifetime,
             os.path.join(d, "controller.crt"))
    return d, now + lifetime


def outcomes_ok(fwd):
    """Every connection forward logged ended by its own end (outcome ok),
    none reset or failed by the tunnel."""
    got = re.findall(r"conn_done .*outcome=(\S+)", fwd.log_text())
    harness.check(got, "no conn_done lines")
    bad = [o for o in got if o != "ok"]
    harness.check_eq(bad, [], "connection outcomes")


def stop_clean(proc):
    """Stops proc (SIGTERM): it must exit 0, with no sanitizer report."""
    rc = proc.stop()
    harness.check_eq(rc, 0, "%s exit code" % proc.name)
    harness.check("Sanitizer" not in proc.log_text(), proc.log_text()[-3000:])


def start_forward(env, relays, target, config_dir, *extra):
    port = env.free_port()
    argv = [env.need_bin(), "forward", "--relay",
            ",".join(r.addr for r in relays), "--config-dir", config_dir,
            "--timeout", "5", "-L", "%d:%s" % (port, target)]
    fwd = env.start(argv + list(extra), name="forward")
    env.wait_listening(fwd, port)
    return fwd, port


def renew_under_load(env, nrelays, lifetime, drop_at):
    """`beacon forward` through nrelays relays under a steady load of new
    connections; a controller certificate lasting `lifetime` seconds is
    renewed on disk `drop_at` seconds in. Zero failed connections, each
    relay's tunnel with the old certificate ends before its notAfter,
    and the load goes on through the renewed tunnels after it."""
    ca = ShortCA(env)
    d, old_na = controller_dir(env, ca, lifetime, "ctl-old")
    start = time.time()
    relays = [env.start_relay(name="relay%d" % i) for i in range(nrelays)]
    mport = env.free_port()
    with Echo() as e:
        fwd, port = start_forward(env, relays, e.addr, d, "--metrics-addr",
                                  str(mport))
        load = Load(port, threads=3, pause=0.02)
        try:
            for r in relays:
                r.wait_log(r"tunnel_up .*CN=ctl-old", timeout=20)
            time.sleep(max(0, start + drop_at - time.time()))
            now = int(time.time())
            ca.issue(os.path.join(d, "controller.key"), "ctl-new", now - 5,
                     now + 600, os.path.join(d, "controller.crt"))
            for r in relays:
                r.wait_log(r"tunnel_up .*CN=ctl-new", timeout=20)
            for r in relays:
                r.wait_log(r"tunnel_down .*CN=ctl-old", timeout=max(
                    1, old_na - time.time()))
            harness.check(time.time() < old_na,
                          "the old tunnels ended after the old notAfter")
            # on through the old notAfter, on the renewed tunnels
            time.sleep(max(0, old_na + 3 - time.time()))
        finally:
            load.stop()
        failed = [r for r in load.results if r[1] is None]
        print("%d relay(s): %d connections, %d failed, old notAfter %+.1fs "
              "from the end of the run" % (nrelays, len(load.results),
                                           len(failed),
                                           old_na - time.time()))
        harness.check(len(load.results) > 50 * nrelays,
                      "too little load: %d" % len(load.results))
        harness.check_eq(failed, [], "failed connections")
        # Load keeps monotonic start times
        mono_na = old_na - (time.time() - time.monotonic())
        late = load.between(mono_na + 0.5, mono_na + 3)
        harness.check(late and all(r[1] is not None for r in late),
                      "no connection after the old notAfter")
        log = fwd.log_text()
        harness.check_eq(len(re.findall(r"tunnel_renewed", log)), nrelays,
                         log)
        outcomes_ok(fwd)
        # the expiry gauge follows the file on disk, no signal needed
        gauge = "beacon_forward_cert_expiry_timestamp_seconds"
        m = re.search(r"^%s (\S+)$" % gauge, http_get(mport, "/metrics")[1],
                      re.M)
        harness.check(m and int(float(m.group(1))) ==
                      not_after(os.path.join(d, "controller.crt")), gauge)
        stop_clean(fwd)


@harness.timeout(120)
def test_forward_renews_single_relay(env):
    """One relay: the renewed certificate takes over with no failed
    connection, the old tunnel ends before its notAfter."""
    renew_under_load(env, 1, lifetime=40, drop_at=13)


@harness.timeout(120)
def test_forward_renews_pool(env):
    """A pool of two: each member moves to the renewed certificate."""
    renew_under_load(env, 2, lifetime=40, drop_at=13)


@harness.timeout(300)
@harness.slow
def test_forward_rotation_at_scale(env):
    """Ten renewals back to back under load, through a pool of two:
    each certificate lasts 20 s and its successor lands 8 s in. Zero
    failed connections; every old tunnel ends by its notAfter."""
    ca = ShortCA(env)
    d, na = controller_dir(env, ca, 20, "gen0")
    relays = [env.start_relay(name="relay%d" % i) for i in range(2)]
    key = os.path.join(d, "controller.key")
    crt = os.path.join(d, "controller.crt")
    with Echo() as e:
        fwd, port = start_forward(env, relays, e.addr, d)
        load = Load(port, threads=3, pause=0.02)
        try:
            for gen in range(1, 11):
                time.sleep(8)
                now = int(time.time())
                ca.issue(key, "gen%d" % gen, now - 5, now + 20, crt)
                for r in relays:
                    r.wait_log(r"tunnel_down .*CN=gen%d\"" % (gen - 1),
                               timeout=max(1, na - time.time()))
                harness.check(time.time() < na,
                              "generation %d outlived its notAfter" % (gen - 1))
                na = now + 20
        finally:
            load.stop()
        failed = [r for r in load.results if r[1] is None]
        print("10 renewals: %d connections, %d failed" %
              (len(load.results), len(failed)))
        harness.check_eq(failed, [], "failed connections")
        harness.check_eq(len(re.findall(r"tunnel_renewed", fwd.log_text())),
                         20, "renewals")
        outcomes_ok(fwd)
        stop_clean(fwd)


@harness.timeout(90)
def test_forward_keeps_tunnel_without_renewal(env):
    """No renewed certificate when the renewal time comes: the tunnel
    stays, one warning says so, and a certificate dropped later is taken
    up."""
    ca = ShortCA(env)
    d, old_na = controller_dir(env, ca, 60, "ctl-old")
    relay = env.start_relay()
    with Echo() as e:
        fwd, port = start_forward(env, [relay], e.addr, d)
        load = Load(port, threads=2, pause=0.05)
        try:
            fwd.wait_log(r"cert_not_renewed .*controller\.crt expires on",
                         timeout=15)
            time.sleep(3)
            harness.check_eq(fwd.log_text().count("cert_not_renewed"), 1,
                             "warned once")
            harness.check("tunnel_down" not in relay.log_text(),
                          "the tunnel stays")
            # a half-written certificate is refused, the old one stays
            with open(os.path.join(d, "controller.crt"), "a") as f:
                f.write("-----BEGIN CERTIFICATE-----\nMIIB\n")
            fwd.wait_log(r"reload_failed", timeout=10)
            now = int(time.time())
            ca.issue(os.path.join(d, "controller.key"), "ctl-new", now - 5,
                     now + 600, os.path.join(d, "controller.crt"))
            relay.wait_log(r"tunnel_up .*CN=ctl-new", timeout=15)
            relay.wait_log(r"tunnel_down .*CN=ctl-old", timeout=15)
        finally:
            load.stop()
        harness.check_eq([r for r in load.results if r[1] is None], [],
                         "failed connections")
        stop_clean(fwd)


def libbeacon(env):
    """libbeacon.so through ctypes (skipped where it cannot load)."""
    if harness.SANITIZED:
        harness.skip("libbeacon.so of a sanitizer build in Python")
    path = os.path.join(env.build_dir, "libbeacon.so")
    if not os.path.exists(path):
        harness.skip("libbeacon.so not built")
    lib = ctypes.CDLL(path)
    vp = ctypes.c_void_p
    lib.beacon_config_new.restype = vp
    lib.beacon_config_free.argtypes = [vp]
    for name in ("add_relay", "set_dir", "set_crl", "add_relay_spki"):
        getattr(lib, "beacon_config_" + name).argtypes = [vp, ctypes.c_char_p]
    lib.beacon_tunnel_new.argtypes = [ctypes.POINTER(vp), vp,
                                      ctypes.POINTER(_Err)]
    lib.beacon_dial.argtypes = [vp, ctypes.c_char_p, ctypes.c_int,
                                ctypes.POINTER(_Err)]
    lib.beacon_tunnel_free.argtypes = [vp]
    return lib


def library_tunnel(env, lib, relay, config_dir, pins=()):
    vp = ctypes.c_void_p
    cfg = lib.beacon_config_new()
    harness.check_eq(lib.beacon_config_add_relay(cfg, relay.addr.encode()),
                     0, "add_relay")
    harness.check_eq(lib.beacon_config_set_dir(cfg, config_dir.encode()), 0,
                     "set_dir")
    for p in pins:
        harness.check_eq(lib.beacon_config_add_relay_spki(cfg, p.encode()),
                         0, "add_relay_spki")
    t = vp()
    err = _Err()
    harness.check_eq(lib.beacon_tunnel_new(ctypes.byref(t), cfg,
                                           ctypes.byref(err)), 0,
                     err.message)
    lib.beacon_config_free(cfg)
    env.add_cleanup(lambda: lib.beacon_tunnel_free(t))
    return t


@harness.timeout(90)
def test_library_tunnel_renews_with_live_stream(env):
    """A libbeacon tunnel (one relay, not warm): a stream held open across
    the renewal goes on on the old connection, new dials take the renewed
    one, and the old connection closes once the held stream ends."""
    lib = libbeacon(env)
    ca = ShortCA(env)
    d, old_na = controller_dir(env, ca, 50, "lib-old")
    relay = env.start_relay()
    echo = env.use(Echo())
    t = library_tunnel(env, lib, relay, d)
    err = _Err()

    def dial():
        fd = lib.beacon_dial(t, echo.addr.encode(), 5000, ctypes.byref(err))
        harness.check(fd >= 0, err.message.decode())
        s = socket.socket(fileno=fd)
        s.settimeout(10)
        return s

    def round_trip(s, data):
        s.sendall(data)
        harness.check_eq(harness.recv_exact(s, len(data)), data, "echo")

    held = dial()
    round_trip(held, b"before\n")
    relay.wait_log(r"tunnel_up .*CN=lib-old", timeout=10)
    now = int(time.time())
    ca.issue(os.path.join(d, "controller.key"), "lib-new", now - 5,
             now + 600, os.path.join(d, "controller.crt"))
    relay.wait_log(r"tunnel_up .*CN=lib-new", timeout=10)
    for i in range(5):
        with dial() as s:
            round_trip(s, b"new %d\n" % i)
    harness.check(not re.search(r"tunnel_down", relay.log_text()),
                  "the old connection closed under a live stream")
    round_trip(held, b"after the renewal\n")
    held.close()
    relay.wait_log(r"tunnel_down .*CN=lib-old", timeout=10)
    harness.check(time.time() < old_na, "old connection past its notAfter")
    streams = re.findall(r"stream_done .*CN=(lib-\w+)", relay.log_text())
    harness.check_eq(streams.count("lib-new"), 5, "dials after the renewal")


@harness.timeout(90)
def test_library_closes_retired_connection_at_not_after(env):
    """A stream still open on a renewed (retired) connection when that
    connection's certificate expires is ended then: the connection does
    not outlive its certificate."""
    lib = libbeacon(env)
    ca = ShortCA(env)
    d, old_na = controller_dir(env, ca, 20, "exp-old")
    relay = env.start_relay()
    echo = env.use(Echo())
    t = library_tunnel(env, lib, relay, d)
    err = _Err()
    fd = lib.beacon_dial(t, echo.addr.encode(), 5000, ctypes.byref(err))
    harness.check(fd >= 0, err.message.decode())
    held = socket.socket(fileno=fd)
    held.settimeout(30)
    held.sendall(b"x")
    harness.check_eq(harness.recv_exact(held, 1), b"x", "echo")
    now = int(time.time())
    ca.issue(os.path.join(d, "controller.key"), "exp-new", now - 5,
             now + 600, os.path.join(d, "controller.crt"))
    relay.wait_log(r"tunnel_up .*CN=exp-new", timeout=10)
    try:
        got = held.recv(10)  # blocks until the connection is ended
    except OSError:
        got = b""
    ended = time.time()
    held.close()
    harness.check_eq(got, b"", "the held stream ended")
    harness.check(old_na - 1 <= ended <= old_na + 2.5,
                  "ended %.1fs from the old notAfter" % (ended - old_na))
    relay.wait_log(r"tunnel_down .*CN=exp-old", timeout=5)


@harness.timeout(60)
def test_library_relay_spki_pin(env):
    """beacon_config_add_relay_spki(): a wrong pin fails the dial with
    BEACON_EVERIFY and the SPKI the relay presented."""
    lib = libbeacon(env)
    relay = env.start_relay()
    echo = env.use(Echo())
    fp = env.beacon("pki", "fingerprint",
                    os.path.join(env.pki(), "relay.crt"),
                    check=True).stdout.decode().split()[0]
    t = library_tunnel(env, lib, relay, env.pki(), pins=("cd" * 32,))
    err = _Err()
    fd = lib.beacon_dial(t, echo.addr.encode(), 5000, ctypes.byref(err))
    harness.check_eq(fd, -511, "BEACON_EVERIFY")  # include/beacon/beacon.h
    msg = err.message.decode()
    harness.check("relay key not pinned" in msg and fp in msg, msg)
    t2 = library_tunnel(env, lib, relay, env.pki(), pins=(fp,))
    fd = lib.beacon_dial(t2, echo.addr.encode(), 5000, ctypes.byref(err))
    harness.check(fd >= 0, err.message.decode())
    os.close(fd)


# ---- relay revocation and pins ----------------------------------------


def connect(env, relay, target, *extra):
    return env.beacon("connect", "--relay", relay.addr, "--config-dir",
                      env.pki(), *extra, target, input=b"ping", timeout=30)


@harness.timeout(120)
def test_connect_refuses_revoked_relay(env):
    """--crl: a relay whose certificate the CRL lists is refused (both
    connect and forward), and one it does not list is accepted."""
    ca = ShortCA(env)
    pki = env.pki()
    crl = env.path("relay-crl.pem")
    relay = env.start_relay()
    with Echo() as e:
        # a CRL of the Fleet CA revoking something else: still accepted
        other, _ = env.issue("other", cn="other", usage="client")
        ca.revoke(other, crl)
        r = connect(env, relay, e.addr, "--crl", crl)
        harness.check_eq(r.returncode, 0, r.stderr)
        harness.check_eq(r.stdout, b"ping", "echo through the relay")
        ca.revoke(os.path.join(pki, "relay.crt"), crl)
        r = connect(env, relay, e.addr, "--crl", crl)
        harness.check(r.returncode != 0, "a revoked relay was accepted")
        harness.check("relay certificate revoked" in r.stderr.decode(),
                      r.stderr)
        port = env.free_port()
        fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                         "--config-dir", pki, "--crl", crl, "-L",
                         "%d:%s" % (port, e.addr)], name="forward")
        env.wait_listening(fwd, port)
        s = __import__("socket").create_connection(("127.0.0.1", port), 10)
        s.settimeout(10)
        harness.check_eq(s.recv(10), b"", "forward refused the stream")
        s.close()
        fwd.wait_log(r"relay certificate revoked", timeout=10)
        stop_clean(fwd)
        # check-config reads the CRL too
        r = env.beacon("forward", "--check-config", "--relay", relay.addr,
                       "--config-dir", pki, "--crl", env.path("missing.pem"),
                       "-L", "1:%s" % e.addr, timeout=30)
        harness.check(r.returncode != 0 and b"missing.pem" in r.stderr,
                      r.stderr)


def revoke_in_place(ca, crt, crl):
    """A CRL listing crt renamed over crl, as an operator's tooling
    installs one."""
    tmp = crl + ".new"
    ca.revoke(crt, tmp)
    os.rename(tmp, crl)


def echo_on(sock, payload):
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        b = sock.recv(65536)
        if not b:
            break
        got += b
    return got


def crl_of_someone_else(env):
    """A CA of the test (ShortCA), a CRL of it that revokes another
    controller's certificate, not the relay's, and a relay: (ca, the
    PKI directory, the CRL's path, the relay)."""
    ca = ShortCA(env)
    crl = env.path("relay-crl.pem")
    other, _ = env.issue("other", cn="other", usage="client")
    ca.revoke(other, crl)
    return ca, env.pki(), crl, env.start_relay()


@harness.timeout(120)
def test_forward_cuts_live_revoked_relay(env):
    """A CRL that newly lists the relay reaches the tunnel already up:
    forward rereads --crl, logs relay_revoked naming the relay and its
    serial, closes the tunnel (the live connection through it ends within
    5 s) and refuses new connections; the CRL revoking someone else
    before it cut nothing."""
    ca, pki, crl, relay = crl_of_someone_else(env)
    with Echo() as e:
        fwd, port = start_forward(env, [relay], e.addr, pki, "--crl", crl)
        live = socket.create_connection(("127.0.0.1", port), timeout=10)
        harness.check_eq(echo_on(live, b"before"), b"before", "echo")
        # The same list again, a fresh CRL: a reload that cuts nothing.
        ca._ca("-gencrl", "-out", crl + ".new")
        os.rename(crl + ".new", crl)
        fwd.wait_log(r"\breload\b", timeout=10)
        time.sleep(1.5)  # a rotation tick or more after the reload
        harness.check_eq(echo_on(live, b"still"), b"still",
                         "the tunnel after a reload revoking someone else")
        harness.check("relay_revoked" not in fwd.log_text(),
                      fwd.log_text()[-2000:])

        t0 = time.monotonic()
        revoke_in_place(ca, os.path.join(pki, "relay.crt"), crl)
        m = fwd.wait_log(r"relay_revoked .*relay %s \(hop 1/1\): its "
                         r"certificate \(serial [0-9A-F]+\) is revoked"
                         % re.escape(relay.addr), timeout=10)
        live.settimeout(10)
        try:
            end = live.recv(100)
        except socket.timeout:
            end = None  # still open: not cut
        except OSError:
            end = b""  # reset: cut
        took = time.monotonic() - t0
        harness.check_eq(end, b"", "the live connection after the CRL")
        harness.check(took < 5, "cut %.1f s after the CRL" % took)
        print("live connection cut %.2f s after the CRL: %s" %
              (took, m.group(0)))
        live.close()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.settimeout(10)
        harness.check_eq(s.recv(10), b"", "a new connection is refused")
        s.close()
        fwd.wait_log(r"relay certificate revoked", timeout=10)
        stop_clean(fwd)


@harness.timeout(90)
def test_connect_cuts_live_revoked_relay(env):
    """libbeacon under `beacon connect --crl`: a CRL listing the relay,
    renamed into place while a stream is up, ends that stream with a
    relay_revoked warning, and connect exits non-zero."""
    ca, pki, crl, relay = crl_of_someone_else(env)
    with Echo() as e:
        p = subprocess.Popen([env.need_bin(), "connect", "--relay",
                              relay.addr, "--config-dir", pki, "--crl", crl,
                              e.addr], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        env.add_cleanup(lambda: p.poll() is None and p.kill())
        p.stdin.write(b"ping")
        p.stdin.flush()
        harness.check_eq(p.stdout.read(4), b"ping", "echo through connect")
        t0 = time.monotonic()
        revoke_in_place(ca, os.path.join(pki, "relay.crt"), crl)
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        err = p.stderr.read().decode(errors="replace")
        harness.check_eq(rc, 1, "connect's exit code; stderr:\n" + err)
        harness.check(took < 5, "connect ended %.1f s after the CRL" % took)
        harness.check(re.search(r"warning: relay %s \(hop 1/1\): its "
                                r"certificate \(serial [0-9A-F]+\) is "
                                r"revoked" % re.escape(relay.addr), err), err)


@harness.timeout(90)
def test_connect_relay_spki_pins(env):
    """--relay-spki: the relay's own key passes; any other pin fails the
    handshake with a message naming the SPKI the relay presented; a
    malformed pin is a usage error."""
    pki = env.pki()
    relay = env.start_relay()
    fp = env.beacon("pki", "fingerprint", os.path.join(pki, "relay.crt"),
                    check=True).stdout.decode().split()[0]
    # the openssl pipeline docs/SECURITY.md gives computes the same
    pub = run("openssl", "x509", "-in", os.path.join(pki, "relay.crt"),
              "-noout", "-pubkey")
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub.encode(), capture_output=True,
                         check=True).stdout
    dg = subprocess.run(["openssl", "dgst", "-sha256"], input=der,
                        capture_output=True, check=True).stdout.decode()
    harness.check_eq(dg.split()[-1], fp, "openssl and beacon pki agree")
    wrong = "ab" * 32
    with Echo() as e:
        r = connect(env, relay, e.addr, "--relay-spki", wrong,
                    "--relay-spki", fp.upper())
        harness.check_eq(r.returncode, 0, r.stderr)
        harness.check_eq(r.stdout, b"ping", "echo with a matching pin")
        r = connect(env, relay, e.addr, "--relay-spki", wrong)
        harness.check(r.returncode != 0, "an unpinned relay was accepted")
        err = r.stderr.decode()
        harness.check("relay key not pinned" in err and fp in err, err)
        r = connect(env, relay, e.addr, "--relay-spki", "xyz")
        harness.check_eq(r.returncode, 2, r.stderr)
        harness.check(b"--relay-spki" in r.stderr, r.stderr)


if __name__ == "__main__":
    harness.main()
