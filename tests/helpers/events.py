"""An event log that keeps what the agent's code logs, for assertions."""

from __future__ import annotations

from typing import Any


class Events:
    """Stands for probe.events.EventLog: ``log(event, level, **fields)``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        self.seen.append((event, level, fields))

    def names(self) -> list[str]:
        return [e for e, _, _ in self.seen]
