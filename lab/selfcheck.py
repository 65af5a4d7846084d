"""Stdlib probes run inside a lab namespace by ``lab.netlab`` (status/check).

Run as a script (it imports nothing from the project): it reads a JSON list
of checks on stdin, runs them concurrently and prints one JSON list of
results on stdout, in the same order.

Checks::

    {"kind": "dns", "server": "198.18.2.53", "name": "x.test", "timeout": 1.5}
      -> {"rcode": "NOERROR"|...|"TIMEOUT", "addresses": [...], "cnames": [...]}
    {"kind": "tcp", "address": "198.18.2.10", "port": 443, "timeout": 1.5}
      -> {"errno": 0 | <errno> | null (timed out)}
    {"kind": "http", "address": "198.18.2.10", "port": 443, "path": "/...", "timeout": 2}
      -> {"status": "HTTP/1.1 200 OK" | null, "error": str | null}
"""

from __future__ import annotations

import json
import os
import random
import socket
import ssl
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
TYPE_A = 1
TYPE_CNAME = 5


def build_query(name: str, qid: int) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD=1
    labels = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split("."))
    return header + labels + b"\x00" + struct.pack("!HH", TYPE_A, 1)


def read_name(msg: bytes, off: int) -> tuple[str, int]:
    """Decode a (possibly compressed) name at off; returns (name, offset after it)."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):
        length = msg[off]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((length & 0x3F) << 8) | msg[off + 1]
            continue
        off += 1
        if length == 0:
            break
        labels.append(msg[off:off + length].decode("ascii", "replace"))
        off += length
    return ".".join(labels).lower(), end if end is not None else off


def parse_answer(msg: bytes) -> dict[str, Any]:
    qid_flags = struct.unpack("!HHHHHH", msg[:12])
    flags, qdcount, ancount = qid_flags[1], qid_flags[2], qid_flags[3]
    off = 12
    for _ in range(qdcount):
        _name, off = read_name(msg, off)
        off += 4
    addresses: list[str] = []
    cnames: list[str] = []
    for _ in range(ancount):
        _owner, off = read_name(msg, off)
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if rtype == TYPE_A and rdlen == 4:
            addresses.append(socket.inet_ntoa(rdata))
        elif rtype == TYPE_CNAME:
            cnames.append(read_name(msg, off)[0])
        off += rdlen
    rcode = flags & 0x000F
    return {"rcode": RCODES.get(rcode, str(rcode)), "addresses": addresses, "cnames": cnames}


def check_dns(server: str, name: str, timeout: float) -> dict[str, Any]:
    qid = random.randrange(65536)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, 53))
        sock.send(build_query(name, qid))
        try:
            while True:
                msg = sock.recv(4096)
                if len(msg) >= 12 and struct.unpack("!H", msg[:2])[0] == qid:
                    return parse_answer(msg)
        except TimeoutError:
            return {"rcode": "TIMEOUT", "addresses": [], "cnames": []}
        except ConnectionRefusedError:
            return {"rcode": "PORT-UNREACHABLE", "addresses": [], "cnames": []}


def check_tcp(address: str, port: int, timeout: float) -> dict[str, Any]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except TimeoutError:
            return {"errno": None}
        except OSError as exc:
            return {"errno": exc.errno}
        return {"errno": 0}


def check_http(address: str, port: int, path: str, timeout: float,
               tls: bool = False) -> dict[str, Any]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # a self-check of the lab, not of its certificate
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, (
                context.wrap_socket(raw) if tls else raw) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
                         .encode("ascii"))
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        return {"status": None, "error": f"{type(exc).__name__}: {exc}"}
    status = data.split(b"\r\n", 1)[0].decode("latin-1") if data else None
    return {"status": status, "error": None if status else "empty reply"}


def run(check: dict[str, Any]) -> dict[str, Any]:
    kind = check["kind"]
    timeout = float(check.get("timeout", 1.5))
    if kind == "dns":
        return check_dns(check["server"], check["name"], timeout)
    if kind == "tcp":
        return check_tcp(check["address"], int(check["port"]), timeout)
    if kind == "http":
        return check_http(check["address"], int(check["port"]), check["path"], timeout,
                          bool(check.get("tls")))
    raise ValueError(f"unknown check kind {kind!r}")


def main() -> int:
    checks = json.load(sys.stdin)
    workers = max(1, min(64, len(checks)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run, checks))
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    os._exit(0)  # do not wait for anything else


if __name__ == "__main__":
    sys.exit(main())
