"""A TCP prober that sends nothing: it records the jobs a round gives it."""

from __future__ import annotations

from collections.abc import Sequence

from probe.results import Attempt, PortState, TcpJob


class RecordingProber:
    """Every attempt answers closed/reset; ``jobs`` holds what was asked."""

    method = "fake"

    def __init__(self) -> None:
        self.jobs: list[TcpJob] = []

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        self.jobs.extend(jobs)
        return [(Attempt(PortState.CLOSED, "reset"),) * job.count for job in jobs]

    def method_for(self, address: str) -> str:
        return self.method

    def close(self) -> None:
        pass
