"""Certificates over time: --check-config against every unusable TLS file
(docs/OPERATIONS.md "Key and certificate checks"), `beacon pki renew` and
`pki crl`, the renewal timer example, and the walk-throughs of
docs/OPERATIONS.md "Short-lived certificates" and "Rolling over the Fleet
CA", run as written.

Each `def test_<case>(env)` is one CTest case; see harness.py.
"""
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_ops import need_tool  # noqa: E402
from walkthrough import run_walkthrough  # noqa: E402


# ---- helpers ----------------------------------------------------------------

def openssl_crl(env, ca_dir, name, last, nxt):
    """A CRL of ca_dir's Fleet CA with lastUpdate `last` and nextUpdate
    `nxt` (YYYYMMDDHHMMSSZ), made with `openssl ca` and a throw-away
    database (pki crl only writes CRLs valid from now)."""
    openssl = need_tool("openssl")
    d = env.path("cadb-" + name)
    os.makedirs(d)
    open(os.path.join(d, "index.txt"), "w").close()
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\n"
                "default_md=sha256\n" % d)
    out = os.path.join(d, "crl.pem")
    env.run([openssl, "ca", "-batch", "-config", cnf,
             "-cert", os.path.join(ca_dir, "fleet-ca.crt"),
             "-keyfile", os.path.join(ca_dir, "fleet-ca.key"),
             "-gencrl", "-crl_lastupdate", last, "-crl_nextupdate", nxt,
             "-out", out], check=True, timeout=30)
    return out


def relay_dir(env, name, crt, key, ca, crl=None):
    files = {"relay.crt": crt, "relay.key": key, "fleet-ca.crt": ca}
    if crl:
        files["crl.pem"] = crl
    return env.config_dir(name, files)


def egress_check(env, d):
    return env.beacon("egress", "--config-dir", d, "--tunnel-addr",
                      "127.0.0.1:1", "--check-config", timeout=30)


def forward_check(env, crt, key, ca):
    return env.beacon("forward", "--relay", "127.0.0.1:1", "--cert", crt,
                      "--key", key, "--ca", ca, "-L", "127.0.0.1:1:db:5432",
                      "--check-config", timeout=30)


def refused(r, path, *words):
    """Exit 3, and stderr names the file and says each of words."""
    err = r.stderr.decode(errors="replace")
    harness.check_eq(r.returncode, 3, "exit code; stderr:\n" + err)
    harness.check(path in err, "%r not named in:\n%s" % (path, err))
    for w in words:
        harness.check(w in err, "%r not said in:\n%s" % (w, err))


# ---- --check-config ---------------------------------------------------------

