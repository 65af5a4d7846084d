"""Event lines and which target changes are events."""

from __future__ import annotations

import json
from dataclasses import replace

from probe import events
from probe.results import PortState, RoundResult
from tests.helpers.metrics_data import sample_round, tcp


def test_format_event_text_is_logfmt_without_time() -> None:
    line = events.format_event("text", 0.0, "error", "reload_rejected",
                               {"error": 'bad "x" = 1', "n": 3, "ok": True, "d": 0.1234567})
    assert line == ('level=error event=reload_rejected error="bad \\"x\\" = 1" n=3 ok=true '
                    'd=0.123457')


def test_format_event_journal_prefix_carries_the_priority() -> None:
    assert events.format_event("text", 0.0, "warning", "x", {}, journal=True) == (
        "<4>level=warning event=x")
    assert events.format_event("text", 0.0, "error", "x", {}, journal=True).startswith("<3>")
    assert events.format_event("json", 0.0, "info", "x", {}, journal=True).startswith("<6>{")


def test_format_event_json_has_time() -> None:
    line = events.format_event("json", 1.5, "info", "round", {"number": 1})
    assert json.loads(line) == {"time": "1970-01-01T00:00:01.500Z", "level": "info",
                                "event": "round", "number": 1}


def test_transitions() -> None:
    before = sample_round()
    assert events.transitions(None, before) == []
    assert events.transitions(before, before) == []
    rows = list(before.tcp)
    rows[0] = tcp("management", rows[0].host, rows[0].address, 3443, PortState.FILTERED,
                  "no-response", dependency="management")
    changes = events.transitions(before, replace(before, tcp=tuple(rows)))
    assert changes == [{"target": "management", "address": "198.18.3.10", "port": 3443,
                        "from": "open", "to": "filtered", "from_reason": "syn-ack",
                        "reason": "no-response", "ok": False}]
    assert events.event_name(changes[0]) == "target_changed"


def _one(name: str, address: str | None, state: PortState, reason: str) -> RoundResult:
    return replace(sample_round(), tcp=(tcp(name, "apimst.blob.core.windows.test", address, 443,
                                            state, reason),))


def _two(first: PortState, second: PortState) -> RoundResult:
    rows = (tcp("blob", "apimst.blob.core.windows.test", "198.18.3.21", 443, first, "r1"),
            tcp("blob", "apimst.blob.core.windows.test", "198.18.3.22", 443, second, "r2"))
    return replace(sample_round(), tcp=rows)


OPEN = _one("blob", "198.18.3.21", PortState.OPEN, "syn-ack")
TIMEOUT = _one("blob", None, PortState.UNRESOLVED, "timeout")


def test_a_dns_outage_is_one_event() -> None:
    assert events.transitions(OPEN, TIMEOUT) == [
        {"target": "blob", "address": "", "port": 443, "from": "open", "to": "unresolved",
         "from_reason": "syn-ack", "reason": "timeout", "ok": False}]


def test_the_end_of_a_dns_outage_is_one_event() -> None:
    assert events.transitions(TIMEOUT, OPEN) == [
        {"target": "blob", "address": "198.18.3.21", "port": 443, "from": "unresolved",
         "to": "open", "from_reason": "timeout", "reason": "syn-ack", "ok": True}]


def test_a_name_with_two_addresses_going_unresolved_is_one_event() -> None:
    changes = events.transitions(_two(PortState.OPEN, PortState.CLOSED), TIMEOUT)
    assert [(c["from"], c["to"]) for c in changes] == [("open,closed", "unresolved")]
    back = events.transitions(TIMEOUT, _two(PortState.OPEN, PortState.OPEN))
    assert [(c["address"], c["from"], c["to"]) for c in back] == [
        ("198.18.3.21,198.18.3.22", "unresolved", "open")]


def test_a_new_dns_error_is_a_reason_change_not_a_state_change() -> None:
    """Issue 20: `target_changed from=unresolved to=unresolved` read as a change of
    state; a new reason alone is its own event, with both reasons."""
    nxdomain = _one("blob", None, PortState.UNRESOLVED, "nxdomain")
    [change] = events.transitions(TIMEOUT, nxdomain)
    assert (change["from"], change["to"], change["from_reason"], change["reason"]) == (
        "unresolved", "unresolved", "timeout", "nxdomain")
    assert events.event_name(change) == "target_reason_changed"


def test_a_name_moving_to_another_address() -> None:
    moved = _one("blob", "198.18.3.99", PortState.OPEN, "syn-ack")
    assert events.transitions(OPEN, moved) == []  # same state: no change of the target
    dropped = _one("blob", "198.18.3.99", PortState.FILTERED, "no-response")
    assert [(c["address"], c["from"], c["to"]) for c in events.transitions(OPEN, dropped)] == [
        ("198.18.3.99", "open", "filtered")]


def test_targets_added_or_removed_by_a_reload_are_not_changes() -> None:
    other = _one("queue", None, PortState.UNRESOLVED, "timeout")
    assert events.transitions(OPEN, other) == []
    assert events.transitions(other, OPEN) == []


def test_library_logs_become_events_in_the_agents_format() -> None:
    """Issue 16: scapy's 'WARNING: ...' lines and Python warnings went raw to
    stderr under --log-format json; now they are events like any other."""
    import io
    import logging
    import warnings

    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.lastResort)
    try:
        events.route_logging(events.EventLog("json", stream))
        logging.getLogger("scapy.runtime").warning("MAC address to reach destination not found")
        logging.getLogger("dns.resolver").info("not an event: below warning")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library deprecation", DeprecationWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        root.handlers[:], root.level, logging.lastResort = saved
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(x["event"], x["level"], x["logger"]) for x in lines] == [
        ("library_log", "warning", "scapy.runtime"), ("library_log", "warning", "py.warnings")]
    assert lines[0]["message"] == "MAC address to reach destination not found"
