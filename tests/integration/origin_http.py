"""A small HTTP/1.1 origin for the forward-proxy tests (standard library
only): keep-alive, chunked and Content-Length bodies both ways.

    python3 origin_http.py PORT

  GET  /bytes/N        N bytes of harness.random_bytes(N, seed=N),
                       Content-Length
  GET  /chunked/N      the same bytes, Transfer-Encoding: chunked
  GET  /headers        the request's header fields, one per line
  POST /sha256         the sha256 hex of the request body (either framing)
  GET  /close/N        N bytes, no Content-Length: the body ends with the
                       connection
Every response carries X-Origin-Port and X-Connection (a number per TCP
connection, so a test can see whether a connection was reused).
"""
import hashlib
import http.server
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

_conn_ids = itertools.count(1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.conn_id = next(_conn_ids)

    def log_message(self, *args):
        pass

    def _send(self, body, chunked=False, close=False, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Origin-Port", str(self.server.server_port))
        self.send_header("X-Connection", str(self.conn_id))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif close:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if chunked:
            for i in range(0, len(body), 7000):
                part = body[i:i + 7000]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        else:
            self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("/")
        if parts[1] == "headers":
            text = "".join("%s: %s\n" % kv for kv in self.headers.items())
            return self._send(text.encode())
        n = int(parts[2])
        data = harness.random_bytes(n, seed=n)
        self._send(data, chunked=parts[1] == "chunked",
                   close=parts[1] == "close")

    do_HEAD = do_GET

    def do_POST(self):
        h = hashlib.sha256()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if not size:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                h.update(self.rfile.read(size))
                self.rfile.readline()
        else:
            h.update(self.rfile.read(int(self.headers["Content-Length"])))
        self._send(h.hexdigest().encode())


if __name__ == "__main__":
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])),
                                          Handler)
    srv.daemon_threads = True
    srv.serve_forever()