def test_check_config_relay_files(env):
    """egress --check-config refuses each file that would fail every
    handshake, naming it and the problem: a controller's certificate as
    relay.crt, a relay certificate of another CA, a leaf as fleet-ca.crt,
    a CRL expired, not yet valid, or of another CA; it warns about a CRL
    ending within 7 days, and a start refuses what the check refuses."""
    pki = env.pki()
    other = env.path("other")
    env.beacon("pki", "init", other, check=True)
    ca = os.path.join(pki, "fleet-ca.crt")
    rcrt, rkey = os.path.join(pki, "relay.crt"), os.path.join(pki, "relay.key")

    d = relay_dir(env, "ctl-as-relay", os.path.join(pki, "controller.crt"),
                  os.path.join(pki, "controller.key"), ca)
    refused(egress_check(env, d), os.path.join(d, "relay.crt"),
            "not for server authentication", "serverAuth")
    r = env.beacon("egress", "--config-dir", d, "--tunnel-addr",
                   "127.0.0.1:0", timeout=30)
    refused(r, os.path.join(d, "relay.crt"), "not for server authentication")

    d = relay_dir(env, "other-relay", os.path.join(other, "relay.crt"),
                  os.path.join(other, "relay.key"), ca)
    refused(egress_check(env, d), os.path.join(d, "relay.crt"),
            "does not chain to the fleet CA")

    d = relay_dir(env, "leaf-as-ca", rcrt, rkey,
                  os.path.join(pki, "controller.crt"))
    refused(egress_check(env, d), os.path.join(d, "fleet-ca.crt"),
            "is not a CA certificate")

    d = relay_dir(env, "other-key", rcrt, os.path.join(other, "relay.key"), ca)
    refused(egress_check(env, d), os.path.join(d, "relay.key"),
            "does not match")

    crls = {
        "expired": (openssl_crl(env, pki, "expired", "20200101000000Z",
                                "20200201000000Z"), "expired on"),
        "future": (openssl_crl(env, pki, "future", "20990101000000Z",
                               "20990201000000Z"), "is not valid before"),
        "other-ca": (openssl_crl(env, other, "other", "20200101000000Z",
                                 "20990101000000Z"), "signed by no CA"),
    }
    for name, (crl, words) in sorted(crls.items()):
        d = relay_dir(env, "crl-" + name, rcrt, rkey, ca, crl)
        refused(egress_check(env, d), os.path.join(d, "crl.pem"), words)

    # a CRL valid for 2 more days of 60: fine, with a warning
    def utc(t):
        return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))
    now = time.time()
    crl = openssl_crl(env, pki, "soon", utc(now - 58 * 86400),
                      utc(now + 2 * 86400))
    d = relay_dir(env, "crl-soon", rcrt, rkey, ca, crl)
    r = egress_check(env, d)
    err = r.stderr.decode(errors="replace")
    harness.check_eq(r.returncode, 0, err)
    harness.check("tls_file_expiring" in err and
                  os.path.join(d, "crl.pem") in err, err)


def test_check_config_controller_files(env):
    """forward --check-config refuses a relay's serverAuth-only
    certificate as the controller's, a controller of another CA and a
    leaf as the CA file, naming each."""
    pki = env.pki()
    ca = os.path.join(pki, "fleet-ca.crt")
    ckey = os.path.join(pki, "controller.key")
    r = forward_check(env, os.path.join(pki, "controller.crt"), ckey, ca)
    harness.check_eq(r.returncode, 0, r.stderr.decode(errors="replace"))

    crt, key = env.issue("srvonly", usage="server", san="localhost")
    refused(forward_check(env, crt, key, ca), crt,
            "not for client authentication")
    other = env.path("other")
    env.beacon("pki", "init", other, check=True)
    crt = os.path.join(other, "controller.crt")
    refused(forward_check(env, crt, os.path.join(other, "controller.key"),
                          ca), crt, "does not chain to the fleet CA")
    leaf = os.path.join(pki, "relay.crt")
    refused(forward_check(env, os.path.join(pki, "controller.crt"), ckey,
                          leaf), leaf, "is not a CA certificate")


def test_expired_crl_said_on_both_sides(env):
    """A CRL that expires while the relay runs refuses every controller of
    its CA; the relay's log says its CRL expired (not the controller's
    certificate), and the controller, told "certificate expired", says
    its own certificate is valid and the relay's CRL is the likely
    cause."""
    pki = env.pki()
    now = time.time()
    crl = openssl_crl(env, pki, "short",
                      time.strftime("%Y%m%d%H%M%SZ", time.gmtime(now - 60)),
                      time.strftime("%Y%m%d%H%M%SZ", time.gmtime(now + 6)))
    d = relay_dir(env, "crl-short", os.path.join(pki, "relay.crt"),
                  os.path.join(pki, "relay.key"),
                  os.path.join(pki, "fleet-ca.crt"), crl)
    relay = env.start_relay(config_dir=d)
    time.sleep(max(0.0, now + 8 - time.time()))
    r = env.beacon("connect", "--relay", relay.addr, "--config-dir", pki,
                   "127.0.0.1:9", timeout=30)
    err = r.stderr.decode(errors="replace")
    harness.check(r.returncode != 0, "connected through an expired CRL")
    harness.check("certificate expired (TLS alert 45)" in err and
                  "the relay's CRL has probably expired" in err,
                  "controller side:\n" + err)
    relay.wait_log(r"our CRL of its CA has expired", timeout=10)


