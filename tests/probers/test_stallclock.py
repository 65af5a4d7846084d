"""The stall clock's arithmetic, on a stand-in loop whose time the test moves
(no sleeping): what counts as blocked, and what is left scheduled."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from probe.probers.stallclock import PERIOD, SLACK, StallClock


class Handle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    """time(), call_at() and is_closed(), as much of a loop as the clock uses."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.handles: list[Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        handle = Handle(when, callback)
        self.handles.append(handle)
        return handle

    def is_closed(self) -> bool:
        return False

    @property
    def scheduled(self) -> list[Handle]:
        return [h for h in self.handles if not h.cancelled]

    def run_for(self, seconds: float, step: float = 0.001) -> None:
        """A free loop: every timer runs when it is due."""
        end = self.now + seconds
        while self.now < end - 1e-12:
            self.now = min(self.now + step, end)
            self.fire()

    def fire(self) -> None:
        for handle in [h for h in self.handles if not h.cancelled and h.when <= self.now]:
            self.handles.remove(handle)
            handle.callback()

    def block(self, seconds: float) -> None:
        """A blocked loop: time passes, nothing runs."""
        self.now += seconds


def clock_on(loop: Loop) -> StallClock:
    return StallClock(loop)  # type: ignore[arg-type]


def test_a_free_loop_counts_all_its_time() -> None:
    loop = Loop()
    clock = clock_on(loop)
    with clock.held():
        start = clock.now()
        loop.run_for(1.0)
        assert clock.now() - start == pytest.approx(1.0)
    assert clock.stalled == 0.0


def test_timer_jitter_within_the_slack_is_not_a_stall() -> None:
    loop = Loop()
    clock = clock_on(loop)
    with clock.held():
        loop.block(PERIOD + SLACK * 0.9)
        loop.fire()
        assert clock.stalled == 0.0


def test_a_blocked_loop_is_not_counted_even_before_the_late_tick_runs() -> None:
    loop = Loop()
    clock = clock_on(loop)
    with clock.held():
        start = clock.now()
        loop.run_for(0.1)
        loop.block(1.5)
        # The callbacks that run as the loop unblocks, before the overdue tick:
        before_tick = clock.now() - start
        loop.fire()
        after_tick = clock.now() - start
        assert before_tick == pytest.approx(after_tick)
        assert 0.1 <= after_tick <= 0.1 + PERIOD + SLACK
        assert clock.stalled == pytest.approx(1.5 - (after_tick - 0.1))
        loop.run_for(0.5)
        assert clock.now() - start == pytest.approx(after_tick + 0.5)


def test_nothing_stays_scheduled_once_released() -> None:
    loop = Loop()
    clock = clock_on(loop)
    with clock.held():
        with clock.held():
            loop.run_for(0.1)
        assert len(loop.scheduled) == 1  # one holder left: still ticking
    assert loop.scheduled == []
    loop.run_for(1.0)
    assert loop.scheduled == []  # and no tick reschedules itself


def test_a_stall_in_progress_at_release_is_kept() -> None:
    loop = Loop()
    clock = clock_on(loop)
    with clock.held():
        start = clock.now()
        loop.block(1.0)
    with clock.held():
        assert clock.now() - start == pytest.approx(PERIOD + SLACK)
