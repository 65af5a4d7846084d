"""probe/diagnosis/path.py: forced tunnelling, from path traces and from who answered.

Hand-built rounds, no sockets."""

from __future__ import annotations

from probe.diagnosis import (
    Context,
    diagnose,
    forbidden_path,
)
from probe.probers.trace import Hop, TraceResult
from probe.results import (
    PortState,
    Severity,
)
from tests.helpers.rounds import (
    BLOB,
    ids,
    only,
    round_of,
    tcp,
)


def _trace(*hops: tuple[int, str | None, str], dependency: str = "management") -> TraceResult:
    return TraceResult("management", dependency, "198.18.2.5", 3443, tuple(
        Hop(ttl, addr, None if addr is None else 0.002, reason) for ttl, addr, reason in hops))


def test_trace_through_a_forbidden_hop() -> None:
    trace = _trace((1, "198.18.1.1", "time-exceeded"), (2, "198.18.3.4", "time-exceeded"),
                   (3, "198.18.2.5", "syn-ack"))
    ctx = Context(forbidden_hops=("198.18.3.0/24",), traces=(trace,))
    f = only(list(forbidden_path(round_of(), ctx)))
    assert (f.id, f.severity) == ("path-forbidden-hop", Severity.CRITICAL)
    assert "198.18.3.4 (hop 2, forbidden: 198.18.3.0/24)" in f.summary
    assert f.evidence[1] == "trace ttl 2: 198.18.3.4 time-exceeded 2.0 ms"
    assert "ApiManagement" in f.remedy and "next hop Internet" in f.remedy


def test_trace_to_a_backend_through_a_forbidden_hop_is_a_warning() -> None:
    trace = _trace((1, "198.18.3.4", "time-exceeded"), (2, None, "no-response"),
                   dependency="backend")
    ctx = Context(forbidden_hops=("198.18.3.4",), traces=(trace,))
    assert only(list(forbidden_path(round_of(), ctx))).severity is Severity.WARNING


def test_clean_trace_and_no_forbidden_list_give_nothing() -> None:
    trace = _trace((1, "198.18.1.1", "time-exceeded"), (2, "198.18.2.5", "syn-ack"))
    assert list(forbidden_path(round_of(), Context(forbidden_hops=("198.18.3.0/24",),
                                                   traces=(trace,)))) == []
    assert list(forbidden_path(round_of(), Context(traces=(trace,)))) == []


def test_icmp_from_a_forbidden_device_proves_it_is_in_the_path() -> None:
    row = tcp("storage", "storage", BLOB, "198.18.2.10", 443, PortState.FILTERED,
              "admin-prohibited", responder="198.18.3.4")
    ctx = Context(forbidden_hops=("198.18.3.0/24",))
    found = diagnose(round_of(tcp_results=(row,)), ctx)
    assert sorted(ids(found)) == ["outbound-rejected-path", "path-forbidden-hop"]


def test_trace_and_responder_for_the_same_address_give_one_finding() -> None:
    trace = TraceResult("storage", "storage", "198.18.2.10", 443, (
        Hop(1, "198.18.3.4", 0.001, "time-exceeded"), Hop(2, "198.18.3.4", 0.001,
                                                          "admin-prohibited")))
    row = tcp("storage", "storage", BLOB, "198.18.2.10", 443, PortState.FILTERED,
              "admin-prohibited", responder="198.18.3.4")
    ctx = Context(forbidden_hops=("198.18.3.4",), traces=(trace,))
    found = list(forbidden_path(round_of(tcp_results=(row,)), ctx))
    assert len(found) == 1 and "hop 1" in found[0].summary


def test_the_destination_itself_is_not_a_forbidden_hop() -> None:
    trace = TraceResult("fw", "other", "198.18.3.4", 443, (
        Hop(1, "198.18.1.1", 0.001, "time-exceeded"), Hop(2, "198.18.3.4", 0.001, "syn-ack")))
    ctx = Context(forbidden_hops=("198.18.3.0/24",), traces=(trace,))
    assert list(forbidden_path(round_of(), ctx)) == []
