"""Events: one structured line per event on stderr, and which target changes
between two rounds are events (``transitions``)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from probe.results import RoundResult


def transitions(previous: RoundResult | None, current: RoundResult) -> list[dict[str, Any]]:
    """Target addresses whose state changed since the previous round."""
    if previous is None:
        return []
    before = {(r.target, r.address or ""): r for r in previous.tcp}
    out = []
    for row in current.tcp:
        old = before.get((row.target, row.address or ""))
        if old is not None and (old.state, old.reason) != (row.state, row.reason):
            out.append({"target": row.target, "address": row.address or "", "port": row.port,
                        "from": old.state.value, "to": row.state.value, "reason": row.reason,
                        "ok": row.ok})
    return out


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


