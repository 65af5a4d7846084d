"""The HTTP side of the agent: /metrics, the health endpoints, TLS and basic
auth, and the asyncio server that serves them (one thread, however many clients).

Nothing a request says chooses a target: the only paths are /metrics,
/healthz, /-/healthy and an index.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import hmac
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

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

# Readiness: a fresh round is there to serve (503 until the first one ends).
READY_PATHS = ("/healthz", "/-/ready")
# Liveness: the agent is not stuck (starting counts as alive; 503 when stale).
LIVE_PATHS = ("/livez", "/-/healthy")
HEALTH_PATHS = READY_PATHS + LIVE_PATHS
HTTP_TIMEOUT = 10.0  # seconds a client has for its request head, TLS handshake, each write
LISTEN_BACKLOG = 1024  # connections the kernel queues before accept(): 200 scrapers at once
BIND_WAIT = 30.0  # seconds to keep trying an address that is not there yet or a taken port
BIND_RETRY_ERRNOS = frozenset({errno.EADDRNOTAVAIL, errno.EADDRINUSE})
MAX_HEAD = 16 * 1024  # bytes of request line and headers; Prometheus sends about 300
DEFAULT_MAX_CONNECTIONS = 512  # the daemon sizes it from its descriptor budget


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
                 access: Callable[[], Access],
                 ready: Callable[[], tuple[bool, str]] | None = None) -> None:
        self.metrics = metrics
        self.fresh = fresh  # liveness
        self.ready = ready or fresh
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
            ok, why = self.ready() if path in READY_PATHS else self.fresh()
            return _reply(start, "200 OK" if ok else "503 Service Unavailable", why + "\n")
        if path == "/":
            return _reply(start, "200 OK", f"apim-probe {__version__}: /metrics, "
                                           f"{', '.join(HEALTH_PATHS)}\n")
        return _reply(start, "404 Not Found", "not found: targets come only from the config\n")


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header (RFC 9110, 12.5.3) takes gzip: named
    (gzip or x-gzip) with a q-value above 0, or not named and ``*`` above 0.
    ``gzip;q=0`` refuses it, whatever ``*`` says."""
    named: float | None = None
    star: float | None = None
    for item in (header or "").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding.lower() in ("gzip", "x-gzip"):
            named = q if named is None else max(named, q)
        elif coding == "*":
            star = q
    if named is not None:
        return named > 0
    return star is not None and star > 0


def metrics_app(exposition: prometheus.CachedExposition) -> WsgiApp:
    """/metrics: the text format (0.0.4), gzip when the scraper accepts it (the
    round's part compressed once per round, not per scrape)."""
    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)]
        if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")):
            chunks = exposition.gzip_chunks()
            headers.append(("Content-Encoding", "gzip"))
        else:
            chunks = exposition.chunks()
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


