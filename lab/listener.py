"""The lab's service listeners: one stdlib process inside apl-svc.

Run as a script (it imports nothing from the project)::

    python lab/listener.py --tcp 198.18.2.11:443 --http 198.18.2.10:443 \
        --dns-servfail 198.18.2.54:5300 --ready-file /run/apim-probe-lab/listener.ready

* ``--tcp ADDR:PORT``: accept and close at once.
* ``--http ADDR:PORT``: a minimal HTTP/1.1 server: ``GET <status path>`` gets
  ``200 OK`` (Content-Length 0, Connection: close), anything else 404.  Plain
  HTTP, no TLS (the gateway's HTTPS health check comes later).
* ``--dns-servfail ADDR:PORT``: answers every DNS query with SERVFAIL, over UDP
  and TCP (the broken upstream behind the custom DNS).

All sockets are bound before the ready file is written.  SIGTERM/SIGINT end
the process cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import selectors
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

BACKLOG = 4096
MAX_REQUEST = 16 * 1024
CONN_TIMEOUT_S = 10.0
DEFAULT_STATUS_PATH = "/status-0123456789abcdef"


def parse_endpoint(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected ADDR:PORT, got {text!r}")
    return host, int(port)


@dataclass
class Conn:
    sock: socket.socket
    kind: str  # "http" or "dns"
    deadline: float
    buf: bytearray = field(default_factory=bytearray)


def servfail_for(query: bytes) -> bytes | None:
    """A SERVFAIL answer echoing the query's id and question (None if unparsable)."""
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000:  # a response, not a query
        return None
    end = 12
    if qdcount >= 1:
        while end < len(query) and query[end] != 0:
            if query[end] & 0xC0:
                return None
            end += query[end] + 1
        end += 5  # root label + qtype + qclass
        if end > len(query):
            return None
        question = query[12:end]
        qdcount = 1
    else:
        question = b""
    # QR=1, opcode and RD copied, RA=1, rcode=2 (SERVFAIL)
    rflags = 0x8000 | (flags & 0x7900) | 0x0080 | 2
    return struct.pack("!HHHHHH", qid, rflags, qdcount, 0, 0, 0) + question


def http_response(request: bytes, status_path: str) -> bytes:
    line = request.split(b"\r\n", 1)[0].decode("latin-1", "replace").split()
    if len(line) == 3 and line[0] in ("GET", "HEAD") and line[1] == status_path:
        status = "200 OK"
    elif len(line) == 3:
        status = "404 Not Found"
    else:
        status = "400 Bad Request"
    return (f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n"
            "Server: apim-probe-lab\r\n\r\n").encode("ascii")


