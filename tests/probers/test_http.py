"""HTTP(S) health check against real loopback servers.

The lab's gateway: test_http_lab.py.
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.probers.http import check, check_all, reason_for, split_url

STATUS = "/status-0123456789abcdef"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200 if self.path == STATUS else 404
        body = json.dumps({"host": self.headers.get("Host")}).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def _serve(context: ssl.SSLContext | None) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def plain() -> Iterator[int]:
    yield from _serve(None)


@pytest.fixture()
def cert(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a self-signed certificate")
    pem = tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(pem), "-out", str(pem)],
                   check=True, capture_output=True, timeout=60)
    return pem


@pytest.fixture()
def tls(cert: Path) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert)
    yield from _serve(context)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://apim.azure-api.net/status-0123456789abcdef",
     ("https", "apim.azure-api.net", 443, STATUS)),
    ("http://h.test/", ("http", "h.test", 80, "/")),
    ("http://h.test", ("http", "h.test", 80, "/")),
    ("https://h.test:8443/a?b=c", ("https", "h.test", 8443, "/a?b=c")),
])
def test_split_url(url: str, expected: tuple[str, str, int, str]) -> None:
    assert split_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://h.test/", "h.test/status", "https:///x"])
def test_split_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        split_url(url)


@pytest.mark.parametrize(("exc", "reason"), [
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "conn-refused"),
    (OSError(errno.EHOSTUNREACH, "no route"), "host-unreach"),
    (OSError(errno.ENETUNREACH, "no net"), "net-unreach"),
    (TimeoutError("timed out"), "no-response"),
    (socket.gaierror(-2, "Name or service not known"), "unresolved"),
    (http.client.RemoteDisconnected("closed"), "bad-response: RemoteDisconnected"),
    (OSError(errno.EIO, "I/O error"), "error: I/O error"),
])
def test_reason_for(exc: BaseException, reason: str) -> None:
    assert reason_for(exc) == reason


def test_plain_http_ok_and_not_found(plain: int) -> None:
    result = check(f"http://127.0.0.1:{plain}{STATUS}", timeout=5)
    assert (result.status, result.ok, result.reason, result.tls) == (200, True, "200 OK", None)
    missing = check(f"http://127.0.0.1:{plain}/nope", timeout=5)
    assert (missing.status, missing.ok, missing.reason) == (404, False, "404 Not Found")


def test_connect_to_an_address_with_the_url_host(plain: int) -> None:
    result = check(f"http://gateway.test:{plain}{STATUS}", address="127.0.0.1", timeout=5)
    assert result.ok and result.address == "127.0.0.1"


def test_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: the kernel answers RST
        result = check(f"http://127.0.0.1:{port}/", timeout=5)
    assert (result.status, result.ok, result.reason) == (None, False, "conn-refused")


def test_untrusted_certificate_is_reported(tls: int) -> None:
    result = check(f"https://localhost:{tls}{STATUS}", address="127.0.0.1", timeout=5)
    assert not result.ok and result.status is None
    assert result.reason.startswith("certificate: ")


def test_verification_off_and_private_ca(tls: int, cert: Path) -> None:
    insecure = check(f"https://localhost:{tls}{STATUS}", address="127.0.0.1", timeout=5,
                     verify=False)
    assert insecure.ok and insecure.tls is not None and insecure.tls.startswith("TLS")
    trusted = check(f"https://localhost:{tls}{STATUS}", address="127.0.0.1", timeout=5,
                    cafile=str(cert))
    assert trusted.ok, trusted.reason


def test_tls_to_a_plain_server_is_a_tls_error(plain: int) -> None:
    result = check(f"https://127.0.0.1:{plain}/", timeout=5, verify=False)
    assert result.reason.startswith("tls-error: ") and not result.ok


def test_check_all_side_by_side(plain: int) -> None:
    url = f"http://gateway.test:{plain}{STATUS}"
    results = asyncio.run(check_all(url, ["127.0.0.1", "127.0.0.1", "127.0.0.2"], timeout=5))
    assert [(r.address, r.ok) for r in results] == [("127.0.0.1", True), ("127.0.0.2", False)]
    assert results[1].reason == "conn-refused"
    (by_name,) = asyncio.run(check_all(f"http://127.0.0.1:{plain}{STATUS}", timeout=5))
    assert by_name.address is None and by_name.ok