class Server:
    """One asyncio event loop, in one thread, serves every connection: threads do
    not grow with clients (the unit's TasksMax stays far away), an idle
    connection costs a descriptor and a few KiB, never a thread. At most
    ``max_connections`` are served at once; the next one gets a 503 at once and
    is closed (refused fast, before TLS or auth). A connection has ``timeout``
    seconds for its TLS handshake and whole request head (however slowly it
    trickles), at most ``MAX_HEAD`` bytes of head, and ``timeout`` per write of
    the answer. One request per connection, answered HTTP/1.0 with
    Content-Length and closed; a HEAD answer carries no body."""

    def __init__(self, sock: socket.socket, app: WsgiApp, access: Callable[[], Access],
                 on_error: Callable[[str, str], None], timeout: float,
                 max_connections: int) -> None:
        self.socket = sock
        self.server_address = sock.getsockname()
        self.app = app
        self.access = access
        self.on_error = on_error
        self.http_timeout = timeout
        self.max_connections = max_connections
        self.active = 0
        self.refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._done = threading.Event()

    # -- the thread's side

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until ``shutdown`` (``poll_interval`` is accepted for the old API)."""
        try:
            asyncio.run(self._serve())
        finally:
            self._done.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():
            return
        server = await asyncio.start_server(
            self._client, sock=self.socket, limit=MAX_HEAD, backlog=LISTEN_BACKLOG,
            ssl=self._tls_dispatch() if self.access().tls is not None else None,
            ssl_handshake_timeout=self.http_timeout if self.access().tls is not None else None)
        try:
            await self._stop.wait()
        finally:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    def _tls_dispatch(self) -> ssl.SSLContext:
        """A server context that hands each handshake to the context of the current
        config (its SNI callback runs for every ClientHello, with or without a
        name), so a reload with a renewed certificate applies to the next client.
        Turning TLS on or off needs a restart, like a new listen address."""
        dispatch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        dispatch.minimum_version = ssl.TLSVersion.TLSv1_2

        def pick(ssl_object: ssl.SSLObject, server_name: str | None,
                 context: ssl.SSLContext) -> None:
            current = self.access().tls
            if current is not None:
                ssl_object.context = current

        dispatch.sni_callback = pick
        return dispatch

    def shutdown(self) -> None:
        """Stop serving; returns once the loop has stopped (at most 2 s)."""
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop.set)
            self._done.wait(2.0)

    def server_close(self) -> None:
        self.socket.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line for the exception being handled, never a traceback."""
        exc = sys.exc_info()[1]
        self.on_error(f"{type(exc).__name__}: {exc}", str(client_address[0]))

    # -- one connection

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        if self.active >= self.max_connections:
            self.refused += 1
            writer.write(REFUSED)
            writer.close()
            return
        self.active += 1
        try:
            await self._serve_one(reader, writer)
        except (ConnectionError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away or was too slow: nothing to answer, nothing to log
        except Exception:  # noqa: BLE001 -- one connection's fault is one log line
            self.handle_error(None, peer)
        finally:
            self.active -= 1
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.http_timeout
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                          max(deadline - loop.time(), 0.001))
        except (asyncio.LimitOverrunError, ValueError):
            await self._send(writer, "431 Request Header Fields Too Large",
                             [("Content-Type", "text/plain; charset=utf-8")],
                             [b"request head too large\n"], head_only=False)
            return
        request = _parse_head(head)
        if request is None:
            await self._send(writer, "400 Bad Request",
                             [("Content-Type", "text/plain; charset=utf-8")],
                             [b"bad request\n"], head_only=False)
            return
        environ, method = request
        answer: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = status, headers

        body = list(self.app(environ, start))
        await self._send(writer, answer["status"], answer["headers"], body,
                         head_only=method == "HEAD")

    async def _send(self, writer: asyncio.StreamWriter, status: str,
                    headers: Sequence[tuple[str, str]], body: Sequence[bytes], *,
                    head_only: bool) -> None:
        names = {k.lower() for k, _ in headers}
        extra = [] if "content-length" in names else [
            ("Content-Length", str(sum(len(b) for b in body)))]
        lines = [f"HTTP/1.0 {status}", *(f"{k}: {v}" for k, v in (*headers, *extra)),
                 "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1"))
        if not head_only:
            writer.writelines(body)
        await asyncio.wait_for(writer.drain(), self.http_timeout)


REFUSED = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
           b"Content-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n")


def _parse_head(head: bytes) -> tuple[dict[str, Any], str] | None:
    """The WSGI-style environ the routes read, from a request head; None when it
    is not HTTP/1.x."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    method, target, _ = parts
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                               "QUERY_STRING": query}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            environ["HTTP_" + name.strip().upper().replace("-", "_")] = value.strip()
    return environ, method


RetryLog = Callable[[int, float, BaseException | None], None]


def bind(listen: str, app: WsgiApp, access: Callable[[], Access],
         on_error: Callable[[str, str], None] | None = None, *,
         timeout: float = HTTP_TIMEOUT, wait: float = BIND_WAIT,
         on_retry: RetryLog | None = None,
         max_connections: int = DEFAULT_MAX_CONNECTIONS) -> Server:
    """Bind the HTTP server; a taken port or a wrong address is a UsageError.

    An address that is not there yet (before DHCP, a NIC coming up) or a port
    still held by the previous agent is retried with backoff for ``wait``
    seconds; ``on_retry(attempt, next_delay, error)`` hears of each retry.
    ``timeout`` bounds how long a client may take to send its request head
    (and the TLS handshake, and each write of the answer).
    """
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if is_ip(host) and ":" in host else socket.AF_INET
    retrying = Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, OSError)
                                 and e.errno in BIND_RETRY_ERRNOS),
        wait=wait_exponential(multiplier=0.25, max=4.0), stop=stop_after_delay(wait),
        before_sleep=_tell(on_retry), reraise=True)
    try:
        # No getfqdn() or other lookup: serving never waits on DNS.
        sock = retrying(socket.create_server, (host, port), family=family,
                        backlog=LISTEN_BACKLOG, reuse_port=False)
    except OSError as exc:
        raise UsageError(_bind_failure(listen, exc, wait)) from None
    sock.setblocking(False)
    return Server(sock, app, access, on_error or (lambda error, client: None), timeout,
                  max_connections)


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
