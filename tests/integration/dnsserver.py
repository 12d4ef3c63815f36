"""A small DNS server for tests (standard library only): UDP on one
address, A, AAAA and SRV answers for the names it is given, silence for names
under the silent suffixes, NXDOMAIN for every other name. It counts the
queries it received per name, so a test can tell a cache hit (no query)
from a lookup.

    srv = DnsServer(("127.0.0.1", 53),
                    answers={"a.test": [("A", "127.0.0.1", 60)]},
                    silent=(".silent.test",))
    ...
    # SRV: ("SRV", (priority, weight, port, "target.test"), ttl)
    srv.set("_beacon._tcp.test", [("SRV", (10, 1, 8456, "a.test"), 30)])
    srv.count("a.test")   # queries for a.test, any type
    srv.close()

Run as a program it serves until killed:
    python3 dnsserver.py 127.0.0.1 53 a.test=127.0.0.1 b.test=::1/30
"""
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "AAAA": 28, "SRV": 33}
NOERROR, FORMERR, NXDOMAIN = 0, 1, 3


def parse_query(msg):
    """(id, flags, qname lowercased, qtype, end of the question) or None
    for what is not one plain query."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", msg[:6])
    if flags & 0x8000 or qd != 1:
        return None
    labels, i = [], 12
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        i += 1
        if n == 0:
            break
        if n & 0xc0 or i + n > len(msg):
            return None
        labels.append(msg[i:i + n].decode("ascii", "replace").lower())
        i += n
    if i + 4 > len(msg):
        return None
    qtype, = struct.unpack(">H", msg[i:i + 2])
    return qid, flags, ".".join(labels), qtype, i + 4


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def rdata(kind, addr):
    if kind == "SRV":
        prio, weight, port, target = addr
        return struct.pack(">HHH", prio, weight, port) + encode_name(target)
    fam = socket.AF_INET if kind == "A" else socket.AF_INET6
    return socket.inet_pton(fam, addr)


class DnsServer:
    def __init__(self, addr, answers=None, silent=()):
        self.answers = {k.lower(): v for k, v in (answers or {}).items()}
        self.silent = tuple(s.lower() for s in silent)
        self.counts = {}
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(addr)
        self.addr = self.sock.getsockname()
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def set(self, name, records):
        """Replaces name's records (a fleet that changes)."""
        with self.lock:
            self.answers[name.lower()] = records

    def count(self, name=None):
        """Queries received for name (all names when None)."""
        with self.lock:
            if name is None:
                return sum(self.counts.values())
            return self.counts.get(name.lower(), 0)

    def names(self):
        """How many different names were asked for."""
        with self.lock:
            return len(self.counts)

    def answer(self, msg):
        """The reply to one query, or None to stay silent."""
        q = parse_query(msg)
        if q is None:
            return None
        qid, flags, name, qtype, end = q
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
        if name.endswith(self.silent) or name in self.silent:
            return None
        with self.lock:
            recs = self.answers.get(name)
        rcode = NOERROR if recs is not None else NXDOMAIN
        out = b""
        n = 0
        for kind, addr, ttl in recs or ():
            if TYPES[kind] != qtype:
                continue
            rd = rdata(kind, addr)
            out += struct.pack(">HHHIH", 0xc00c, qtype, 1, ttl, len(rd)) + rd
            n += 1
        # QR, AA, RA; opcode and RD copied from the query
        rflags = 0x8400 | (flags & 0x7900) | 0x0080 | rcode
        head = struct.pack(">HHHHHH", qid, rflags, 1, n, 0, 0)
        return head + msg[12:end] + out

    def _serve(self):
        while not self.closed:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            reply = self.answer(msg)
            if reply is not None:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def main(argv):
    answers = {}
    for spec in argv[2:]:
        name, _, rest = spec.partition("=")
        addr, _, ttl = rest.partition("/")
        kind = "AAAA" if ":" in addr else "A"
        answers.setdefault(name, []).append((kind, addr, int(ttl or 60)))
    srv = DnsServer((argv[0], int(argv[1])), answers,
                    silent=(".silent.test",))
    srv.thread.join()


if __name__ == "__main__":
    main(sys.argv[1:])
