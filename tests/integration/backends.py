"""Loopback TCP backends for the integration tests (standard library only).

Each backend listens on 127.0.0.1 (or ::1 with host="::1") on an
ephemeral port, serves every connection in its own thread, and is a
context manager:

    with Echo() as e:            # e.port, e.addr ("127.0.0.1:PORT")
        ...

Kinds:
    Echo()                 echoes until EOF, then half-closes (FIN)
    Sink()                 reads to EOF, then answers "<count> <sha256>\\n"
                           and closes; .results lists (count, sha) per
                           connection (sha None when the upload was reset)
    Source(nbytes, seed)   writes harness.random_bytes(nbytes, seed), then
                           closes; .sha256 is the expected digest
    AnswerAfter(n, reply)  reads exactly n bytes, writes reply, closes
    Silent()               accepts, never reads or writes
    ResetAfter(n)          reads n bytes, then closes with RST (SO_LINGER 0)
    SlowAccept(delay)      listen backlog 1; each accept() waits `delay`
                           seconds (default: an hour), so connections
                           queue in the kernel and, once the backlog is
                           full, further SYNs go unanswered

Common attributes: .port, .addr, .connections (accepted count),
.active (connections being served; for Silent: held), .errors
(exceptions in handlers). `max_conns` bounds the live connections
(extra ones wait in the listen backlog); Silent holds up to 8192 without
threads. stop() (or leaving the with block) closes the
listener and every live connection and joins the threads.

CLI: python3 backends.py KIND [--port 0] [--host 127.0.0.1] [--bytes N]
[--seed S] [--reply TEXT] [--delay S] prints the port on stdout and
serves until killed.
"""

import argparse
import hashlib
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Backend:
    backlog = 128
    threaded = True  # one handler thread per connection

    def __init__(self, host="127.0.0.1", port=0, max_conns=2048):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(self.backlog)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.addr = ("[%s]:%d" if fam == socket.AF_INET6 else "%s:%d") % \
            (host, self.port)
        self.connections = 0
        self.errors = []
        self._slots = threading.BoundedSemaphore(max_conns)
        self._lock = threading.Lock()
        self._conns = set()
        self._threads = set()
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          daemon=True)
        self._acceptor.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def active(self):
        with self._lock:
            return len(self._conns)

    def _accept_loop(self):
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            if not self._pace():
                self._slots.release()
                return
            try:
                conn, _ = self.sock.accept()
            except OSError:
                self._slots.release()
                return
            if not self.threaded:
                # Held, not served: its slot is freed at stop().
                with self._lock:
                    self.connections += 1
                    self._conns.add(conn)
                continue
            t = threading.Thread(target=self._run, args=(conn,),
                                 daemon=True)
            with self._lock:
                self.connections += 1
                self._conns.add(conn)
                self._threads.add(t)
            t.start()

    def _pace(self):
        """Called before each accept(); False stops the acceptor."""
        return True

    def _run(self, conn):
        try:
            self.handle(conn)
        except OSError as e:
            if not self._stopping.is_set():
                with self._lock:
                    self.errors.append(e)
        finally:
            with self._lock:
                self._conns.discard(conn)
                self._threads.discard(threading.current_thread())
            try:
                conn.close()
            except OSError:
                pass
            self._slots.release()

    def handle(self, conn):
        raise NotImplementedError

    def stop(self, timeout=5.0):
        if self._stopping.is_set():
            return
        self._stopping.set()
        # shutdown() wakes a thread blocked in accept(); close() alone
        # does not on Linux.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if not self.threaded:
                c.close()
        deadline = time.monotonic() + timeout
        self._acceptor.join(max(0.0, deadline - time.monotonic()))
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


class Echo(Backend):
    def handle(self, conn):
        while True:
            b = conn.recv(65536)
            if not b:
                break
            conn.sendall(b)
        conn.shutdown(socket.SHUT_WR)
        # Linger until the peer closes too, so the FIN is not followed by
        # an RST from unread data.
        conn.settimeout(10)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass


