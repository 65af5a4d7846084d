"""SYN probes whose raw sockets fail: connect() stands in, reopen with backoff.

Fake probers stand for the SYN engine and connect() (the decisions only);
the real sockets under a real NIC flap and descriptor shortage are in
tests/test_daemon_lab.py.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence
from typing import Any

import pytest
from tenacity import wait_none

from probe.rawfallback import RawFallback
from probe.results import Attempt, PortState, TcpJob
from tests.helpers.events import Events

JOBS = [TcpJob("198.18.3.10", 443, 1), TcpJob("198.18.3.11", 443, 1)]


class Fake:
    def __init__(self, method: str, state: PortState, fail: Sequence[int] = ()) -> None:
        self.method = method
        self.state = state
        self.fail = list(fail)  # errnos of the next batches (and opens), then answers
        self.open_fail: list[int] = []
        self.batches = 0
        self.opened = 0
        self.closed = 0

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        self.batches += 1
        if self.fail:
            code = self.fail.pop(0)
            raise OSError(code, errno.errorcode[code])
        return [(Attempt(self.state, self.method),) for _ in jobs]

    def open(self) -> None:
        if self.open_fail:
            code = self.open_fail.pop(0)
            raise OSError(code, errno.errorcode[code])
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def method_for(self, address: str) -> str:
        return self.method


def guard(raw: Fake, log: Events) -> tuple[RawFallback, Fake]:
    connect = Fake("connect", PortState.CLOSED)
    return RawFallback(raw, connect, log, wait=wait_none(), first_delay=0), connect


@pytest.mark.parametrize("code", [errno.ENETDOWN, errno.ENODEV, errno.ENOBUFS, errno.EMFILE])
def test_a_failing_batch_is_probed_with_connect_and_said_so(code: int) -> None:
    raw, log = Fake("syn", PortState.OPEN, [code]), Events()
    prober, connect = guard(raw, log)

    async def run() -> list[tuple[Attempt, ...]]:
        answers = await prober.probe(JOBS, 1.0)
        assert prober.method_for("198.18.3.10") == "connect"  # what the round reports
        assert prober.method == "connect"
        return answers

    answers = asyncio.run(run())
    assert [a[0].reason for a in answers] == ["connect", "connect"]
    assert raw.closed == 1 and connect.batches == 1
    event, level, fields = log.seen[0]
    assert (event, level, fields["fallback"]) == ("raw_sockets_failed", "warning", "connect")


def test_the_raw_sockets_reopen_with_backoff_and_syn_resumes() -> None:
    raw, log = Fake("syn", PortState.OPEN, [errno.ENETDOWN]), Events()
    raw.open_fail = [errno.ENODEV, errno.ENOBUFS]
    prober, connect = guard(raw, log)

    async def run() -> tuple[list[tuple[Attempt, ...]], str]:
        await prober.probe(JOBS, 1.0)
        while prober.down:
            await asyncio.sleep(0.01)
        answers = await prober.probe(JOBS, 1.0)
        return answers, prober.method_for("198.18.3.10")

    answers, method = asyncio.run(run())
    assert method == "syn" and prober.method == "syn"
    assert [a[0].reason for a in answers] == ["syn", "syn"]
    assert log.names() == ["raw_sockets_failed", "raw_socket_retry", "raw_socket_retry",
                           "raw_sockets_reopened"]
    retries: list[dict[str, Any]] = [f for e, _, f in log.seen if e == "raw_socket_retry"]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all("next_delay_seconds" in r for r in retries)
    assert log.seen[-1][2]["attempts"] == 3
    assert raw.opened == 1 and connect.batches == 1


def test_while_down_every_batch_goes_to_connect() -> None:
    raw, log = Fake("syn", PortState.OPEN, [errno.ENETDOWN]), Events()
    raw.open_fail = [errno.ENETDOWN] * 1000
    prober, connect = guard(raw, log)
    prober.wait = lambda state: 3600.0  # the next reopen only after the test

    async def run() -> None:
        for _ in range(3):
            await prober.probe(JOBS, 1.0)
        prober.close()

    asyncio.run(run())
    assert raw.batches == 1 and connect.batches == 3


def test_other_errors_are_not_hidden() -> None:
    raw, log = Fake("syn", PortState.OPEN, [errno.EPERM]), Events()
    prober, _ = guard(raw, log)
    with pytest.raises(PermissionError):
        asyncio.run(prober.probe(JOBS, 1.0))
    assert log.seen == [] and not prober.down
