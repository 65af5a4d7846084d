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

    ``jitter`` is a fraction of the interval (drawn by the caller, e.g. in
    [-0.05, 0.05]). A round that overran its interval is followed by a rest of
    a tenth of the interval (at most 5 s): missed ticks are skipped, never
    caught up, so rounds cannot pile up.
    """
    ideal = previous_start + interval * (1.0 + jitter)
    rest = min(interval / 10.0, 5.0)
    return max(ideal, finished + rest)


def health(now: float, started: float, last_finished: float | None, interval: float,
           last_duration: float = 0.0) -> tuple[bool, str]:
    """Whether the agent is fresh: the last round (or the start, before the
    first round) is at most three intervals old (or three round durations,
    when rounds take longer than the interval)."""
    limit = STALE_INTERVALS * max(interval, last_duration)
    since = now - (last_finished if last_finished is not None else started)
    if last_finished is None:
        if since <= limit:
            return True, f"starting: no round finished yet ({since:.1f} s since start)"
        return False, f"stale: no round finished in {since:.1f} s (limit {limit:g} s)"
    if since <= limit:
        return True, f"ok: last round finished {since:.1f} s ago"
    return False, f"stale: last round finished {since:.1f} s ago (limit {limit:g} s)"