class Sink(Backend):
    def __init__(self, *a, **kw):
        self.results = []
        super().__init__(*a, **kw)

    def handle(self, conn):
        h = hashlib.sha256()
        count = 0
        try:
            while True:
                b = conn.recv(65536)
                if not b:
                    break
                h.update(b)
                count += len(b)
        except ConnectionResetError:
            # Record how far it got; a reset upload has no verdict.
            with self._lock:
                self.results.append((count, None))
            return
        digest = h.hexdigest()
        with self._lock:
            self.results.append((count, digest))
        conn.sendall(b"%d %s\n" % (count, digest.encode()))
        conn.shutdown(socket.SHUT_WR)


class Source(Backend):
    def __init__(self, nbytes, seed=0, *a, **kw):
        self.nbytes = nbytes
        self.seed = seed
        self.sha256 = harness.pattern_sha256(nbytes, seed)
        super().__init__(*a, **kw)

    def handle(self, conn):
        for b in harness.pattern_chunks(self.nbytes, self.seed):
            conn.sendall(b)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(10)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass


class AnswerAfter(Backend):
    def __init__(self, n, reply, *a, **kw):
        self.n = n
        self.reply = reply if isinstance(reply, bytes) else reply.encode()
        self.received = []
        super().__init__(*a, **kw)

    def handle(self, conn):
        got = bytearray()
        while len(got) < self.n:
            b = conn.recv(self.n - len(got))
            if not b:
                break
            got += b
        with self._lock:
            self.received.append(bytes(got))
        if len(got) == self.n:
            conn.sendall(self.reply)
        conn.shutdown(socket.SHUT_WR)


class Silent(Backend):
    """Holds every connection open without a thread (memory tests open
    thousands)."""
    backlog = 1024
    threaded = False

    def __init__(self, host="127.0.0.1", port=0, max_conns=8192):
        super().__init__(host, port, max_conns)


class ResetAfter(Backend):
    def __init__(self, n, *a, **kw):
        self.n = n
        super().__init__(*a, **kw)

    def handle(self, conn):
        left = self.n
        while left > 0:
            b = conn.recv(min(left, 65536))
            if not b:
                break
            left -= len(b)
        rst_close(conn)


class ResetLater(Backend):
    """Accepts, waits `delay` seconds, then resets: the relay's dial has
    completed by then, so the reset is the stream's, not the dial's."""
    def __init__(self, delay, *a, **kw):
        self.delay = delay
        super().__init__(*a, **kw)

    def handle(self, conn):
        time.sleep(self.delay)
        rst_close(conn)


class SlowAccept(Backend):
    backlog = 1

    def __init__(self, delay=3600.0, *a, **kw):
        self.delay = delay
        super().__init__(*a, **kw)

    def _pace(self):
        return not self._stopping.wait(self.delay)

    def handle(self, conn):
        self._stopping.wait()


def rst_close(sock):
    """Closes sock with a TCP RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


KINDS = {
    "echo": lambda a: Echo(a.host, a.port),
    "sink": lambda a: Sink(a.host, a.port),
    "source": lambda a: Source(a.bytes, a.seed, a.host, a.port),
    "answer-after": lambda a: AnswerAfter(a.bytes, a.reply, a.host, a.port),
    "silent": lambda a: Silent(a.host, a.port),
    "reset-after": lambda a: ResetAfter(a.bytes, a.host, a.port),
    "slow-accept": lambda a: SlowAccept(a.delay, a.host, a.port),
}


def cli(argv=None):
    ap = argparse.ArgumentParser(description="loopback test backends")
    ap.add_argument("kind", choices=sorted(KINDS))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bytes", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reply", default="ok\n")
    ap.add_argument("--delay", type=float, default=3600.0)
    a = ap.parse_args(argv)
    b = KINDS[a.kind](a)
    print(b.port, flush=True)
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    stop.wait()
    b.stop()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