# ---- pki renew --------------------------------------------------------------

def cert_text(env, path, *what):
    openssl = need_tool("openssl")
    return env.run([openssl, "x509", "-in", path, "-noout"] + list(what),
                   check=True).stdout.decode()


def test_pki_renew_atomic_same_key(env):
    """pki renew keeps the key, subject and SANs, sets --hours, and
    replaces the file by rename: a reader polling the file all along
    never sees anything but a whole certificate chain, and the inode
    changes (a new file, not a rewrite in place)."""
    pki = env.pki()
    crt, key = os.path.join(pki, "relay.crt"), os.path.join(pki, "relay.key")
    fp_before = env.beacon("pki", "fingerprint", crt, check=True).stdout
    subj = cert_text(env, crt, "-subject", "-ext", "subjectAltName")
    # One renew first: its temporary file exists beside the old one, so
    # a new inode means a rename, not a rewrite. (After many renews the
    # first inode may be free and handed out again.)
    ino = os.stat(crt).st_ino
    env.beacon("pki", "renew", "--ca-dir", pki, "--cert", crt,
               "--key", key, "--hours", "2", check=True)
    harness.check(os.stat(crt).st_ino != ino, "the file was rewritten in "
                  "place, not replaced")
    stop = threading.Event()
    bad = []

    def reader():
        while not stop.is_set():
            with open(crt, "rb") as f:
                data = f.read()
            if data.count(b"-----END CERTIFICATE-----") != 2 or \
                    not data.endswith(b"-----END CERTIFICATE-----\n"):
                bad.append(data)
            # Yield the GIL now and then: a reader that never sleeps
            # starves the test's own subprocess handling on a busy
            # machine.
            time.sleep(0.0005)
    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(20):
            env.beacon("pki", "renew", "--ca-dir", pki, "--cert", crt,
                       "--key", key, "--hours", "2", check=True)
    finally:
        stop.set()
        t.join()
    harness.check(not bad, "a reader saw a partial file: %r" % bad[:1])
    harness.check_eq(env.beacon("pki", "fingerprint", crt,
                                check=True).stdout, fp_before, "SPKI")
    harness.check_eq(cert_text(env, crt, "-subject", "-ext",
                               "subjectAltName"), subj, "subject and SANs")
    leftovers = [n for n in os.listdir(pki) if ".crt." in n]
    harness.check(not leftovers, "temporary files left: %s" % leftovers)
    # --hours 2: notAfter within the next 2 hours (checkend)
    openssl = need_tool("openssl")
    r = env.run([openssl, "x509", "-in", crt, "-noout", "-checkend",
                 str(2 * 3600 + 60)])
    harness.check_eq(r.returncode, 1, "valid beyond 2 hours")
    r = env.run([openssl, "x509", "-in", crt, "-noout", "-checkend",
                 str(3600)])
    harness.check_eq(r.returncode, 0, "expires within an hour")
    # the wrong key: refused, file untouched
    with open(crt, "rb") as f:
        before = f.read()
    r = env.beacon("pki", "renew", "--ca-dir", pki, "--cert", crt, "--key",
                   os.path.join(pki, "controller.key"), timeout=30)
    harness.check_eq(r.returncode, 3, r.stderr)
    harness.check(b"does not match" in r.stderr, r.stderr)
    with open(crt, "rb") as f:
        harness.check_eq(f.read(), before, "file changed by a refused renew")


