"""Real curl through `beacon forward` (SOCKS5 and HTTP CONNECT) and the
beacon relay, against `python3 -m http.server` on loopback."""

import os
import shutil
import socket

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


if __name__ == "__main__":
    harness.main()
