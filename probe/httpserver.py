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
import socket
import ssl
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from probe import __version__
from probe.addresses import is_ip, split_host_port
from probe.config import Config
from probe.errors import ConfigError, UsageError
from probe.exporters import prometheus

HEALTH_PATHS = ("/healthz", "/-/healthy")


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


@dataclass(frozen=True, slots=True)
class Access:
    """How /metrics is protected: TLS context, basic auth credentials."""

    tls: ssl.SSLContext | None = None
    user: str | None = None
    password: bytes | None = None


def access_from(config: Config) -> Access:
    """Load the certificate and password the config names (ConfigError if unusable)."""
    agent = config.agent
    tls = None
    if agent.tls_cert and agent.tls_key:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            tls.load_cert_chain(agent.tls_cert, agent.tls_key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"cannot load the certificate and key ({exc}); expected a PEM "
                              "certificate and its private key", source=config.source,
                              key="agent.tls_cert") from None
    password = None
    if agent.basic_auth_user and agent.basic_auth_password_file:
        try:
            password = Path(agent.basic_auth_password_file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", source=config.source,
                              key="agent.basic_auth_password_file") from None
        if not password:
            raise ConfigError("expected a file holding the password, got an empty file",
                              source=config.source, key="agent.basic_auth_password_file")
    return Access(tls, agent.basic_auth_user, password)


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


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not events: no line per request."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    access: Callable[[], Access] = Access
    on_error: Callable[[str, str], None] = staticmethod(lambda error, client: None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        self.on_error(f"{type(exc).__name__}: {exc}", str(client_address[0]))

    def finish_request(self, request: Any, client_address: Any) -> None:
        tls = self.access().tls
        if tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)  # a client that never finishes its handshake
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


def bind(listen: str, app: WsgiApp, access: Callable[[], Access],
         on_error: Callable[[str, str], None] | None = None) -> _Server:
    """Bind the HTTP server; a taken port or a wrong address is a UsageError."""
    host, port = parse_listen(listen)
    cls = _Server6 if is_ip(host) and ":" in host else _Server
    try:
        server = make_server(host, port, app, server_class=cls, handler_class=_Quiet)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"cannot listen on {listen}: address already in use (another "
                             "apim-probe? choose another port with --listen or agent.listen)"
                             ) from None
        raise UsageError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    assert isinstance(server, _Server)
    server.access = access
    if on_error is not None:
        server.on_error = on_error
    return server




def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
