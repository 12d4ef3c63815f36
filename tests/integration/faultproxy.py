"""A TCP proxy on 127.0.0.1 whose faults the tests switch at runtime
(standard library only).

    with FaultProxy("127.0.0.1", relay.port) as fp:   # fp.port, fp.addr
        ... connect to fp.addr instead of the relay ...
        fp.delay(200)          # every chunk waits 200 ms before forwarding
        fp.throttle(100_000)   # at most 100 kB/s per direction per conn
        fp.tiny()              # 1-byte writes with TCP_NODELAY
        fp.blackhole()         # stop forwarding both ways; no FIN, no RST
        fp.reset_at(5000)      # RST both sides once 5000 bytes went through
                               # (counted over both directions)
        fp.passthrough()       # back to plain forwarding
        fp.cut()               # close every live connection (FIN)
        fp.cut(rst=True)       # ... with RST

Modes apply to live connections at once and to new ones. Counters:
fp.connections (accepted), fp.active (live), fp.forwarded (bytes, both
directions, all connections). stop() closes everything.

CLI: python3 faultproxy.py --target HOST:PORT [--port 0] prints its port
on stdout, then reads commands on stdin, one a line: pass, delay MS,
throttle BPS, tiny, blackhole, reset-at N, cut, cut-rst, stats (prints
"connections active forwarded"). EOF on stdin stops it.
"""

import argparse
import select
import socket
import struct
import sys
import threading
import time

PASS, DELAY, THROTTLE, TINY, BLACKHOLE, RESET_AT = (
    "pass", "delay", "throttle", "tiny", "blackhole", "reset-at")


