"""When rounds start and whether they are fresh: pure decisions, no I/O.

``interval`` is the time from the start of one round to the start of the
next. A round shorter than the interval is followed by a wait until that
start; a round that overruns it is followed by a short rest, never by a burst
of catch-up rounds (``next_start``). ``/healthz`` is fresh while the last
round finished at most three intervals ago (``health``).
"""

from __future__ import annotations

JITTER = 0.05  # +-5 % of the interval, so many agents do not probe in lockstep
STALE_INTERVALS = 3


def next_start(previous_start: float, finished: float, interval: float, jitter: float) -> float:
    """When the next round starts (monotonic seconds).

    ``interval`` runs from start to start; ``jitter`` is a fraction of it
    (drawn by the caller, e.g. in [-0.05, 0.05]). A round that finished within
    its interval is followed by the next at the tick, however close to it it
    finished. One that overran the interval is followed by a rest of a tenth
    of the interval (at most 5 s): missed ticks are skipped, never caught up,
    so rounds cannot pile up.
    """
    ideal = previous_start + interval * (1.0 + jitter)
    if finished <= ideal:
        return ideal
    if overrun(previous_start, finished, interval) is None:
        return finished  # jitter asked for earlier than the round allowed: now
    return finished + min(interval / 10.0, 5.0)


def overrun(previous_start: float, finished: float, interval: float) -> float | None:
    """How many seconds a round ran past its interval; None when it did not."""
    late = finished - previous_start - interval
    return late if late > 0 else None


def health(now: float, started: float, last_finished: float | None, interval: float,
           last_duration: float = 0.0) -> tuple[bool, str]:
    """Whether the agent is fresh: the last round (or the start, before the
    first round) is at most three intervals old (or three round durations,
    when rounds take longer than the interval)."""
    limit = STALE_INTERVALS * max(interval, last_duration)
    since = now - (last_finished if last_finished is not None else started)
    return _health(since, limit, last_finished)


def ready(now: float, started: float, last_finished: float | None, interval: float,
          last_duration: float = 0.0) -> tuple[bool, str]:
    """Readiness (/healthz, /-/ready): a round has finished and it is fresh.
    Before the first round the agent has nothing to show: not ready yet."""
    alive, why = health(now, started, last_finished, interval, last_duration)
    if last_finished is None and alive:
        return False, why
    return alive, why


def _health(since: float, limit: float, last_finished: float | None) -> tuple[bool, str]:
    if last_finished is None:
        if since <= limit:
            return True, f"starting: no round finished yet ({since:.1f} s since start)"
        return False, f"stale: no round finished in {since:.1f} s (limit {limit:g} s)"
    if since <= limit:
        return True, f"ok: last round finished {since:.1f} s ago"
    return False, f"stale: last round finished {since:.1f} s ago (limit {limit:g} s)"