class Server:
    def __init__(self, status_path: str) -> None:
        self.sel = selectors.DefaultSelector()
        self.conns: dict[int, Conn] = {}
        self.status_path = status_path

    def listen_tcp(self, endpoint: tuple[str, int], kind: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(endpoint)
        sock.listen(BACKLOG)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, ("accept", kind))

    def listen_udp_dns(self, endpoint: tuple[str, int]) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(endpoint)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, ("udp-dns", "dns"))

    def _close(self, sock: socket.socket) -> None:
        self.conns.pop(sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(sock)
        sock.close()

    def _accept(self, lsock: socket.socket, kind: str) -> None:
        for _ in range(64):  # drain the backlog a bit per wake-up
            try:
                conn, _addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if kind == "tcp":
                conn.close()
                continue
            conn.setblocking(False)
            self.conns[conn.fileno()] = Conn(conn, kind, time.monotonic() + CONN_TIMEOUT_S)
            self.sel.register(conn, selectors.EVENT_READ, ("conn", kind))

    def _udp_dns(self, sock: socket.socket) -> None:
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            answer = servfail_for(data)
            if answer is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(answer, addr)

    def _read(self, sock: socket.socket) -> None:
        conn = self.conns.get(sock.fileno())
        if conn is None:
            self._close(sock)
            return
        try:
            chunk = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(sock)
            return
        if not chunk:
            self._close(sock)
            return
        conn.buf += chunk
        reply: bytes | None = None
        if conn.kind == "http":
            if b"\r\n\r\n" in conn.buf:
                reply = http_response(bytes(conn.buf), self.status_path)
        elif len(conn.buf) >= 2:  # DNS over TCP: 2-byte length prefix
            (length,) = struct.unpack("!H", conn.buf[:2])
            if len(conn.buf) >= 2 + length:
                answer = servfail_for(bytes(conn.buf[2:2 + length]))
                reply = struct.pack("!H", len(answer)) + answer if answer else b""
        if reply is None and len(conn.buf) <= MAX_REQUEST:
            return
        if reply:
            try:
                sock.setblocking(True)
                sock.settimeout(2.0)
                sock.sendall(reply)
            except OSError:
                pass
        self._close(sock)

    def _expire(self) -> None:
        now = time.monotonic()
        for conn in [c for c in self.conns.values() if c.deadline < now]:
            self._close(conn.sock)

    def serve(self) -> None:
        while True:
            for key, _events in self.sel.select(timeout=1.0):
                role, kind = key.data
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if role == "accept":
                    self._accept(sock, kind)
                elif role == "udp-dns":
                    self._udp_dns(sock)
                else:
                    self._read(sock)
            self._expire()


def serve_https(endpoint: tuple[str, int], cert: Path | None, key: Path | None,
                status_path: str) -> None:
    """The gateway's status path over TLS, in a thread of its own (blocking
    handshakes stay out of the selector loop)."""
    if cert is None or key is None:
        raise OSError("--https needs --tls-cert and --tls-key")

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "apim-probe-lab"
        protocol_version = "HTTP/1.1"
        timeout = 5  # a client that never speaks does not hold a thread for ever

        def do_GET(self) -> None:
            self.send_response(200 if self.path == status_path else 404)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = http.server.ThreadingHTTPServer(endpoint, Handler)
    # The handshake runs in the request's thread, not in accept(): a port
    # probe that connects and resets must not stall the listener.
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True,
                                       do_handshake_on_connect=False)
    threading.Thread(target=httpd.serve_forever, name="https", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tcp", action="append", default=[], type=parse_endpoint,
                        metavar="ADDR:PORT", help="accept and close")
    parser.add_argument("--http", action="append", default=[], type=parse_endpoint,
                        metavar="ADDR:PORT", help="minimal HTTP status endpoint")
    parser.add_argument("--https", action="append", default=[], type=parse_endpoint,
                        metavar="ADDR:PORT", help="HTTPS status endpoint (--tls-cert/--tls-key)")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate for --https")
    parser.add_argument("--tls-key", type=Path, help="PEM key for --https")
    parser.add_argument("--dns-servfail", action="append", default=[], type=parse_endpoint,
                        metavar="ADDR:PORT", help="answer every DNS query with SERVFAIL")
    parser.add_argument("--status-path", default=DEFAULT_STATUS_PATH)
    parser.add_argument("--ready-file", type=Path, help="written once every socket is bound")
    args = parser.parse_args(argv)

    server = Server(args.status_path)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for ep in args.tcp:
            server.listen_tcp(ep, "tcp")
        for ep in args.http:
            server.listen_tcp(ep, "http")
        for ep in args.dns_servfail:
            server.listen_udp_dns(ep)
            server.listen_tcp(ep, "dns")
        for ep in args.https:
            serve_https(ep, args.tls_cert, args.tls_key, args.status_path)
    except (OSError, ssl.SSLError) as exc:
        print(f"listener: cannot bind: {exc}", file=sys.stderr)
        return 1
    if args.ready_file is not None:
        args.ready_file.write_text("ready\n")
    print(f"listener: serving {len(server.sel.get_map())} sockets", file=sys.stderr, flush=True)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
