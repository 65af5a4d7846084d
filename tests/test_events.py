"""Event lines and which target changes are events."""

from __future__ import annotations

import json
from dataclasses import replace

from probe import events
from probe.results import PortState
from tests.test_metrics_data import sample_round, tcp


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
                        "from": "open", "to": "filtered", "reason": "no-response",
                        "ok": False}]
