"""When rounds start, whether they are fresh: pure decisions."""

from __future__ import annotations

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
])
def test_next_start(previous: float, finished: float, interval: float, jitter: float,
                    expected: float) -> None:
    assert schedule.next_start(previous, finished, interval, jitter) == pytest.approx(expected)


def test_next_start_never_before_the_round_finished() -> None:
    for finished in (0.5, 10.0, 29.0, 31.0, 1000.0):
        for jitter in (-0.05, 0.0, 0.05):
            assert schedule.next_start(0.0, finished, 30.0, jitter) > finished


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
