"""The agent's HTTP server: auth, listen addresses, errors, in-process on 127.0.0.1."""

from __future__ import annotations

import base64
import socket

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
            httpserver.bind(f"127.0.0.1:{port}", _app, httpserver.Access)
