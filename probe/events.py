"""Events: one structured line per event on stderr, and which target changes
between two rounds are events (``transitions``)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from probe.results import PortState, RoundResult, TcpResult


def transitions(previous: RoundResult | None, current: RoundResult) -> list[dict[str, Any]]:
    """The changes of state of targets since the previous round, one per change.

    An address probed in both rounds changed when its state or reason did. A
    target whose addresses were replaced (its name stopped or started
    resolving: ``unresolved`` has no address; or DNS moved it) changed when
    its states did, and that is one change whatever the number of addresses.
    Targets added or removed by a reload are not changes.
    """
    if previous is None:
        return []
    before = _by_target(previous.tcp)
    out: list[dict[str, Any]] = []
    for target, rows in _by_target(current.tcp).items():
        old = before.get(target)
        if old is None:
            continue
        for address, row in rows.items():
            was = old.get(address)
            if was is not None and (was.state, was.reason) != (row.state, row.reason):
                out.append(_change([was], [row]))
        gone = [r for a, r in old.items() if a not in rows]
        came = [r for a, r in rows.items() if a not in old]
        if gone and came and _joined(gone, "state") != _joined(came, "state"):
            out.append(_change(gone, came))
    return out


def _by_target(rows: Sequence[TcpResult]) -> dict[str, dict[str, TcpResult]]:
    out: dict[str, dict[str, TcpResult]] = {}
    for row in rows:
        out.setdefault(row.target, {})[row.address or ""] = row
    return out


def _joined(rows: Sequence[TcpResult], field: str) -> str:
    values = (getattr(r, field) for r in rows)
    text = (v.value if isinstance(v, PortState) else str(v or "") for v in values)
    return ",".join(dict.fromkeys(text))


def _change(old: Sequence[TcpResult], new: Sequence[TcpResult]) -> dict[str, Any]:
    return {"target": new[0].target, "address": _joined(new, "address"), "port": new[0].port,
            "from": _joined(old, "state"), "to": _joined(new, "state"),
            "from_reason": _joined(old, "reason"), "reason": _joined(new, "reason"),
            "ok": all(r.ok for r in new)}


def event_name(change: dict[str, Any]) -> str:
    """``target_changed`` when the state changed; ``target_reason_changed`` when only
    the reason did (unresolved: timeout -> servfail), so that a log reader never
    sees ``from=unresolved to=unresolved`` called a change of state."""
    return "target_changed" if change["from"] != change["to"] else "target_reason_changed"


def _logfmt_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, bool) or value is None else str(value)
    if isinstance(value, float):
        text = f"{value:.6g}"
    if not text or any(c in text for c in ' ="\\') or not text.isprintable():
        return json.dumps(text)
    return text


_PRIORITY = {"error": 3, "warning": 4, "info": 6}


def format_event(fmt: str, when: float, level: str, event: str, fields: dict[str, Any],
                 *, journal: bool = False) -> str:
    """One log line. ``text`` is logfmt without a time (journald stamps it);
    ``json`` carries an ISO 8601 UTC time for collectors that do not. With
    ``journal`` (stderr is the journal) a ``<N>`` prefix gives journald the
    syslog priority, so ``journalctl -p warning`` finds the warnings."""
    prefix = f"<{_PRIORITY.get(level, 6)}>" if journal else ""
    if fmt == "json":
        stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return prefix + json.dumps({"time": stamp, "level": level, "event": event, **fields},
                                   default=str)
    parts = [f"level={level}", f"event={event}"]
    parts.extend(f"{k}={_logfmt_value(v)}" for k, v in fields.items())
    return prefix + " ".join(parts)


class _Forward(logging.Handler):
    """Every library's log record (scapy, dnspython, asyncio, warnings) as an
    event of the agent's log, in its format: no raw lines under JSON."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = "error" if record.levelno >= logging.ERROR else "warning"
            self.log("library_log", level, logger=record.name, message=record.getMessage())
        except Exception:  # noqa: BLE001 -- logging must never raise into its caller
            self.handleError(record)


def route_logging(log: EventLog) -> None:
    """Send warnings and errors of every library (and Python's warnings) to ``log``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_Forward(log))
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    logging.lastResort = None


class EventLog:
    """Writes one line per event; safe from the HTTP threads too."""

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        self.fmt = fmt
        self.stream = stream if stream is not None else sys.stderr
        self.journal = stream is None and _stderr_is_journal()
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        line = format_event(self.fmt, time.time(), level, event, fields, journal=self.journal)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _stderr_is_journal() -> bool:
    """systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return bool(expected) and expected == f"{st.st_dev}:{st.st_ino}"