class _Conn:
    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.socks = (client, upstream)
        self.closed = threading.Event()
        self.forwarded = 0
        self.lock = threading.Lock()
        self.running = 2  # pump threads; the last one out closes

    def start(self):
        self.threads = [
            threading.Thread(target=self._pump, args=(0, 1), daemon=True),
            threading.Thread(target=self._pump, args=(1, 0), daemon=True)]
        for t in self.threads:
            t.start()

    def close(self, rst=False):
        if self.closed.is_set():
            return
        self.closed.set()
        for s in self.socks:
            try:
                if rst:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                else:
                    s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _wait_unblocked(self):
        # While blackholed, neither read nor write: data piles up in the
        # kernel buffers and the peers see a silent, open connection.
        while not self.closed.is_set():
            mode, _ = self.proxy.mode()
            if mode != BLACKHOLE:
                return True
            self.proxy._changed.wait(0.05)
        return False

    def _pump(self, src_i, dst_i):
        src, dst = self.socks[src_i], self.socks[dst_i]
        try:
            while self._wait_unblocked():
                r, _, _ = select.select([src], [], [], 0.05)
                if not r:
                    continue
                mode, arg = self.proxy.mode()
                if mode == BLACKHOLE:
                    continue
                want = 65536
                if mode == THROTTLE:
                    want = max(1, min(want, int(arg) // 20 or 1))
                elif mode == RESET_AT:
                    want = max(1, min(want, self._reset_left(arg)))
                data = src.recv(want)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if not self._send(dst, data):
                    return
        except OSError:
            self.close()
        finally:
            with self.lock:
                self.running -= 1
                last = self.running == 0
            if last:
                self.close()

    def _reset_left(self, limit):
        with self.proxy._lock:
            return limit - self.proxy.forwarded

    def _send(self, dst, data):
        mode, arg = self.proxy.mode()
        if mode == DELAY:
            time.sleep(arg / 1000.0)
        if mode == TINY:
            dst.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(data)):
                dst.sendall(data[i:i + 1])
                self._count(1)
            return True
        if mode == THROTTLE:
            # Pace to arg bytes/s: a chunk is at most 1/20 s worth.
            t0 = time.monotonic()
            dst.sendall(data)
            self._count(len(data))
            spare = len(data) / float(arg) - (time.monotonic() - t0)
            if spare > 0:
                time.sleep(spare)
            return True
        if mode == RESET_AT:
            left = self._reset_left(arg)
            part = data[:max(0, left)]
            if part:
                dst.sendall(part)
                self._count(len(part))
            if self._reset_left(arg) <= 0:
                self.close(rst=True)
                return False
            return True
        dst.sendall(data)
        self._count(len(data))
        return True

    def _count(self, n):
        with self.lock:
            self.forwarded += n
        with self.proxy._lock:
            self.proxy.forwarded += n


class FaultProxy:
    def __init__(self, target_host, target_port, host="127.0.0.1", port=0):
        self.target = (target_host, target_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.addr = "%s:%d" % (host, self.port)
        self.connections = 0
        self.forwarded = 0
        self.errors = []
        self._mode = (PASS, 0)
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._conns = []
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          daemon=True)
        self._acceptor.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- modes --

    def mode(self):
        with self._lock:
            return self._mode

    def _set(self, mode, arg=0):
        with self._lock:
            self._mode = (mode, arg)
            if mode == RESET_AT:
                # reset_at(N) counts from now.
                self._mode = (mode, self.forwarded + arg)
        self._changed.set()
        self._changed.clear()

    def passthrough(self):
        self._set(PASS)

    def delay(self, ms):
        self._set(DELAY, ms)

    def throttle(self, bytes_per_s):
        if bytes_per_s <= 0:
            raise ValueError("throttle needs a positive rate")
        self._set(THROTTLE, bytes_per_s)

    def tiny(self):
        self._set(TINY)

    def blackhole(self):
        self._set(BLACKHOLE)

    def reset_at(self, nbytes):
        """RST both sides of a connection once nbytes more bytes were
        forwarded (in total, from now)."""
        self._set(RESET_AT, nbytes)
        if nbytes <= 0:
            self.cut(rst=True)

    def cut(self, rst=False):
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.close(rst=rst)

    @property
    def active(self):
        with self._lock:
            self._conns = [c for c in self._conns if not c.closed.is_set()]
            return len(self._conns)

    # -- plumbing --

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=10)
                up.settimeout(None)
            except OSError as e:
                self.errors.append(e)
                client.close()
                continue
            c = _Conn(self, client, up)
            with self._lock:
                self.connections += 1
                self._conns.append(c)
            if self.mode()[0] == RESET_AT and \
                    c._reset_left(self.mode()[1]) <= 0:
                c.close(rst=True)
                continue
            c.start()

    def stop(self):
        if self._stopping.is_set():
            return
        self._stopping.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.cut()
        self._acceptor.join(5)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            for t in getattr(c, "threads", ()):
                t.join(2)


def cli(argv=None):
    ap = argparse.ArgumentParser(description="controllable TCP proxy")
    ap.add_argument("--target", required=True, help="HOST:PORT")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args(argv)
    host, port = a.target.rsplit(":", 1)
    fp = FaultProxy(host.strip("[]"), int(port), port=a.port)
    print(fp.port, flush=True)
    cmds = {"pass": lambda: fp.passthrough(), "tiny": lambda: fp.tiny(),
            "blackhole": lambda: fp.blackhole(), "cut": lambda: fp.cut(),
            "cut-rst": lambda: fp.cut(rst=True)}
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        try:
            if w[0] in cmds:
                cmds[w[0]]()
            elif w[0] == "delay":
                fp.delay(float(w[1]))
            elif w[0] == "throttle":
                fp.throttle(int(w[1]))
            elif w[0] == "reset-at":
                fp.reset_at(int(w[1]))
            elif w[0] == "stats":
                print(fp.connections, fp.active, fp.forwarded, flush=True)
            else:
                print("unknown command %r" % w[0], file=sys.stderr)
        except (IndexError, ValueError) as e:
            print("bad command %r: %s" % (line.strip(), e), file=sys.stderr)
    fp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
