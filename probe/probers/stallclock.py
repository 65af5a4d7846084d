"""A clock that stops while the event loop is blocked.

A probe's timeout is a promise about the network: "no answer within T".
Measured with ``loop.time()``, it also counts time our own event loop spent
blocked (a large config parsed on the loop, a slow callback): the answer sits
in the socket, the loop wakes up past the deadline, and an answer that came in
0.4 s reads as a timeout. The stall clock does not count that time.

While someone holds it (``held``), a plain ``call_at`` tick runs every
``PERIOD`` seconds. A tick that runs more than ``SLACK`` after it was due
means the loop was blocked: that excess is *stalled* time. ``now()`` is
``loop.time()`` minus the stalled time, including the excess of a tick that is
overdue but has not run yet, so it is right in the very callbacks that run
as the loop unblocks (asyncio runs I/O callbacks before timers in one
iteration: an answer waiting in a socket is read before a deadline fires).

One clock per running loop (``for_running_loop``), made on first use, weakly
keyed: it never keeps a loop alive. It ticks only while held, so an idle agent
wakes for nothing, and nothing is left scheduled when its last holder lets go
(no handle or task outlives its use; closing the loop warns about nothing).

``wait_until`` and ``wait_for`` are the waits on this clock. A loop that is
blocked again and again would stretch a timeout without end, so every wait
also ends ``MAX_FORGIVEN`` seconds of real time after its deadline.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

PERIOD = 0.02  # seconds between ticks while held
SLACK = 0.03  # lateness of a tick that is still not a stall (timer and scheduling jitter)
MAX_FORGIVEN = 10.0  # seconds of blocked loop one wait forgives at most

T = TypeVar("T")


class StallClock:
    """Seconds of ``loop.time()`` during which the loop was not blocked.

    Only differences of ``now()`` mean anything, and only between two reads
    made while the clock is held.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, period: float = PERIOD,
                 slack: float = SLACK) -> None:
        self._loop = weakref.ref(loop)
        self.period = period
        self.slack = slack
        self.stalled = 0.0  # total seconds counted as blocked
        self._holders = 0
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def _now_raw(self) -> float:
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the stall clock's event loop is gone")
        return loop.time()

    def _excess(self, t: float) -> float:
        if self._handle is None:
            return 0.0
        late = t - self._due - self.slack
        return late if late > 0.0 else 0.0

    def now(self) -> float:
        """``loop.time()`` less every second the loop was blocked so far."""
        t = self._now_raw()
        return t - self.stalled - self._excess(t)

    def _schedule(self, t: float) -> None:
        loop = self._loop()
        if loop is None or loop.is_closed():
            self._handle = None
            return
        self._due = t + self.period
        self._handle = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        t = self._now_raw()
        self.stalled += self._excess(t)
        self._handle = None
        if self._holders:
            self._schedule(t)

    @contextmanager
    def held(self) -> Iterator[StallClock]:
        """Keep the clock ticking for the length of the block."""
        self._holders += 1
        if self._handle is None:
            self._schedule(self._now_raw())
        try:
            yield self
        finally:
            self._holders -= 1
            if not self._holders and self._handle is not None:
                self.stalled += self._excess(self._now_raw())
                self._handle.cancel()
                self._handle = None

    async def wait_until(self, future: asyncio.Future[Any], deadline: float) -> bool:
        """Wait for ``future`` until ``deadline`` on this clock; whether it is done.

        Never cancels the future. A future done when the wait wakes up counts,
        even at the deadline: an answer read as the loop unblocks is taken.
        """
        with self.held():
            loop = asyncio.get_running_loop()
            give_up = loop.time() + max(deadline - self.now(), 0.0) + MAX_FORGIVEN
            while not future.done():
                remaining = min(deadline - self.now(), give_up - loop.time())
                if remaining <= 0:
                    return False
                await asyncio.wait({future}, timeout=remaining)
            return True

    async def wait_for(self, awaitable: Awaitable[T], timeout: float) -> T:
        """``asyncio.wait_for`` on this clock: the result, or TimeoutError (the
        awaitable cancelled) once ``timeout`` seconds of unblocked time pass."""
        with self.held():
            task = asyncio.ensure_future(awaitable)
            try:
                if await self.wait_until(task, self.now() + timeout):
                    return task.result()
                raise TimeoutError
            finally:
                if not task.done():
                    task.cancel()
                    task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Read what a cancelled wait ended with, so that asyncio does not log it."""
    if not task.cancelled():
        task.exception()


_CLOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StallClock] = (
    weakref.WeakKeyDictionary())
_LOCK = threading.Lock()  # loops run in several threads (the HTTP server has its own)


def for_running_loop() -> StallClock:
    """The running loop's stall clock, made on first use."""
    loop = asyncio.get_running_loop()
    with _LOCK:
        clock = _CLOCKS.get(loop)
        if clock is None:
            clock = _CLOCKS[loop] = StallClock(loop)
        return clock
