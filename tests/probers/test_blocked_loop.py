"""Probe timeouts count only time the event loop could see (issue 16).

A real UDP responder on 127.0.0.1 (tests/helpers/hostile_dns.py, a free
port) answers 50 ms after the question; meanwhile the test blocks the event
loop for 1.5 s, as a large config parsed on the loop does. With a 1.0 s
timeout the answer is in the socket long before the deadline: it must be
reported as an answer with its wire time, not as a timeout. A responder that
never answers still times out in about the timeout. The connect() prober
gets the same treatment against a real listener.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Iterator

import dns.message
import pytest

from probe.probers import stallclock
from probe.probers.connect import connect_once
from probe.probers.dns import DnsProber
from probe.probers.kerneltime import STAMPS
from probe.resolvers import Resolver
from probe.results import Attempt, DnsResult, DnsStatus, PortState
from tests.helpers.hostile_dns import HostileDns, Reply, Transport, qname, response, to_wire

FAST = "fast.stall.test"
SILENT = "silent.stall.test"
ADDRESS = "198.18.9.77"
TIMEOUT = 1.0
BLOCK = 1.5


class Server:
    def __init__(self) -> None:
        self.asked = threading.Event()
        self.questions = 0
        self.dns = HostileDns({FAST: self._fast})  # any other name: silence

    def _fast(self, query: dns.message.QueryMessage, transport: Transport) -> Reply:
        self.questions += 1
        self.asked.set()
        time.sleep(0.05)  # long enough for the test to block its loop first
        return Reply(to_wire(response(query, answer=[(qname(query), "A", [ADDRESS])]),
                             transport))

    @property
    def resolver(self) -> Resolver:
        return Resolver("127.0.0.1", self.dns.port)


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    with served.dns:
        yield served


async def resolve_with_blocked_loop(server: Server, name: str, block: float) -> DnsResult:
    """Ask, block the loop as soon as the question reached the server, then wait."""
    task = asyncio.ensure_future(DnsProber().resolve(name, server.resolver, TIMEOUT))
    if block:
        while not server.asked.is_set():
            await asyncio.sleep(0)
        time.sleep(block)  # the event loop is blocked; the answer comes in meanwhile
    return await task


def run(server: Server, name: str, block: float) -> tuple[DnsResult, float]:
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Task was destroyed", no unawaited coroutine
        result = asyncio.run(resolve_with_blocked_loop(server, name, block))
    return result, time.monotonic() - started


def test_an_answer_that_came_while_the_loop_was_blocked_is_an_answer(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    result, elapsed = run(server, FAST, BLOCK)
    assert (result.status, result.addresses) == (DnsStatus.OK, (ADDRESS,)), result.detail
    assert result.duration_seconds < 0.5  # the kernel's receive stamp, not the blocked loop's
    assert elapsed < BLOCK + 0.5  # taken as the loop unblocked, not after another timeout
    assert server.questions == 1  # no retransmission: the stall was not the resolver's time
    assert not [r for r in caplog.records if r.name == "asyncio"]  # "Task was destroyed"...


def test_a_silent_resolver_still_times_out_in_about_the_timeout(server: Server) -> None:
    result, elapsed = run(server, SILENT, 0)
    assert result.status is DnsStatus.TIMEOUT
    assert TIMEOUT <= elapsed < TIMEOUT + 0.5


def test_a_silent_resolver_behind_a_blocked_loop_times_out_after_unblocked_time(
        server: Server) -> None:
    async def blocked() -> tuple[DnsResult, float]:
        task = asyncio.ensure_future(DnsProber().resolve(SILENT, server.resolver, TIMEOUT))
        await asyncio.sleep(0.1)  # the question is out
        time.sleep(BLOCK)
        started = time.monotonic()
        result = await task
        return result, time.monotonic() - started

    result, after_unblock = asyncio.run(blocked())
    assert result.status is DnsStatus.TIMEOUT
    assert result.duration_seconds < TIMEOUT + 0.3  # the block is not the resolver's time
    # ~0.1 s had passed before the block (and up to a tick and its slack of the
    # block count, ~0.05 s); the rest of the timeout comes after it
    assert TIMEOUT - 0.3 <= after_unblock < TIMEOUT + 0.5


@pytest.mark.parametrize("step", [3600, -3600])
def test_a_wall_clock_step_before_the_answer_is_read_keeps_answer_and_time(
        server: Server, monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    # The kernel stamps with the real wall clock; the prober reads it with one an hour off.
    monkeypatch.setattr(STAMPS, "realtime", lambda: time.time_ns() + step * 1_000_000_000)
    result, _elapsed = run(server, FAST, 0)
    assert (result.status, result.addresses) == (DnsStatus.OK, (ADDRESS,)), result.detail
    assert 0 < result.duration_seconds < 0.5


def test_a_connect_answered_while_the_loop_was_blocked_is_open_with_its_rtt() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        async def blocked() -> Attempt:
            task = asyncio.ensure_future(connect_once("127.0.0.1", port, TIMEOUT))
            await asyncio.sleep(0)  # connect() is under way
            time.sleep(BLOCK)
            return await task

        attempt = asyncio.run(blocked())
    assert (attempt.state, attempt.reason) == (PortState.OPEN, "syn-ack")
    assert attempt.rtt_seconds is not None and attempt.rtt_seconds < 0.5


# --------------------------------------------------------------------------
# the stall clock itself


def test_the_stall_clock_does_not_count_a_blocked_loop() -> None:
    async def measure() -> tuple[float, float, float]:
        clock = stallclock.for_running_loop()
        with clock.held():
            start = clock.now()
            await asyncio.sleep(0.1)
            time.sleep(1.0)
            during = clock.now() - start  # in the same callback, before any tick ran
            await asyncio.sleep(0.1)
            after = clock.now() - start
            return during, after, clock.stalled

    during, after, stalled = asyncio.run(measure())
    # A busy machine may delay ticks before the block too: that counts as stalled.
    assert 0.05 <= during < 0.3
    assert 0.1 <= after < 0.4
    assert 0.8 < stalled < 1.2


def test_the_stall_clock_keeps_no_loop_alive_and_leaves_nothing_scheduled() -> None:
    async def use() -> int:
        clock = stallclock.for_running_loop()
        with clock.held():
            await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        return sum(not handle.cancelled() for handle in loop._scheduled)  # type: ignore[attr-defined]

    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(use()) == 0  # released: no tick left behind
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None  # the clock kept no reference to its loop
