"""TCP path tracing: real traces in the lab.

Lab path: client 198.18.1.10 -> router 198.18.1.1 -> svc 198.18.2.x. The
router answers TTL 1 with time-exceeded even for traffic its forward chain
drops (the TTL check comes before netfilter's FORWARD hook).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from probe.diagnosis import Context, forbidden_path
from probe.probers.trace import Hop, TraceResult
from probe.results import RoundResult
from tests.conftest import in_client

ROUTER = "198.18.1.1"


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
