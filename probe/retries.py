"""Retries with backoff for transient faults, and the log line of each retry.

The agent retries where waiting is the right answer to a fault that goes
away by itself: the listen address before the network is up, the raw sockets
after the NIC flapped, the textfile on a full or read-only disk. Each retry
is one ``warning`` event naming the attempt that failed, its error and the
delay before the next one. Never in the SYN hot path.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Collection
from typing import Any

from tenacity import RetryCallState, retry_if_exception, wait_exponential

Log = Callable[..., None]  # probe.events.EventLog: log(event, level, **fields)

# A NIC flap, memory or descriptors short for a moment: the raw sockets may open again.
RAW_SOCKET_ERRNOS = frozenset({errno.ENETDOWN, errno.ENODEV, errno.ENOBUFS, errno.ENOMEM,
                               errno.EMFILE, errno.ENFILE, errno.ENXIO})
# A full or read-only (remounted after an I/O error) disk: the textfile may be written later.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})


def on_errnos(errnos: Collection[int]) -> retry_if_exception:
    """Retry on an OSError whose errno is one of these, on nothing else."""
    return retry_if_exception(lambda exc: isinstance(exc, OSError) and exc.errno in errnos)


def backoff(first: float = 1.0, most: float = 60.0) -> wait_exponential:
    """first, 2 x first, 4 x first ... at most ``most`` seconds between attempts."""
    return wait_exponential(multiplier=first, min=first, max=most)


def describe(error: BaseException | None) -> str:
    """An error for a log line: the OS's words when there are some."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def announce(log: Log, event: str, **fields: Any) -> Callable[[RetryCallState], None]:
    """A tenacity ``before_sleep`` that logs each retry as one warning event."""
    def before_sleep(state: RetryCallState) -> None:
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        error = state.outcome.exception() if state.outcome is not None else None
        log(event, "warning", **fields, attempt=state.attempt_number,
            next_delay_seconds=round(delay, 3), error=describe(error))
    return before_sleep
