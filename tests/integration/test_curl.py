"""Real curl through `beacon forward` (SOCKS5 and HTTP CONNECT) and the
beacon relay, against `python3 -m http.server` on loopback."""

import os
import re
import shutil
import socket
import urllib.request

import harness


def setup(env):
    if not shutil.which("curl"):
        harness.skip("curl not installed")
    www = env.path("www")
    os.makedirs(www)
    data = harness.random_bytes(48 * 1024 * 1024, seed=7)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(data)
    hport = env.free_port()
    env.start(["python3", "-m", "http.server", str(hport), "--bind",
               "127.0.0.1"], name="http", cwd=www)
    harness.wait_port("127.0.0.1", hport)
    relay = env.start_relay(extra_args=["--allow", "127.0.0.0/8"],
                            allow_loopback=False)
    sp, hp = env.free_port(), env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                     "--config-dir", env.pki(), "--socks", str(sp),
                     "--http-connect", "127.0.0.1:%d" % hp], name="forward")
    harness.wait_port("127.0.0.1", sp)
    harness.wait_port("127.0.0.1", hp)
    return hport, sp, hp, harness.sha256_hex(data), fwd


def curl(env, *args):
    return env.run(["curl", "-sS", "--max-time", "60"] + list(args),
                   timeout=90)


def test_socks5_hostname_download(env):
    hport, sp, hp, digest, fwd = setup(env)
    r = curl(env, "--socks5-hostname", "127.0.0.1:%d" % sp,
             "http://localhost:%d/big.bin" % hport)
    harness.check_eq(r.returncode, 0, r.stderr)
    harness.check_eq(harness.sha256_hex(r.stdout), digest, "sha256")
    fwd.wait_log(r"conn_done front=socks .*target=localhost:%d .*"
                 r"outcome=ok" % hport)


def test_http_connect_download(env):
    hport, sp, hp, digest, fwd = setup(env)
    r = curl(env, "-x", "http://127.0.0.1:%d" % hp, "--proxytunnel",
             "http://127.0.0.1:%d/big.bin" % hport)
    harness.check_eq(r.returncode, 0, r.stderr)
    harness.check_eq(harness.sha256_hex(r.stdout), digest, "sha256")


def test_refused_destinations(env):
    hport, sp, hp, digest, fwd = setup(env)
    dead = env.free_port()
    r = curl(env, "--socks5-hostname", "127.0.0.1:%d" % sp,
             "http://127.0.0.1:%d/" % dead)
    # curl 97: "Can't complete SOCKS5 connection ... (5)" = refused
    harness.check(r.returncode == 97 and b"(5)" in r.stderr, r.stderr)
    r = curl(env, "-x", "http://127.0.0.1:%d" % hp, "--proxytunnel",
             "http://127.0.0.1:%d/" % dead)
    harness.check(r.returncode == 56 and b"502" in r.stderr, r.stderr)
    # garbage -> 400 (plain http:// URLs are forwarded: test_http_proxy)
    s = socket.create_connection(("127.0.0.1", hp), timeout=10)
    s.sendall(b"CONNECT no-port HTTP/1.1\r\n\r\n")
    harness.check(s.recv(100).startswith(b"HTTP/1.1 400"), "400")
    s.close()
    # SOCKS BIND (0x02) -> 0x07
    s = socket.create_connection(("127.0.0.1", sp), timeout=10)
    s.sendall(b"\x05\x01\x00")
    harness.check_eq(s.recv(2), b"\x05\x00", "method")
    s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")
    harness.check_eq(s.recv(10)[:2], b"\x05\x07", "BIND reply")
    s.close()


def metrics_of(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as r:
        return r.read().decode()


def check_no_tunnel(env, relay_addr, why):
    """A relay that cannot be used (why) is the tunnel's failure, never a
    refusing target: SOCKS reply 1 (general failure, not 5), HTTP 503,
    conn_done outcome=tunnel naming the relay, metric reason tunnel."""
    sp, hp, mp = env.free_port(), env.free_port(), env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay", relay_addr,
                     "--config-dir", env.pki(), "--socks", str(sp),
                     "--http-connect", "127.0.0.1:%d" % hp,
                     "--metrics-addr", "127.0.0.1:%d" % mp],
                    name="forward-" + why)
    for port in (sp, hp, mp):
        harness.wait_port("127.0.0.1", port)
    r = curl(env, "--socks5-hostname", "127.0.0.1:%d" % sp,
             "http://localhost:9/")
    # curl 97: "Can't complete SOCKS5 connection ... (1)" = general failure
    harness.check(r.returncode == 97 and b"(1)" in r.stderr,
                  "%s: %r" % (why, r.stderr))
    r = curl(env, "-x", "http://127.0.0.1:%d" % hp, "--proxytunnel",
             "http://localhost:9/")
    harness.check(r.returncode == 56 and b"503" in r.stderr,
                  "%s: %r" % (why, r.stderr))
    fwd.wait_log(r"conn_done front=socks .*relay=%s .*outcome=tunnel "
                 r"reason=E" % re.escape(relay_addr), timeout=10)
    fwd.wait_log(r"conn_done front=http-connect .*relay=%s .*outcome=tunnel "
                 r"reason=E" % re.escape(relay_addr), timeout=10)
    harness.check(not re.search(r"conn_done .*relay=- .*outcome=tunnel",
                                fwd.log_text()), fwd.log_text())
    m = metrics_of(mp)
    harness.check(re.search(r'^beacon_dial_failures_total\{reason="tunnel"\} '
                            r'2$', m, re.M), m)
    harness.check(re.search(r'^beacon_dial_failures_total\{reason="refused"\} '
                            r'0$', m, re.M), m)
    fwd.stop()


def test_dead_relay_is_not_a_refusing_target(env):
    if not shutil.which("curl"):
        harness.skip("curl not installed")
    # nothing listens on the relay's port: connection refused to the relay
    check_no_tunnel(env, "127.0.0.1:%d" % env.free_port(), "dead")
    # something that is not a beacon relay answers: the handshake fails
    hport = env.free_port()
    env.start(["python3", "-m", "http.server", str(hport), "--bind",
               "127.0.0.1"], name="http")
    harness.wait_port("127.0.0.1", hport)
    check_no_tunnel(env, "127.0.0.1:%d" % hport, "not_tls")


if __name__ == "__main__":
    harness.main()
