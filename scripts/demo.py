#!/usr/bin/env python3
"""make demo: the quickstart, end to end on loopback.

Creates a development PKI with `beacon pki init`, starts a relay
(`beacon egress`), a local HTTP backend and an echo backend, goes through
the relay with `beacon connect` and with `beacon forward` + curl, prints
what happened, and stops everything it started (by PID).
"""
import argparse
import hashlib
import http.server
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("process exited early (%d)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open in %.0fs" % (port, timeout))


class Echo(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        class H(socketserver.BaseRequestHandler):
            def handle(self):
                while True:
                    b = self.request.recv(65536)
                    if not b:
                        break
                    self.request.sendall(b)
                self.request.shutdown(socket.SHUT_WR)
        super().__init__(("127.0.0.1", 0), H)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    beacon = os.path.abspath(os.path.join(args.build, "beacon"))
    tmp = tempfile.mkdtemp(prefix="beacon-demo-")
    procs = []
    servers = []
    ok = True

    def say(msg):
        print("demo: " + msg, flush=True)

    try:
        pki = os.path.join(tmp, "pki")
        subprocess.run([beacon, "pki", "init", pki], check=True,
                       stdout=subprocess.DEVNULL)
        say("made a development PKI in %s (root -> Fleet CA -> relay, "
            "controller)" % pki)

        echo = Echo()
        servers.append(echo)
        threading.Thread(target=echo.serve_forever, daemon=True).start()
        web_root = os.path.join(tmp, "www")
        os.mkdir(web_root)
        blob = os.urandom(4 << 20)
        with open(os.path.join(web_root, "blob.bin"), "wb") as f:
            f.write(blob)
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(
            *a, directory=web_root, **k)

        class QuietHTTP(http.server.ThreadingHTTPServer):
            daemon_threads = True

        http.server.SimpleHTTPRequestHandler.log_message = \
            lambda *a, **k: None
        web = QuietHTTP(("127.0.0.1", 0), handler)
        servers.append(web)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        say("backends: echo on 127.0.0.1:%d, http on 127.0.0.1:%d" %
            (echo.server_address[1], web.server_address[1]))

        rport = free_port()
        relay_log = open(os.path.join(tmp, "relay.log"), "w")
        relay = subprocess.Popen(
            [beacon, "egress", "--config-dir", pki, "--tunnel-addr",
             "127.0.0.1:%d" % rport, "--allow", "127.0.0.0/8",
             "--workers", "1"], stderr=relay_log)
        procs.append(relay)
        wait_port(rport, relay)
        say("relay listening on 127.0.0.1:%d (pid %d)" % (rport, relay.pid))
        relay_addr = "127.0.0.1:%d" % rport

        msg = b"hello through the relay\n"
        t0 = time.time()
        r = subprocess.run(
            [beacon, "connect", "--relay", relay_addr, "--config-dir", pki,
             "127.0.0.1:%d" % echo.server_address[1]],
            input=msg, capture_output=True, timeout=30)
        if r.returncode == 0 and r.stdout == msg:
            say("beacon connect: echo round trip ok (%r, %.0f ms)" %
                (r.stdout.decode().strip(), (time.time() - t0) * 1000))
        else:
            ok = False
            say("beacon connect FAILED: exit %d, stdout %r, stderr %s" %
                (r.returncode, r.stdout, r.stderr.decode().strip()))

        sport, hport = free_port(), free_port()
        fwd_log = open(os.path.join(tmp, "forward.log"), "w")
        fwd = subprocess.Popen(
            [beacon, "forward", "--relay", relay_addr, "--config-dir", pki,
             "--socks", "127.0.0.1:%d" % sport,
             "--http-connect", "127.0.0.1:%d" % hport], stderr=fwd_log)
        procs.append(fwd)
        wait_port(sport, fwd)
        wait_port(hport, fwd)
        url = "http://127.0.0.1:%d/blob.bin" % web.server_address[1]
        want = hashlib.sha256(blob).hexdigest()
        for name, flags in (
                ("SOCKS5", ["--socks5-hostname", "127.0.0.1:%d" % sport]),
                ("HTTP CONNECT", ["-x", "http://127.0.0.1:%d" % hport,
                                  "--proxytunnel"])):
            t0 = time.time()
            r = subprocess.run(["curl", "-sS", "--max-time", "30"] + flags +
                               [url], capture_output=True, timeout=40)
            got = hashlib.sha256(r.stdout).hexdigest()
            if r.returncode == 0 and got == want:
                say("beacon forward + curl via %s: 4 MiB download, sha256 "
                    "ok (%.0f ms)" % (name, (time.time() - t0) * 1000))
            else:
                ok = False
                say("curl via %s FAILED: exit %d, %s" %
                    (name, r.returncode, r.stderr.decode().strip()))

        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=40)
        relay_log.close()
        with open(os.path.join(tmp, "relay.log")) as f:
            lines = [l for l in f if "stream_done" in l]
        say("relay logged %d streams; last: %s" %
            (len(lines), lines[-1].strip() if lines else "-"))
        say("relay stopped with exit code %d" % relay.returncode)
        if relay.returncode != 0:
            ok = False
    except Exception as e:  # report, then clean up
        ok = False
        say("FAILED: %s" % e)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for s in servers:
            s.shutdown()
            s.server_close()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say("logs kept in %s" % tmp)
    say("all good" if ok else "something failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
