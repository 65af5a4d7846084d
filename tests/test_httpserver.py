"""The agent's HTTP server: auth, listen addresses, errors, in-process on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from probe import httpserver
from probe.errors import UsageError


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("header", "ok"), [
    (_basic("prom:s3cret"), True),
    ("basic " + base64.b64encode(b"prom:s3cret").decode(), True),
    (_basic("prom:s3cret2"), False),
    (_basic("prom:"), False),
    (_basic("other:s3cret"), False),
    (_basic("proms3cret"), False),
    ("Basic !!!notbase64", False),
    ("Bearer abc", False),
    ("", False),
    (None, False),
])
def test_basic_auth(header: str | None, ok: bool) -> None:
    assert httpserver.basic_auth_ok(header, "prom", b"s3cret") is ok


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9839", ("127.0.0.1", 9839)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("[::1]:9839", ("::1", 9839)),
    ("[::1]:0", ("::1", 0)),
    ("localhost:80", ("localhost", 80)),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert httpserver.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", "127.0.0.1:99999", "[::1"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--listen"):
        httpserver.parse_listen(text)


def _app(environ: dict[str, object], start: object) -> list[bytes]:
    return []


def test_http_errors_are_one_log_line_not_a_traceback() -> None:
    errors: list[tuple[str, str]] = []
    server = httpserver.bind("127.0.0.1:0", _app, httpserver.Access,
                         lambda error, client: errors.append((error, client)))
    try:
        try:
            raise ConnectionResetError("peer went away")
        except ConnectionResetError:
            server.handle_error(None, ("127.0.0.1", 40000))
    finally:
        server.server_close()
    assert errors == [("ConnectionResetError: peer went away", "127.0.0.1")]


def test_bind_a_taken_port_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match="address already in use"):
            httpserver.bind(f"127.0.0.1:{port}", _app, httpserver.Access, wait=0.2)


def _hello(environ: dict[str, object], start: Callable[..., object]) -> list[bytes]:
    start("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"hello\n"]


@contextlib.contextmanager
def serving(timeout: float = httpserver.HTTP_TIMEOUT) -> Iterator[int]:
    """The real server on 127.0.0.1, in a thread; yields its port."""
    server = httpserver.bind("127.0.0.1:0", _hello, httpserver.Access, timeout=timeout)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_binding_and_serving_never_ask_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """http.server's bind calls socket.getfqdn(): seconds of waiting when DNS is down."""
    asked: list[str] = []

    def refuse(name: str) -> Callable[..., object]:
        def lookup(*args: object, **kwargs: object) -> object:
            asked.append(name)
            raise OSError(f"{name} must not be called")
        return lookup

    for name in ("getfqdn", "gethostbyaddr", "getnameinfo", "gethostbyname_ex"):
        monkeypatch.setattr(socket, name, refuse(name))
    with serving() as port, urllib.request.urlopen(f"http://127.0.0.1:{port}/",
                                                   timeout=10) as response:
        assert response.status == 200
    assert asked == []


