"""Descriptors: the one resource every connection, probe and DNS question takes.

At start the daemon raises the soft ``RLIMIT_NOFILE`` to the hard limit (a
systemd service gets 1,024 soft and 524,288 hard by default) and splits what it
has: probes in flight (``agent.concurrency``, lowered if the budget is small)
and HTTP connections served at once (the rest, less a reserve for files, DNS
and the raw sockets). Pure arithmetic apart from ``raise_nofile``.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

RESERVE = 64  # config and import files, DNS sockets, raw sockets, the listener, stdio
MAX_HTTP_CONNECTIONS = 4096  # beyond this many scrapers something else is wrong
MIN_HTTP_CONNECTIONS = 16


@dataclass(frozen=True, slots=True)
class Budget:
    soft: int
    hard: int
    probes: int  # probes in flight at most
    http: int  # HTTP connections served at once


def raise_nofile() -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one; (soft, hard) after.
    ``APIM_PROBE_KEEP_NOFILE=1`` keeps the limit as given (a site that sets it on
    purpose, and the tests that starve the SYN engine of descriptors)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.environ.get("APIM_PROBE_KEEP_NOFILE"):
        return soft, hard
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # a sandbox that forbids it: work within what there is
    elif hard == resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, hard))
            soft = 1 << 20
        except (ValueError, OSError):
            pass
    return soft, hard


def budget(soft: int, hard: int, concurrency: int) -> Budget:
    """Split ``soft`` descriptors: at most half of what is left after the reserve
    for probes, the rest (capped) for HTTP connections."""
    usable = max(soft - RESERVE, 2 * MIN_HTTP_CONNECTIONS)
    probes = max(1, min(concurrency, usable // 2))
    http = max(MIN_HTTP_CONNECTIONS, min(MAX_HTTP_CONNECTIONS, usable - probes))
    return Budget(soft, hard, probes, http)
