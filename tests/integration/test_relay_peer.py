"""A minimal controller-side peer for the relay tests: TLS 1.3 with a
client certificate, a yamux client session (docs/PROTOCOL.md
"Multiplexing: yamux, protocol version 0") and streams with windows,
half-close and reset. Standard library only.

One I/O thread owns the TLS socket (OpenSSL objects must not be used from
two threads at once); callers queue frames and wait on conditions.
"""
import os
import select
import socket
import ssl
import struct
import threading
import time

DATA, WINDOW_UPDATE, PING, GO_AWAY = 0, 1, 2, 3
SYN, ACK, FIN, RST = 1, 2, 4, 8
WINDOW = 256 * 1024
HDR = struct.Struct(">BBHII")


class PeerError(Exception):
    pass


def client_context(cert, key, ca, min_version=ssl.TLSVersion.TLSv1_3,
                   max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    ctx.load_verify_locations(ca)
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.check_hostname = True
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def frame(typ, flags, sid, length, payload=b""):
    return HDR.pack(0, typ, flags, sid, length) + payload


class Stream:
    def __init__(self, sess, sid):
        self.sess = sess
        self.id = sid
        self.rbuf = bytearray()
        self.recv_window = WINDOW
        self.consumed = 0
        self.send_window = WINDOW
        self.max_send_window = WINDOW  # the largest window the relay allowed
        self.fin_in = False
        self.fin_out = False
        self.reset = False
        self.acked = False

    # ---- writing ----
    def write(self, data, timeout=30):
        data = memoryview(bytes(data))
        deadline = time.monotonic() + timeout
        with self.sess.cv:
            while data:
                if self.reset:
                    raise PeerError("stream reset")
                if self.sess.dead:
                    raise PeerError("session dead")
                n = min(len(data), self.send_window, 64 * 1024)
                if n == 0 or self.sess.outbuf_len > 4 << 20:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise PeerError("write timed out (window shut)")
                    self.sess.cv.wait(min(left, 0.5))
                    continue
                self.send_window -= n
                self.sess._queue(frame(DATA, 0, self.id, n, data[:n]))
                data = data[n:]

    def close_write(self):
        with self.sess.cv:
            if not self.fin_out and not self.reset:
                self.fin_out = True
                self.sess._queue(frame(WINDOW_UPDATE, FIN, self.id, 0))

    def send_reset(self):
        with self.sess.cv:
            self.reset = True
            self.sess._queue(frame(WINDOW_UPDATE, RST, self.id, 0))

    # ---- reading ----
    def read(self, n=65536, timeout=30):
        """Bytes, b"" at FIN; raises PeerError on reset or timeout."""
        deadline = time.monotonic() + timeout
        with self.sess.cv:
            while not self.rbuf:
                if self.fin_in:
                    return b""
                if self.reset:
                    raise PeerError("stream reset")
                if self.sess.dead:
                    raise PeerError("session dead: %s" % self.sess.why)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError("read timed out")
                self.sess.cv.wait(min(left, 0.5))
            out = bytes(self.rbuf[:n])
            del self.rbuf[:n]
            self.consumed += len(out)
            if self.consumed >= WINDOW // 2 and not self.reset:
                self.sess._queue(frame(WINDOW_UPDATE, 0, self.id,
                                       self.consumed))
                self.recv_window += self.consumed
                self.consumed = 0
            return out

    def read_all(self, timeout=60):
        out = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            b = self.read(timeout=max(0.1, deadline - time.monotonic()))
            if not b:
                return bytes(out)
            out += b

    def wait_reset(self, timeout=30):
        """True when the relay reset the stream (data before it ignored)."""
        deadline = time.monotonic() + timeout
        with self.sess.cv:
            while not self.reset and not self.sess.dead:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sess.cv.wait(min(left, 0.5))
            return self.reset


class Session:
    def __init__(self, port, cert, key, ca, host="127.0.0.1", ctx=None,
                 timeout=10, source=None):
        self.ctx = ctx or client_context(cert, key, ca)
        raw = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.ctx.wrap_socket(raw, server_hostname=host)
        self.sock.setblocking(False)
        self.cv = threading.Condition()
        self.outbuf = bytearray()
        self.outbuf_len = 0
        self.streams = {}
        self.next_id = 1
        self.dead = False
        self.why = ""
        self.go_away = None
        self.pings = 0
        self.max_total_window = 0  # largest sum of open streams' windows
        self.answer_pings = True
        self.paused = False  # True: stop reading the socket (stall test)
        self.rpipe, self.wpipe = os.pipe()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # called with cv held
    def _queue(self, b):
        self.outbuf += b
        self.outbuf_len = len(self.outbuf)
        os.write(self.wpipe, b"x")

    def send_raw(self, b):
        with self.cv:
            self._queue(b)

    def open(self, target=None, payload=b""):
        with self.cv:
            sid = self.next_id
            self.next_id += 2
            st = Stream(self, sid)
            self.streams[sid] = st
            self._queue(frame(WINDOW_UPDATE, SYN, sid, 0))
        if target is not None:
            st.write(target.encode() + b"\n" + payload)
        return st

    def close(self):
        with self.cv:
            self.dead = True
            self.why = self.why or "closed"
            self.cv.notify_all()
        os.write(self.wpipe, b"x")
        self.thread.join(5)
        try:
            self.sock.close()
        except OSError:
            pass
        os.close(self.rpipe)
        os.close(self.wpipe)

    def wait_dead(self, timeout=30):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not self.dead:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 0.5))
            return True

    # ---- I/O thread ----
    def _fail(self, why):
        with self.cv:
            if not self.dead:
                self.dead = True
                self.why = why
            self.cv.notify_all()

    def _run(self):
        inbuf = bytearray()
        try:
            while True:
                with self.cv:
                    if self.dead:
                        return
                    want_w = bool(self.outbuf)
                    paused = self.paused
                rset = [self.rpipe] if paused else [self.sock, self.rpipe]
                r, w, _ = select.select(rset,
                                        [self.sock] if want_w else [], [],
                                        0.5)
                if self.rpipe in r:
                    os.read(self.rpipe, 65536)
                if self.sock in w or want_w:
                    with self.cv:
                        data = bytes(self.outbuf[:256 * 1024])
                    if data:
                        try:
                            n = self.sock.send(data)
                        except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                                BlockingIOError):
                            n = 0
                        with self.cv:
                            del self.outbuf[:n]
                            self.outbuf_len = len(self.outbuf)
                            self.cv.notify_all()
                while not paused:
                    try:
                        b = self.sock.recv(262144)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                            BlockingIOError):
                        break
                    if not b:
                        self._fail("eof")
                        return
                    inbuf += b
                    self._parse(inbuf)
                    if self.sock.pending() == 0:
                        break
        except (OSError, ssl.SSLError, PeerError) as e:
            self._fail("error: %s" % e)

    def _parse(self, buf):
        off = 0
        with self.cv:
            while len(buf) - off >= 12:
                ver, typ, flags, sid, length = HDR.unpack_from(buf, off)
                if ver != 0:
                    raise PeerError("bad version")
                plen = length if typ == DATA else 0
                if len(buf) - off < 12 + plen:
                    break
                payload = bytes(buf[off + 12:off + 12 + plen])
                off += 12 + plen
                self._frame(typ, flags, sid, length, payload)
            del buf[:off]
            self.cv.notify_all()

    def _frame(self, typ, flags, sid, length, payload):
        if typ == PING:
            self.pings += 1
            if flags & SYN and self.answer_pings:
                self._queue(frame(PING, ACK, 0, length))
            return
        if typ == GO_AWAY:
            self.go_away = length
            return
        st = self.streams.get(sid)
        if st is None:
            return
        if flags & ACK:
            st.acked = True
        if typ == WINDOW_UPDATE:
            st.send_window += length
            st.max_send_window = max(st.max_send_window, st.send_window)
            total = sum(s.send_window for s in self.streams.values()
                        if not s.reset and not s.fin_in)
            self.max_total_window = max(self.max_total_window, total)
        elif payload:
            st.rbuf += payload
        if flags & FIN:
            st.fin_in = True
        if flags & RST:
            st.reset = True
