"""When rounds start, whether they are fresh: pure decisions."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from probe import schedule


@pytest.mark.parametrize(("previous", "finished", "interval", "jitter", "expected"), [
    (100.0, 101.0, 30.0, 0.0, 130.0),       # on time
    (100.0, 101.0, 30.0, 0.05, 131.5),      # jitter moves the tick
    (100.0, 101.0, 30.0, -0.05, 128.5),
    (100.0, 145.0, 30.0, 0.0, 148.0),       # overran: a short rest, no catch-up burst
    (100.0, 400.0, 30.0, 0.0, 403.0),       # ten ticks missed: still one round
    (100.0, 400.0, 600.0, 0.0, 700.0),
    (0.0, 200.0, 3600.0, 0.0, 3600.0),
    (0.0, 4000.0, 3600.0, 0.0, 4005.0),     # rest capped at 5 s
    (0.0, 1.9, 2.0, 0.0, 2.0),              # shorter than the interval: on time, no rest
    (0.0, 1.98, 2.0, 0.0, 2.0),
    (0.0, 1.95, 2.0, -0.05, 1.95),          # jitter earlier than the round allowed: now
    (0.0, 2.5, 2.0, 0.0, 2.7),              # overran: a short rest
])
def test_next_start(previous: float, finished: float, interval: float, jitter: float,
                    expected: float) -> None:
    assert schedule.next_start(previous, finished, interval, jitter) == pytest.approx(expected)


def test_next_start_never_before_the_round_finished() -> None:
    for finished in (0.5, 10.0, 29.0, 31.0, 1000.0):
        for jitter in (-0.05, 0.0, 0.05):
            assert schedule.next_start(0.0, finished, 30.0, jitter) >= finished


def test_rounds_shorter_than_the_interval_keep_to_it_start_to_start() -> None:
    """1,000 targets: rounds of 1.84 s with a 2 s interval came every 3.4 s (issue 12.13)."""
    rng = random.Random(7)
    start, starts = 0.0, []
    for _ in range(500):
        starts.append(start)
        start = schedule.next_start(start, start + 1.84, 2.0,
                                    rng.uniform(-schedule.JITTER, schedule.JITTER))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert statistics.fmean(gaps) == pytest.approx(2.0, abs=0.01)
    assert max(gaps) <= 2.0 * (1 + schedule.JITTER) + 1e-9


@pytest.mark.parametrize(("previous", "finished", "interval", "expected"), [
    (0.0, 1.9, 2.0, None),
    (0.0, 2.0, 2.0, None),
    (0.0, 3.25, 2.0, 1.25),
    (10.0, 100.0, 30.0, 60.0),
])
def test_overrun(previous: float, finished: float, interval: float,
                 expected: float | None) -> None:
    got = schedule.overrun(previous, finished, interval)
    assert got == (None if expected is None else pytest.approx(expected))


def test_ready_waits_for_the_first_round() -> None:
    """Issue 20: /healthz (readiness) is 503 until a round has finished; liveness
    counts a start as alive."""
    assert schedule.ready(5.0, 0.0, None, 30.0) == (False, schedule.health(5.0, 0.0, None,
                                                                           30.0)[1])
    assert schedule.health(5.0, 0.0, None, 30.0)[0] is True
    assert schedule.ready(5.0, 0.0, 4.0, 30.0)[0] is True
    assert schedule.ready(500.0, 0.0, 4.0, 30.0)[0] is False  # stale: neither


@pytest.mark.parametrize(("now", "last", "interval", "duration", "ok", "word"), [
    (50.0, None, 30.0, 0.0, True, "starting"),
    (100.0, None, 10.0, 0.0, False, "stale"),       # 100 s after start, nothing finished
    (100.0, 80.0, 10.0, 0.0, True, "ok"),
    (100.0, 70.0, 10.0, 0.0, True, "ok"),           # exactly three intervals
    (100.0, 69.0, 10.0, 0.0, False, "stale"),
    (100.0, 50.0, 10.0, 20.0, True, "ok"),          # slow rounds widen the limit
])
def test_health(now: float, last: float | None, interval: float, duration: float, ok: bool,
                word: str) -> None:
    fresh, why = schedule.health(now, 0.0, last, interval, duration)
    assert fresh is ok
    assert why.startswith(word)
