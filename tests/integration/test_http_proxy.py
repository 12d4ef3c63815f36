"""`beacon forward --http-connect` as an HTTP/1.1 forward proxy: real curl
and Python's urllib with http_proxy= (absolute-form requests for plain
http:// URLs) through the beacon relay, against a keep-alive origin
(origin_http.py) on loopback."""

import hashlib
import os
import shutil
import socket
import sys
import urllib.request

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def setup(env, origins=1):
    if not shutil.which("curl"):
        harness.skip("curl not installed")
    ports = []
    for _ in range(origins):
        p = env.free_port()
        env.start([sys.executable, os.path.join(HERE, "origin_http.py"),
                   str(p)], name="origin%d" % p)
        harness.wait_port("127.0.0.1", p)
        ports.append(p)
    relay = env.start_relay(extra_args=["--allow", "127.0.0.0/8"],
                            allow_loopback=False)
    hp = env.free_port()
    fwd = env.start([env.need_bin(), "forward", "--relay", relay.addr,
                     "--config-dir", env.pki(),
                     "--http-connect", "127.0.0.1:%d" % hp], name="forward")
    harness.wait_port("127.0.0.1", hp)
    return ports, "http://127.0.0.1:%d" % hp, fwd


def curl(env, *args):
    r = env.run(["curl", "-sS", "--max-time", "60"] + list(args), timeout=90)
    return r


def test_get_keepalive_and_framings(env):
    (port,), proxy, fwd = setup(env)
    base = "http://127.0.0.1:%d" % port
    n = 3 * 1024 * 1024 + 17
    want = hashlib.sha256(harness.random_bytes(n, seed=n)).hexdigest()
    # Three requests on one client connection: Content-Length, chunked,
    # and a body that ends with the origin's close.
    out = [env.path("o%d" % i) for i in range(3)]
    r = curl(env, "-x", proxy,
             "%s/bytes/%d" % (base, n), "-o", out[0],
             "%s/chunked/%d" % (base, n), "-o", out[1],
             "%s/close/%d" % (base, n), "-o", out[2])
    harness.check_eq(r.returncode, 0, r.stderr)
    for o in out:
        with open(o, "rb") as f:
            harness.check_eq(hashlib.sha256(f.read()).hexdigest(), want, o)
    fwd.wait_log(r"conn_done front=http-connect .*target=127.0.0.1:%d "
                 r".*outcome=ok.* requests=3" % port)


def test_post_bodies_and_headers(env):
    (port,), proxy, fwd = setup(env)
    base = "http://127.0.0.1:%d" % port
    data = harness.random_bytes(2 * 1024 * 1024 + 5, seed=3)
    path = env.path("up.bin")
    with open(path, "wb") as f:
        f.write(data)
    want = hashlib.sha256(data).hexdigest().encode()
    r = curl(env, "-x", proxy, "--data-binary", "@" + path,
             "%s/sha256" % base)
    harness.check_eq(r.returncode, 0, r.stderr)
    harness.check_eq(r.stdout, want, "Content-Length upload")
    r = curl(env, "-x", proxy, "-H", "Transfer-Encoding: chunked",
             "--data-binary", "@" + path, "%s/sha256" % base)
    harness.check_eq(r.returncode, 0, r.stderr)
    harness.check_eq(r.stdout, want, "chunked upload")
    # Hop-by-hop fields stop at the proxy; Host is the URI's; Via added.
    r = curl(env, "-x", proxy, "-U", "user:secret",
             "-H", "Proxy-Connection: keep-alive", "-H", "Connection: X-Hop",
             "-H", "X-Hop: 1", "-H", "X-End: 2", "%s/headers" % base)
    harness.check_eq(r.returncode, 0, r.stderr)
    got = r.stdout.decode().lower()
    for gone in ("proxy-authorization", "proxy-connection", "x-hop"):
        harness.check(gone not in got, "%s passed on: %s" % (gone, got))
    harness.check("x-end: 2" in got and "via: 1.1 beacon" in got, got)
    harness.check("host: 127.0.0.1:%d" % port in got, got)


