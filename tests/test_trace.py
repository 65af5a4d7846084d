"""TCP path tracing: the pure hop logic, and real traces in the lab.

Lab path: client 198.18.1.10 -> router 198.18.1.1 -> svc 198.18.2.x. The
router answers TTL 1 with time-exceeded even for traffic its forward chain
drops (the TTL check comes before netfilter's FORWARD hook).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from probe.diagnosis import Context, forbidden_path
from probe.probers.trace import (
    Hop,
    TraceResult,
    describe_hop,
    hops_from,
    in_prefixes,
    trace_all,
    worth_tracing,
)
from probe.results import PortState, RoundResult, TcpResult
from tests.conftest import in_client

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
    assert in_prefixes(ROUTER, ["198.18.2.0/24", "198.18.1.0/24"]) == "198.18.1.0/24"
    assert in_prefixes(ROUTER, ["198.18.1.1"]) == "198.18.1.1"
    assert in_prefixes(ROUTER, ["2001:db8::/32", "junk"]) is None
    assert in_prefixes("not-an-ip", ["0.0.0.0/0"]) is None


# --------------------------------------------------------------------------
# lab

_SNIPPET = """
import dataclasses, json, sys
from probe.probers.trace import trace
result = trace(sys.argv[1], int(sys.argv[2]), max_hops=6, timeout=1.5)
print(json.dumps(dataclasses.asdict(result)))
"""


def _trace_in_lab(address: str, port: int) -> TraceResult:
    proc = in_client([sys.executable, "-c", _SNIPPET, address, str(port)], timeout=60)
    assert proc.returncode == 0, proc.stderr
    raw: dict[str, Any] = json.loads(proc.stdout)
    return TraceResult(raw["target"], raw["dependency"], raw["address"], raw["port"],
                       tuple(Hop(**h) for h in raw["hops"]))


@pytest.mark.lab
@pytest.mark.usefixtures("lab")
def test_lab_trace_reaches_an_open_port() -> None:
    trace = _trace_in_lab("198.18.2.10", 3443)
    assert [(h.ttl, h.address, h.reason) for h in trace.hops] == [
        (1, ROUTER, "time-exceeded"), (2, "198.18.2.10", "syn-ack")]
    assert trace.reached
    assert all(h.rtt_seconds is not None and 0 <= h.rtt_seconds < 1.5 for h in trace.hops)


@pytest.mark.lab
@pytest.mark.usefixtures("lab")
def test_lab_trace_to_a_closed_port_ends_with_the_reset() -> None:
    trace = _trace_in_lab("198.18.2.14", 8080)
    assert [(h.address, h.reason) for h in trace.hops] == [
        (ROUTER, "time-exceeded"), ("198.18.2.14", "reset")]


@pytest.mark.lab
@pytest.mark.usefixtures("lab")
def test_lab_trace_stops_after_the_router_when_it_drops() -> None:
    trace = _trace_in_lab("198.18.2.12", 1433)
    assert [(h.ttl, h.address, h.reason) for h in trace.hops] == [
        (1, ROUTER, "time-exceeded"), (2, None, "no-response")]
    assert trace.stopped_after is not None and trace.stopped_after.address == ROUTER


@pytest.mark.lab
@pytest.mark.usefixtures("lab")
def test_lab_trace_names_the_rejecting_router() -> None:
    trace = _trace_in_lab("198.18.2.13", 443)
    assert [(h.address, h.reason) for h in trace.hops] == [
        (ROUTER, "time-exceeded"), (ROUTER, "admin-prohibited")]


@pytest.mark.lab
@pytest.mark.usefixtures("lab")
def test_lab_trace_through_a_forbidden_hop_is_a_finding() -> None:
    trace = _trace_in_lab("198.18.2.10", 3443)
    trace = TraceResult("management", "management", trace.address, trace.port, trace.hops)
    empty = RoundResult(started=datetime(2026, 1, 1, tzinfo=UTC), duration_seconds=0,
                        resolvers=(), dns=(), tcp=())
    (finding,) = forbidden_path(empty, Context(forbidden_hops=("198.18.1.0/24",),
                                               traces=(trace,)))
    assert finding.id == "path-forbidden-hop"
    assert "198.18.1.1 (hop 1, forbidden: 198.18.1.0/24)" in finding.summary


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


_MANY = """
import json, sys, time
from probe.probers.trace import TraceRequest, trace_many
requests = [TraceRequest(a, int(p), f"t{i}") for i, (a, p) in
            enumerate(x.split(":") for x in sys.argv[1:])]
start = time.perf_counter()
out = trace_many(requests, max_hops=6, timeout=1.0)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "traces": [[r.target, r.reached, [h.address for h in r.hops]] for r in out]}))
"""


@pytest.mark.lab
@pytest.mark.usefixtures("lab")
def test_lab_many_traces_cost_one_timeout_and_keep_their_own_hops() -> None:
    """Four silent or rejected paths and an open one, traced together: each
    keeps its own hops (told apart by source port), and the batch costs about
    one timeout, not one per trace (a round with many failures stays quick)."""
    targets = ["198.18.2.12:1433", "198.18.2.31:443", "198.18.2.13:443", "198.18.6.10:443",
               "198.18.2.10:3443"]
    proc = in_client([sys.executable, "-c", _MANY, *targets], timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    traces = {name: (reached, hops) for name, reached, hops in out["traces"]}
    assert traces["t0"] == (False, ["198.18.1.1", None])  # dropped after the router
    assert traces["t1"] == (False, ["198.18.1.1", None])
    assert traces["t2"] == (False, ["198.18.1.1", "198.18.1.1"])  # rejected by the router
    assert traces["t3"] == (False, [None])  # blackhole route: not even time-exceeded
    assert traces["t4"] == (True, ["198.18.1.1", "198.18.2.10"])
    assert out["seconds"] < 2.5  # one timeout (1 s) plus scapy; five in a row would be 5+