def _listen_backlog(port: int) -> int:
    """The accept queue length the kernel grants this listening socket (ss: Send-Q)."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[2])


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_the_listen_queue_holds_200_scrapers() -> None:
    with serving() as port:
        assert _listen_backlog(port) >= 200


def test_200_concurrent_clients_all_get_200() -> None:
    """Two hundred scrapers at once (load numbers: make soak, bench/SOAK.md)."""
    clients = 200
    start = threading.Barrier(clients)
    statuses: list[int | str] = []

    def scrape(port: int) -> None:
        start.wait()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
                statuses.append(response.status)
        except OSError as exc:
            statuses.append(repr(exc))

    with serving() as port:
        threads = [threading.Thread(target=scrape, args=(port,)) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert statuses == [200] * clients


def _hung_up(sock: socket.socket) -> bool:
    """Whether the server closed the connection (reading until EOF or reset)."""
    sock.settimeout(10)  # far beyond the server's timeout: a hang fails the test
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize("sent", [
    b"",                          # connected, says nothing
    b"GET /",                     # an HTTP/0.9 request line that never ends
    b"GET / HTTP/1.1\r\nHost: x\r\n",  # headers that never end
])
def test_plain_http_hangs_up_on_idle_and_unfinished_requests(sent: bytes) -> None:
    with serving(timeout=0.3) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(sent)
        assert _hung_up(sock)


def test_a_request_head_trickling_in_is_cut_off_at_the_timeout() -> None:
    """One byte every 50 ms keeps each read short: the head as a whole has the timeout."""
    head = b"GET / HTTP/1.0\r\n" + b"X-Slow: " + b"a" * 400 + b"\r\n\r\n"
    with serving(timeout=0.3) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        for i, byte in enumerate(head):
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)
            if i % 10 == 9 and _closed_now(sock):
                break
        else:
            raise AssertionError("the server waited for the whole slow head")


def _closed_now(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def test_a_complete_request_is_still_answered_with_a_short_timeout() -> None:
    with serving(timeout=0.3) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        sock.settimeout(10)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"hello\n")


def test_an_address_that_appears_is_bound_after_retries() -> None:
    """EADDRINUSE (the previous agent still going) is retried, each retry reported."""
    retries: list[tuple[int, float, str]] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        release = threading.Timer(0.6, taken.close)
        release.start()
        server = httpserver.bind(f"127.0.0.1:{port}", _hello, httpserver.Access, wait=10,
                                 on_retry=lambda n, delay, exc: retries.append(
                                     (n, delay, type(exc).__name__)))
        server.server_close()
        release.join()
    assert retries and retries[0] == (1, 0.25, "OSError")
    assert [n for n, _, _ in retries] == list(range(1, len(retries) + 1))


def test_an_address_that_stays_away_is_a_usage_error_after_the_wait() -> None:
    with pytest.raises(UsageError, match=r"198\.18\.255\.254:9839: no interface has this "
                                         r"address \(still, after 0\.3 s of retries\)"):
        httpserver.bind("198.18.255.254:9839", _hello, httpserver.Access, wait=0.3)


# --------------------------------------------------------------------------
# issue 16: bounded by construction (one event loop), HEAD, Accept-Encoding


def _recv_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_idle_connections_cost_no_threads_and_scrapes_go_on() -> None:
    before = threading.active_count()
    with serving() as port:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
        try:
            time.sleep(0.3)
            assert threading.active_count() <= before + 1  # the server's one thread
            started = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                assert response.status == 200
            assert time.monotonic() - started < 2.0
        finally:
            for sock in idle:
                sock.close()


def test_connections_beyond_the_cap_are_refused_at_once() -> None:
    server = httpserver.bind("127.0.0.1:0", _hello, httpserver.Access, max_connections=5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            started = time.monotonic()
            reply = _recv_all(extra)
            assert reply.startswith(b"HTTP/1.0 503") and b"Retry-After: 1" in reply
            assert time.monotonic() - started < 1.0
        assert server.refused == 1
    finally:
        for sock in idle:
            sock.close()
        server.shutdown()
        server.server_close()


def test_a_request_head_larger_than_the_cap_is_431() -> None:
    with serving() as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (httpserver.MAX_HEAD + 10)
                     + b"\r\n\r\n")
        assert _recv_all(sock).startswith(b"HTTP/1.0 431")


def _routes(user: str | None = None) -> httpserver.Routes:
    from probe.exporters import prometheus as prom
    from probe.preflight import Access

    exposition = prom.CachedExposition(prom.Exposition())
    access = Access(None, user, b"pw" if user else None)
    return httpserver.Routes(httpserver.metrics_app(exposition), lambda: (False, "starting"),
                             lambda: access)


@pytest.mark.parametrize(("path", "user", "status"), [
    ("/metrics", None, 200), ("/healthz", None, 503), ("/", None, 200),
    ("/nothing", None, 404), ("/metrics", "prom", 401)])
def test_head_answers_carry_no_body_on_every_path(path: str, user: str | None,
                                                   status: int) -> None:
    server = httpserver.bind("127.0.0.1:0", _routes(user), httpserver.Access)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", int(server.server_address[1]))) as sock:
            sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            reply = _recv_all(sock)
    finally:
        server.shutdown()
        server.server_close()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.0 {status}".encode()), head
    assert b"Content-Length: " in head and body == b""


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True), ("gzip, deflate", True), ("deflate, gzip;q=0.5", True),
    ("gzip;q=0", False), ("gzip;q=0.000", False), ("*;q=0.1", True), ("*", True),
    ("*, gzip;q=0", False), ("x-gzip", True), ("identity", False), ("", False), (None, False),
    ("GZIP;Q=1", True), ("gzip;q=nan", False), ("gzip;q=abc", False),
    ("br;q=1, identity;q=0.5", False)])
def test_accept_encoding_q_values(header: str | None, gzip: bool) -> None:
    assert httpserver.accepts_gzip(header) is gzip


def test_the_gzip_body_is_built_once_per_round(monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip as gz

    from probe.exporters import prometheus as prom
    from tests.helpers.metrics_data import sample_round

    exposition = prom.Exposition()
    exposition.record_round(sample_round())
    cached = prom.CachedExposition(exposition)
    calls: list[int] = []
    real = gz.compress
    monkeypatch.setattr(prom.gzip, "compress",
                        lambda data, compresslevel=9: calls.append(len(data))
                        or real(data, compresslevel))
    first = b"".join(cached.gzip_chunks())
    assert b"".join(cached.gzip_chunks()) == first
    assert len(calls) == 1
    assert gz.decompress(first) == exposition.body
    exposition.record_round(sample_round())  # a new round: compressed once more
    cached.gzip_chunks()
    cached.gzip_chunks()
    assert len(calls) == 2


def test_descriptor_budget() -> None:
    from probe import limits

    assert limits.budget(1024, 524288, 256) == limits.Budget(1024, 524288, 256, 704)
    assert limits.budget(524288, 524288, 256).http == limits.MAX_HTTP_CONNECTIONS
    small = limits.budget(128, 128, 256)  # a tight sandbox: probes shrink, HTTP keeps a floor
    assert small.probes == 32 and small.http == 32
    assert limits.budget(10, 10, 256).http == limits.MIN_HTTP_CONNECTIONS