def test_two_origins_one_connection(env):
    ports, proxy, fwd = setup(env, origins=2)
    # urllib's ProxyHandler sends absolute-form requests; one opener,
    # one connection per request (urllib closes), so use a raw socket
    # for the shared connection.
    s = socket.create_connection(("127.0.0.1", int(proxy.rsplit(":", 1)[1])),
                                 timeout=30)
    f = s.makefile("rb")
    for p in ports + ports[:1]:
        s.sendall(b"GET http://127.0.0.1:%d/bytes/1000 HTTP/1.1\r\n"
                  b"Host: ignored.example\r\n\r\n" % p)
        status = f.readline()
        harness.check(status.startswith(b"HTTP/1.1 200"), status)
        hdrs = {}
        while True:
            line = f.readline().strip()
            if not line:
                break
            k, v = line.split(b":", 1)
            hdrs[k.strip().lower()] = v.strip()
        harness.check_eq(hdrs[b"x-origin-port"], b"%d" % p, "origin")
        body = f.read(int(hdrs[b"content-length"]))
        harness.check_eq(body, harness.random_bytes(1000, seed=1000), "body")
    f.close()
    s.close()
    fwd.wait_log(r"conn_done front=http-connect .* requests=3")
    # A client that half-closes after its request still gets the answer.
    s = socket.create_connection(("127.0.0.1", int(proxy.rsplit(":", 1)[1])),
                                 timeout=30)
    s.sendall(b"GET http://127.0.0.1:%d/bytes/777 HTTP/1.1\r\n\r\n"
              % ports[0])
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    harness.check(got.startswith(b"HTTP/1.1 200") and
                  got.endswith(harness.random_bytes(777, seed=777)), got[:200])
    # urllib with a proxy (what http_proxy= gives Python programs).
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy}))
    with opener.open("http://127.0.0.1:%d/chunked/5000" % ports[1],
                     timeout=30) as resp:
        harness.check_eq(resp.read(), harness.random_bytes(5000, seed=5000),
                         "urllib")


def test_refusals(env):
    (port,), proxy, fwd = setup(env)
    dead = env.free_port()
    r = curl(env, "-x", proxy, "-o", "/dev/null", "-w", "%{http_code}",
             "http://127.0.0.1:%d/" % dead)
    harness.check_eq(r.stdout, b"502", r.stderr)
    # origin-form (not a proxy request) -> 405; https via GET -> 405
    hp = int(proxy.rsplit(":", 1)[1])
    for req in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET https://127.0.0.1/ HTTP/1.1\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", hp), timeout=10)
        s.sendall(req)
        harness.check(s.recv(100).startswith(b"HTTP/1.1 405"), req)
        s.close()
    # ambiguous framing -> 400, a transfer coding we cannot end -> 501
    for req, code in (
            (b"POST http://127.0.0.1:%d/sha256 HTTP/1.1\r\n"
             b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" % port,
             b"400"),
            (b"POST http://127.0.0.1:%d/sha256 HTTP/1.1\r\n"
             b"Transfer-Encoding: gzip\r\n\r\n" % port, b"501"),
            (b"GET http://user@127.0.0.1:%d/ HTTP/1.1\r\n\r\n" % port,
             b"400")):
        s = socket.create_connection(("127.0.0.1", hp), timeout=10)
        s.sendall(req)
        got = s.recv(100)
        harness.check(got.startswith(b"HTTP/1.1 " + code), (req, got))
        s.close()
    # The proxy still serves after all of that.
    r = curl(env, "-x", proxy, "http://127.0.0.1:%d/bytes/10" % port)
    harness.check_eq(r.stdout, harness.random_bytes(10, seed=10), r.stderr)


if __name__ == "__main__":
    harness.main(globals())
