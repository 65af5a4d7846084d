"""TCP path tracing: the pure hop logic, and tracing on loopback (root only).

Real traces through the lab's router: test_trace_lab.py.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from probe.addresses import matching_prefix
from probe.probers.trace import (
    Hop,
    TraceResult,
    hops_from,
    trace_all,
    worth_tracing,
)
from probe.results import PortState, TcpResult, describe_hop

ROUTER = "198.18.1.1"


# --------------------------------------------------------------------------
# pure


def test_hops_end_at_the_target_answer() -> None:
    hops = hops_from([(1, ROUTER, 0.001, "time-exceeded"), (2, "198.18.2.10", 0.002, "syn-ack"),
                      (3, "198.18.2.10", 0.002, "syn-ack")], max_hops=8)
    assert [h.ttl for h in hops] == [1, 2]
    trace = TraceResult("gw", "gateway", "198.18.2.10", 443, hops)
    assert trace.reached and trace.stopped_after is None
    assert trace.last_answering == hops[1]


def test_silent_tail_is_cut_one_hop_after_the_last_answer() -> None:
    hops = hops_from([(1, ROUTER, 0.001, "time-exceeded")], max_hops=16)
    assert hops == (Hop(1, ROUTER, 0.001, "time-exceeded"), Hop(2, None, None, "no-response"))
    trace = TraceResult("sql", "sql", "198.18.2.12", 1433, hops)
    assert not trace.reached
    assert trace.stopped_after == hops[0]


def test_silent_middle_hops_are_kept() -> None:
    hops = hops_from([(1, ROUTER, 0.001, "time-exceeded"), (3, "198.18.2.10", 0.003, "reset")],
                     max_hops=5)
    assert [(h.ttl, h.address) for h in hops] == [(1, ROUTER), (2, None), (3, "198.18.2.10")]


def test_icmp_unreachable_ends_the_path() -> None:
    hops = hops_from([(1, ROUTER, 0.001, "time-exceeded"), (2, ROUTER, 0.001, "admin-prohibited")],
                     max_hops=5)
    assert hops[-1].reason == "admin-prohibited" and len(hops) == 2
    assert not TraceResult("kv", "keyvault", "198.18.2.13", 443, hops).reached


def test_nothing_at_all() -> None:
    assert hops_from([], max_hops=4) == (Hop(1, None, None, "no-response"),)
    assert TraceResult("x", "other", "198.18.6.10", 443, ()).stopped_after is None


def test_out_of_range_and_duplicate_answers_are_ignored() -> None:
    hops = hops_from([(0, "a", 0.1, "time-exceeded"), (1, ROUTER, 0.001, "time-exceeded"),
                      (1, "198.18.9.9", 0.001, "time-exceeded"), (9, "b", 0.1, "syn-ack")],
                     max_hops=3)
    assert hops[0].address == ROUTER and len(hops) == 2


def test_describe_hop_and_prefixes() -> None:
    assert describe_hop(Hop(2, None, None, "no-response")) == "ttl 2: * no-response -"
    assert describe_hop(Hop(1, ROUTER, 0.0012, "time-exceeded")) == \
        "ttl 1: 198.18.1.1 time-exceeded 1.2 ms"
    assert matching_prefix(ROUTER, ["198.18.2.0/24", "198.18.1.0/24"]) == "198.18.1.0/24"
    assert matching_prefix(ROUTER, ["198.18.1.1"]) == "198.18.1.1"
    assert matching_prefix(ROUTER, ["2001:db8::/32", "junk"]) is None
    assert matching_prefix("not-an-ip", ["0.0.0.0/0"]) is None


# --------------------------------------------------------------------------
# which results are traced; tracing on loopback (root only, no lab needed)


def _tcp(address: str | None, port: int, state: PortState, reason: str,
         responder: str | None = None, ok: bool = False) -> TcpResult:
    return TcpResult("t", "sql", "h.test", address, port, state, reason, PortState.OPEN, ok,
                     True, "syn", (), responder)


def test_worth_tracing() -> None:
    rows = [
        _tcp("198.18.2.12", 1433, PortState.FILTERED, "no-response"),
        _tcp("198.18.2.12", 1433, PortState.FILTERED, "no-response"),  # same address:port
        _tcp("198.18.2.13", 443, PortState.FILTERED, "admin-prohibited", ROUTER),
        _tcp("198.18.2.14", 8080, PortState.CLOSED, "reset", "198.18.2.14"),  # its own RST
        _tcp("198.18.2.16", 8080, PortState.CLOSED, "reset", ROUTER),  # a middlebox's RST
        _tcp("198.18.2.10", 443, PortState.OPEN, "syn-ack", "198.18.2.10", ok=True),
        _tcp(None, 443, PortState.UNRESOLVED, "nxdomain"),
    ]
    assert [(r.address, r.port) for r in worth_tracing(rows)] == [
        ("198.18.2.12", 1433), ("198.18.2.13", 443), ("198.18.2.16", 8080)]


@pytest.mark.skipif(os.geteuid() != 0, reason="raw sockets need root")
def test_trace_all_on_loopback() -> None:
    with socket.socket() as closed, socket.socket() as listening:
        closed.bind(("127.0.0.1", 0))
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        rows = [_tcp("127.0.0.1", closed.getsockname()[1], PortState.FILTERED, "no-response"),
                _tcp("127.0.0.1", listening.getsockname()[1], PortState.FILTERED,
                     "no-response")]
        traces = asyncio.run(trace_all(rows, max_hops=3, timeout=1.0))
    assert [[(h.ttl, h.address, h.reason) for h in t.hops] for t in traces] == [
        [(1, "127.0.0.1", "reset")], [(1, "127.0.0.1", "syn-ack")]]
    assert [t.dependency for t in traces] == ["sql", "sql"]
