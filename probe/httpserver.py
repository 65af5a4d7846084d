"""The HTTP side of the agent: /metrics, the health endpoints, TLS and basic
auth, and the threaded server that serves them.

Nothing a request says chooses a target: the only paths are /metrics,
/healthz, /-/healthy and an index.
"""

from __future__ import annotations

import base64
import binascii
import errno
import gzip
import hmac
import io
import socket
import socketserver
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from probe import __version__
from probe.addresses import is_ip, split_host_port
from probe.errors import UsageError
from probe.exporters import prometheus
from probe.preflight import Access

HEALTH_PATHS = ("/healthz", "/-/healthy")
HTTP_TIMEOUT = 10.0  # seconds a client has for its request head, TLS handshake, each write
LISTEN_BACKLOG = 1024  # connections the kernel queues before accept(): 200 scrapers at once
BIND_WAIT = 30.0  # seconds to keep trying an address that is not there yet or a taken port
BIND_RETRY_ERRNOS = frozenset({errno.EADDRNOTAVAIL, errno.EADDRINUSE})


def basic_auth_ok(header: str | None, user: str, password: bytes) -> bool:
    """Whether an Authorization header carries this user and password.

    Both halves are compared in constant time, whatever the first one says.
    """
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, sep, given_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(given_user, user.encode("utf-8"))
    password_ok = hmac.compare_digest(given_password, password)
    return bool(sep) and user_ok and password_ok


def parse_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT' or '[V6]:PORT'; port 0 picks a free port (tests)."""
    if text.endswith(":0"):
        host, port = text[:-2], 0
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
    else:
        try:
            parsed_host, parsed_port = split_host_port(text)
        except ValueError as exc:
            raise UsageError(f"--listen {text!r}: expected HOST:PORT ({exc})") from None
        if parsed_port is None:
            raise UsageError(f"--listen {text!r}: expected HOST:PORT (the port is missing)")
        host, port = parsed_host, parsed_port
    return host, port


StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Routes:
    """The WSGI app: /metrics, the health endpoints, an index; nothing else."""

    def __init__(self, metrics: WsgiApp, fresh: Callable[[], tuple[bool, str]],
                 access: Callable[[], Access]) -> None:
        self.metrics = metrics
        self.fresh = fresh
        self.access = access

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _reply(start, "405 Method Not Allowed", "only GET and HEAD\n",
                          [("Allow", "GET, HEAD")])
        access = self.access()
        if access.user is not None and access.password is not None and not basic_auth_ok(
                environ.get("HTTP_AUTHORIZATION"), access.user, access.password):
            return _reply(start, "401 Unauthorized", "authentication required\n",
                          [("WWW-Authenticate", 'Basic realm="apim-probe", charset="UTF-8"')])
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return self.metrics(environ, start)
        if path in HEALTH_PATHS:
            ok, why = self.fresh()
            return _reply(start, "200 OK" if ok else "503 Service Unavailable", why + "\n")
        if path == "/":
            return _reply(start, "200 OK", f"apim-probe {__version__}: /metrics, "
                                           f"{', '.join(HEALTH_PATHS)}\n")
        return _reply(start, "404 Not Found", "not found: targets come only from the config\n")


def metrics_app(exposition: prometheus.CachedExposition) -> WsgiApp:
    """/metrics: the text format (0.0.4), gzip when the scraper asks for it."""
    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        chunks = exposition.chunks()
        headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            chunks = [gzip.compress(b"".join(chunks), compresslevel=1)]
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(sum(len(c) for c in chunks))))
        start("200 OK", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else chunks
    return app


def _reply(start: StartResponse, status: str, body: str,
           headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    data = body.encode("utf-8")
    start(status, [("Content-Type", "text/plain; charset=utf-8"),
                   ("Content-Length", str(len(data))), *headers])
    return [data]


class _Deadline(io.RawIOBase):
    """The socket as seen by the request parser: every read waits at most until
    ``deadline``, so the whole request head (request line and headers) must
    arrive within the server's timeout, however slowly it trickles in."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request head did not arrive in time")
        self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer)


class _Handler(WSGIRequestHandler):
    """One request per connection, its head within the server's timeout."""

    server: _Server
    wbufsize = -1  # status line, headers and a small body in one send, not five

    def setup(self) -> None:
        super().setup()
        deadline = time.monotonic() + self.server.http_timeout
        self.rfile = io.BufferedReader(_Deadline(self.connection, deadline))

    def parse_request(self) -> bool:
        ok = super().parse_request()
        # The head is in: from here on each send may take the timeout (a slow scraper).
        self.connection.settimeout(self.server.http_timeout)
        return ok

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            self.close_connection = True  # idle or too slow: hang up, nothing to log

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not events: no line per request."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    http_timeout = HTTP_TIMEOUT
    access: Callable[[], Access] = Access
    on_error: Callable[[str, str], None] = staticmethod(lambda error, client: None)

    def server_bind(self) -> None:
        """HTTPServer's, without its ``socket.getfqdn()``: a reverse lookup that
        can take seconds when DNS is down. Serving never waits on DNS."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        self.on_error(f"{type(exc).__name__}: {exc}", str(client_address[0]))

    def finish_request(self, request: Any, client_address: Any) -> None:
        tls = self.access().tls
        if tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(self.http_timeout)  # a client that never finishes its handshake
        try:
            wrapped = tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # not TLS, or gave up: nothing to answer
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()


class _Server6(_Server):
    address_family = socket.AF_INET6


RetryLog = Callable[[int, float, BaseException | None], None]


def bind(listen: str, app: WsgiApp, access: Callable[[], Access],
         on_error: Callable[[str, str], None] | None = None, *,
         timeout: float = HTTP_TIMEOUT, wait: float = BIND_WAIT,
         on_retry: RetryLog | None = None) -> _Server:
    """Bind the HTTP server; a taken port or a wrong address is a UsageError.

    An address that is not there yet (before DHCP, a NIC coming up) or a port
    still held by the previous agent is retried with backoff for ``wait``
    seconds; ``on_retry(attempt, next_delay, error)`` hears of each retry.
    ``timeout`` bounds how long a client may take to send its request head
    (and the TLS handshake, and each write of the answer).
    """
    host, port = parse_listen(listen)
    cls = _Server6 if is_ip(host) and ":" in host else _Server
    retrying = Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, OSError)
                                 and e.errno in BIND_RETRY_ERRNOS),
        wait=wait_exponential(multiplier=0.25, max=4.0), stop=stop_after_delay(wait),
        before_sleep=_tell(on_retry), reraise=True)
    try:
        server = retrying(make_server, host, port, app, server_class=cls, handler_class=_Handler)
    except OSError as exc:
        raise UsageError(_bind_failure(listen, exc, wait)) from None
    assert isinstance(server, _Server)
    server.access = access
    server.http_timeout = timeout
    if on_error is not None:
        server.on_error = on_error
    return server


def _tell(on_retry: RetryLog | None) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            error = state.outcome.exception() if state.outcome is not None else None
            on_retry(state.attempt_number, delay, error)
    return before_sleep


def _bind_failure(listen: str, exc: OSError, wait: float) -> str:
    waited = f" (still, after {wait:g} s of retries)" if exc.errno in BIND_RETRY_ERRNOS else ""
    if exc.errno == errno.EADDRINUSE:
        return (f"cannot listen on {listen}: address already in use{waited} (another "
                "apim-probe? choose another port with --listen or agent.listen)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"cannot listen on {listen}: no interface has this address{waited} "
                "(expected an address of this host, or 0.0.0.0)")
    return f"cannot listen on {listen}: {exc.strerror or exc}"


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
