"""A fake IMDS (HTTP) and a fake ARM (HTTPS, from a test CA) for the Azure context tests.

They answer only from a scenario: recorded Azure bodies (tests/data/azure/
recordings/, REST-spec examples) with the substitutions a story needs
(resource IDs that chain, lab hostnames) made by ``labify`` and said in the
story. They check what Azure checks: IMDS the ``Metadata: true`` header and
the api-version, ARM the ``Authorization: Bearer`` token IMDS issued and the
api-version of each route. A route answers a sequence of responses (the last
repeats): a status, headers, a JSON body, a delay, or a dropped connection.
Every request is logged, with its headers, for the tests to read.

Two ways to run: ``serving(scenario)`` on loopback in the test's process, or
``python -m tests.helpers.fake_azure`` inside a lab namespace (on 198.18/15
addresses; it writes its log as JSON lines and a ready file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import ipaddress
import json
import re
import secrets
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "azure"
RECORDINGS = DATA / "recordings"
IMDS_DOC = DATA / "imds" / "instance-docs-linux.json"
TOKEN_API = "2018-02-01"


def recording(name: str) -> dict[str, Any]:
    """One recorded interaction: {request, status, headers, body}."""
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def labify(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with every string's substrings in ``names`` replaced (in order),
    then any public DNS suffix left (.net, .com, .cn) turned into .test: a lab
    body never names a real host."""
    if isinstance(value, dict):
        return {k: labify(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [labify(v, names) for v in value]
    if isinstance(value, str):
        for old, new in names.items():
            value = value.replace(old, new)
        return re.sub(r"(?<=[a-z0-9])\.(net|com|cn)\b", ".test", value)
    return value


def make_tls(directory: Path, address: str) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for ``address`` (IP SAN): (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apim-probe test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (directory / "ca.pem", directory / "arm.pem", directory / "arm.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class Scenario:
    """What the fakes answer. ``arm``: "METHOD /path" -> responses (dicts with
    status, headers, body, delay, drop) and the api-version the route wants
    ("api"). ``imds``: responses for /metadata/instance (default: the instance)."""

    instance: dict[str, Any]
    arm: dict[str, dict[str, Any]] = field(default_factory=dict)
    imds: list[dict[str, Any]] = field(default_factory=list)
    token: str = field(default_factory=lambda: "fake-arm-token-" + secrets.token_hex(16))
    token_status: int = 200
    arm_token: str = ""  # the token ARM accepts (default: the one IMDS issues)

    def to_json(self) -> str:
        return json.dumps({"instance": self.instance, "arm": self.arm, "imds": self.imds,
                           "token": self.token, "token_status": self.token_status,
                           "arm_token": self.arm_token})

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        return cls(**json.loads(text))


class _State:
    def __init__(self, scenario: Scenario, log: Path | None) -> None:
        self.scenario = scenario
        self.calls: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.log = log

    def next(self, key: str, responses: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            n = self.calls.get(key, 0)
            self.calls[key] = n + 1
        return responses[min(n, len(responses) - 1)]

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)
            if self.log is not None:
                with self.log.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(entry) + "\n")


def _handler(state: _State, kind: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any, headers: Mapping[str, str] = {}) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "content-type"):
                    self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            state.record({"server": kind, "method": self.command, "path": url.path,
                          "query": query, "headers": dict(self.headers.items()),
                          "time": time.monotonic()})
            if int(self.headers.get("Content-Length") or 0):
                self.rfile.read(int(self.headers["Content-Length"]))
            if kind == "imds":
                self._imds(url.path, query)
            else:
                self._arm(url.path, query)

        def _imds(self, path: str, query: Mapping[str, str]) -> None:
            scenario = state.scenario
            if self.headers.get("Metadata") != "true":
                return self._answer(400, {"error": "bad_request",
                                          "error_description": "Required metadata header "
                                                               "not specified"})
            if path == "/metadata/identity/oauth2/token":
                if query.get("api-version") != TOKEN_API or not query.get("resource"):
                    return self._answer(400, {"error": "invalid_request"})
                if scenario.token_status != 200:
                    return self._answer(scenario.token_status, {
                        "error": "invalid_request", "error_description": "Identity not found"})
                now = int(time.time())
                return self._answer(200, {
                    "access_token": scenario.token, "refresh_token": "",
                    "expires_in": "3599", "expires_on": str(now + 3599),
                    "not_before": str(now), "resource": query["resource"],
                    "token_type": "Bearer"})
            if path == "/metadata/instance":
                answer = state.next("imds", scenario.imds or [{"status": 200}])
                if answer.get("status", 200) != 200:
                    return self._answer(answer["status"], answer.get("body"))
                return self._answer(200, scenario.instance)
            return self._answer(404, {"error": "not found"})

        def _arm(self, path: str, query: Mapping[str, str]) -> None:
            route = state.scenario.arm.get(f"{self.command} {path}")
            if route is None:
                return self._answer(404, {"error": {
                    "code": "ResourceNotFound",
                    "message": f"The Resource '{path}' was not found (fake ARM)."}})
            wanted = state.scenario.arm_token or state.scenario.token
            if self.headers.get("Authorization") != f"Bearer {wanted}":
                return self._answer(401, {"error": {
                    "code": "InvalidAuthenticationToken",
                    "message": "The access token is invalid."}})
            if query.get("api-version") != route.get("api"):
                return self._answer(400, {"error": {
                    "code": "InvalidApiVersionParameter",
                    "message": f"The api-version '{query.get('api-version')}' is invalid "
                               f"(fake ARM wants {route.get('api')})."}})
            answer = state.next(f"{self.command} {path}", route["responses"])
            time.sleep(float(answer.get("delay", 0)))
            if answer.get("drop"):
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return None
            return self._answer(int(answer.get("status", 200)), answer.get("body"),
                                answer.get("headers", {}))

        do_GET = do_POST = _serve

    return Handler


@dataclass
class Fake:
    imds_url: str
    arm_url: str
    ca_file: Path
    state: _State

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self.state.requests)


def _servers(state: _State, imds: tuple[str, int], arm: tuple[str, int], cert: Path,
             key: Path) -> tuple[http.server.ThreadingHTTPServer, http.server.ThreadingHTTPServer]:
    imds_server = http.server.ThreadingHTTPServer(imds, _handler(state, "imds"))
    arm_server = http.server.ThreadingHTTPServer(arm, _handler(state, "arm"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    arm_server.socket = context.wrap_socket(arm_server.socket, server_side=True)
    for server in (imds_server, arm_server):
        server.daemon_threads = True
    return imds_server, arm_server


@contextmanager
def serving(scenario: Scenario, directory: Path) -> Iterator[Fake]:
    """The two fakes on loopback, in threads of this process."""
    ca, cert, key = make_tls(directory, "127.0.0.1")
    state = _State(scenario, None)
    imds_server, arm_server = _servers(state, ("127.0.0.1", 0), ("127.0.0.1", 0), cert, key)
    threads = [threading.Thread(target=s.serve_forever, daemon=True)
               for s in (imds_server, arm_server)]
    for thread in threads:
        thread.start()
    try:
        yield Fake(f"http://127.0.0.1:{imds_server.server_address[1]}",
                   f"https://127.0.0.1:{arm_server.server_address[1]}", ca, state)
    finally:
        for server in (imds_server, arm_server):
            server.shutdown()
            server.server_close()


LAB_IMDS, LAB_ARM = "198.18.2.60", "198.18.2.61"  # on apl-svc, the lab's Azure side


@contextmanager
def in_lab(scenario: Scenario, directory: Path, ns: str = "apl-svc",
           dev: str = "eth0") -> Iterator[tuple[Path, Path]]:
    """The two fakes in the lab's namespace ``ns``, on LAB_IMDS:80 and LAB_ARM:443
    (addresses added for the while, removed after; the server ended by its PID):
    (the CA file, the request log)."""
    import subprocess
    import sys

    ca, cert, key = make_tls(directory, LAB_ARM)
    (directory / "scenario.json").write_text(scenario.to_json(), encoding="utf-8")
    log, ready = directory / "requests.jsonl", directory / "ready"
    for address in (LAB_IMDS, LAB_ARM):
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{address}/32", "dev", dev], check=True)
    server = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.helpers.fake_azure",
         "--scenario", str(directory / "scenario.json"), "--imds", f"{LAB_IMDS}:80",
         "--arm", f"{LAB_ARM}:443", "--cert", str(cert), "--key", str(key),
         "--log", str(log), "--ready", str(ready)], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake IMDS and ARM did not start")
            time.sleep(0.05)
        yield ca, log
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        for address in (LAB_IMDS, LAB_ARM):
            subprocess.run(["ip", "-n", ns, "addr", "del", f"{address}/32", "dev", dev],
                           check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", type=Path, required=True)
    parser.add_argument("--imds", required=True, help="ADDRESS:PORT")
    parser.add_argument("--arm", required=True, help="ADDRESS:PORT")
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args()
    state = _State(Scenario.from_json(args.scenario.read_text(encoding="utf-8")), args.log)

    def split(text: str) -> tuple[str, int]:
        host, _, port = text.rpartition(":")
        return host, int(port)

    imds_server, arm_server = _servers(state, split(args.imds), split(args.arm), args.cert,
                                       args.key)
    threading.Thread(target=imds_server.serve_forever, daemon=True).start()
    args.ready.write_text("ready\n", encoding="utf-8")
    arm_server.serve_forever()


if __name__ == "__main__":
    main()