def test_pki_sign_hours(env):
    """pki sign --hours N signs for N hours; --days and --hours together
    are a usage error (exit 2)."""
    pki = env.pki()
    d = env.path("ctl")
    os.makedirs(d)
    csr = env.beacon("gen-csr", "--controller", "--config-dir", d, "--cn",
                     "ctl-1", check=True).stdout
    with open(env.path("ctl.csr"), "wb") as f:
        f.write(csr)
    out = os.path.join(d, "controller.crt")
    env.beacon("pki", "sign", "--ca-dir", pki, "--csr", env.path("ctl.csr"),
               "--hours", "3", "--out", out, check=True)
    openssl = need_tool("openssl")
    for secs, rc in ((3 * 3600 + 60, 1), (2 * 3600, 0)):
        r = env.run([openssl, "x509", "-in", out, "-noout", "-checkend",
                     str(secs)])
        harness.check_eq(r.returncode, rc, "checkend %d" % secs)
    r = env.beacon("pki", "sign", "--ca-dir", pki, "--csr",
                   env.path("ctl.csr"), "--hours", "3", "--days", "1",
                   timeout=30)
    harness.check_eq(r.returncode, 2, r.stderr)
    harness.check(b"exclude each other" in r.stderr, r.stderr)


def test_renew_units_verify(env):
    """The renewal timer example and its service pass systemd-analyze
    verify, and the service runs `beacon pki renew`."""
    sa = need_tool("systemd-analyze")
    d = env.path("units")
    os.makedirs(os.path.join(d, "man", "man1"))
    shutil.copy(os.path.join(env.src_dir, "docs", "beacon.1"),
                os.path.join(d, "man", "man1"))
    for n in ("beacon-renew.service", "beacon-renew.timer"):
        with open(os.path.join(env.src_dir, "deploy", n)) as f:
            text = f.read()
        if n.endswith(".service"):
            harness.check("ExecStart=/usr/local/bin/beacon pki renew " in
                          text, "%s: ExecStart" % n)
            text = text.replace("/usr/local/bin/beacon",
                                os.path.abspath(env.need_bin()))
        with open(os.path.join(d, n), "w") as f:
            f.write(text)
    r = env.run([sa, "verify", os.path.join(d, "beacon-renew.service"),
                 os.path.join(d, "beacon-renew.timer")],
                env={"MANPATH": os.path.join(d, "man")}, timeout=60)
    out = (r.stdout + r.stderr).decode(errors="replace").strip()
    harness.check(r.returncode == 0 and not out,
                  "systemd-analyze verify (rc %d):\n%s" % (r.returncode, out))


# ---- the walk-throughs of docs/OPERATIONS.md --------------------------------

@harness.timeout(180)
def test_short_lived_walkthrough(env):
    """docs/OPERATIONS.md "Short-lived certificates": 24-hour leaves from
    pki sign --hours, a request through the relay, both certificates
    renewed in place and the relay reloaded, a request again."""
    out, err = run_walkthrough(env, "Short-lived certificates")
    harness.check_eq(out.count("HTTP/1.0 200 OK"), 2,
                     "answers through the relay:\n%s\n%s" % (out, err))
    harness.check_eq(out.count("configuration OK"), 2, out)
    work = env.path("walk")
    openssl = need_tool("openssl")
    for crt in ("relay-etc/relay.crt", "ctl-etc/controller.crt"):
        r = env.run([openssl, "x509", "-in", os.path.join(work, crt),
                     "-noout", "-checkend", str(24 * 3600 + 60)])
        harness.check_eq(r.returncode, 1, "%s valid beyond 24 h" % crt)
    harness.check("reload" in err, "no reload logged:\n" + err)


@harness.timeout(180)
def test_rollover_walkthrough(env):
    """docs/OPERATIONS.md "Rolling over the Fleet CA": controllers of both
    CAs through one relay with one CRL per CA, a revocation by the old CA
    refusing only its controller, then the relay on the new CA alone."""
    out, err = run_walkthrough(env, "Rolling over the Fleet CA")
    harness.check_eq(out.count("HTTP/1.0 200 OK"), 3,
                     "answers through the relay:\n%s\n%s" % (out, err))
    harness.check_eq(out.count("refused: revoked"), 1, out)
    harness.check("certificate revoked" in err,
                  "the revocation is not said:\n" + err)
    harness.check_eq(out.count("configuration OK"), 2, out)
    harness.check("CRL signature failure" not in err, err)


if __name__ == "__main__":
    harness.main()
