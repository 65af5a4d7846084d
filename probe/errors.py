"""The one error tree of apim-probe.

    ProbeError                 anything we report to the user ourselves
    +-- UsageError             bad command line (exit 2)
    +-- ConfigError            bad config file or value (exit 2); names the
                               file, the key, the line where known, and what
                               was expected

Library exceptions (tomllib, dnspython, socket) are translated into these in
the one place that calls the library; probe results carry failures as data,
never as exceptions.
"""

from __future__ import annotations

from pathlib import Path


class ProbeError(Exception):
    """apim-probe failed."""

    exit_status = 1


class UsageError(ProbeError):
    """The command line is not valid."""

    exit_status = 2


class ConfigError(ProbeError):
    """The configuration is not valid."""

    exit_status = 2

    def __init__(self, message: str, *, source: Path | str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        self.source = str(source) if source is not None else None
        self.key = key
        self.line = line
        self.message = message
        where = self.source or "<command line>"
        if line is not None:
            where += f":{line}"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {message}")
