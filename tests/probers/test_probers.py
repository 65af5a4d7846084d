"""SYN for what the engine supports (IPv4), connect() for the rest (IPv6)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence

import pytest

from probe.probers import SynFirst
from probe.results import Attempt, PortState, TcpJob


class Fake:
    def __init__(self, method: str, only_v4: bool = False) -> None:
        self.method = method
        self.only_v4 = only_v4
        self.seen: list[str] = []
        self.closed = False

    def supports(self, address: str) -> bool:
        return ":" not in address if self.only_v4 else True

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        self.seen.extend(j.address for j in jobs)
        return [tuple(Attempt(PortState.OPEN, f"{self.method}:{j.address}")
                      for _ in range(j.count)) for j in jobs]

    def method_for(self, address: str) -> str:
        return self.method

    def close(self) -> None:
        self.closed = True


def test_each_job_goes_to_the_prober_that_can_take_it_and_comes_back_in_order() -> None:
    syn, connect = Fake("syn", only_v4=True), Fake("connect")
    split = SynFirst(syn, connect)
    jobs = [TcpJob("198.18.2.10", 443, 1), TcpJob("2001:db8::1", 443, 2),
            TcpJob("198.18.2.11", 443, 1)]
    out = asyncio.run(split.probe(jobs, 1.0))
    assert [a[0].reason for a in out] == ["syn:198.18.2.10", "connect:2001:db8::1",
                                          "syn:198.18.2.11"]
    assert len(out[1]) == 2
    assert syn.seen == ["198.18.2.10", "198.18.2.11"] and connect.seen == ["2001:db8::1"]
    assert split.method_for("2001:db8::1") == "connect"
    assert split.method_for("198.18.2.10") == "syn"


def test_an_all_ipv4_batch_never_touches_the_fallback() -> None:
    syn, connect = Fake("syn", only_v4=True), Fake("connect")
    asyncio.run(SynFirst(syn, connect).probe([TcpJob("198.18.2.10", 443, 1)], 1.0))
    assert connect.seen == []


def test_close_releases_both() -> None:
    syn, connect = Fake("syn", only_v4=True), Fake("connect")
    SynFirst(syn, connect).close()
    assert syn.closed and connect.closed


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
def v6_listener() -> Iterator[int]:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="SYN probes need root")
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_mixed_families_in_one_real_round_over_loopback(v6_listener: int) -> None:
    """Loopback only: ::1 and 127.0.0.1. The IPv4 target is SYN-probed, the IPv6
    one falls back to connect(), and the round does not fail."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
        v4.bind(("127.0.0.1", 0))
        v4.listen(16)
        v4_port = v4.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "probe", "--once", "--format", "json", "--count", "1",
             "--timeout", "1", "--resolver", "127.0.0.1",
             "--target", f"v6=[::1]:{v6_listener}", "--target", f"v4=127.0.0.1:{v4_port}"],
            capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = {r["target"]: r for r in json.loads(proc.stdout)["tcp"]}
    assert (rows["v6"]["state"], rows["v6"]["method"], rows["v6"]["address"]) == (
        "open", "connect", "::1")
    assert (rows["v4"]["state"], rows["v4"]["method"]) == ("open", "syn")
