"""Probers: one module per kind, one result type per kind.

A TCP prober takes a batch of jobs (address, port, attempt count) and
returns, job by job and in the same order, the attempts it made. It decides
nothing beyond what one packet's answer means: aggregating attempts, judging
expectations and diagnosing are done by pure code above it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from probe.config import AgentConfig
from probe.errors import UsageError
from probe.results import Attempt, TcpJob


class TcpProber(Protocol):
    """The shape shared by the connect() prober and the raw SYN engine.

    Every member is part of the contract: callers never look one up with
    ``getattr``. A prober that holds nothing between batches still has a
    ``close`` (a no-op), and one that uses a single method answers
    ``method_for`` with it.
    """

    method: str

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        """Probe every job; attempts of one job are spread in time.

        ``timeout`` bounds how long one attempt waits for its answer. The
        whole batch takes about the slowest job, not the sum.
        """
        ...

    def method_for(self, address: str) -> str:
        """Which method probes ``address`` (a composite prober uses two)."""
        ...

    def close(self) -> None:
        """Release what the prober holds across batches (raw sockets, ports)."""
        ...


class SelectiveProber(TcpProber, Protocol):
    """A prober that handles only some addresses (the SYN engine: IPv4)."""

    def supports(self, address: str) -> bool: ...


class SynFirst:
    """Raw SYN probes for the addresses the engine supports, connect() for the
    rest (IPv6 today), in one batch; results come back in job order."""

    method = "syn"

    def __init__(self, syn: SelectiveProber, fallback: TcpProber) -> None:
        self.syn = syn
        self.fallback = fallback

    def close(self) -> None:
        """Release the engine's raw sockets and reserved ports (daemon reloads)."""
        self.syn.close()
        self.fallback.close()

    def method_for(self, address: str) -> str:
        prober = self.syn if self.syn.supports(address) else self.fallback
        return prober.method_for(address)

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        raw = [i for i, job in enumerate(jobs) if self.syn.supports(job.address)]
        rest = [i for i, job in enumerate(jobs) if not self.syn.supports(job.address)]

        async def run(prober: TcpProber, picked: list[int]) -> list[tuple[Attempt, ...]]:
            return await prober.probe([jobs[i] for i in picked], timeout) if picked else []

        by_syn, by_connect = await asyncio.gather(run(self.syn, raw), run(self.fallback, rest))
        out: list[tuple[Attempt, ...]] = [() for _ in jobs]
        for picked, answers in ((raw, by_syn), (rest, by_connect)):
            for i, attempts in zip(picked, answers, strict=True):
                out[i] = attempts
        return out


def raw_allowed() -> bool:
    """Whether this process may open raw sockets (SYN probes, traceroute)."""
    from probe.probers import syn

    return syn.raw_capable()


def make_prober(agent: AgentConfig, *, warn: Callable[[str], None]) -> TcpProber:
    """The configured TCP prober: raw SYN when allowed, else connect().

    ``auto`` falls back to connect() with one warning when the process may not
    open raw sockets (no CAP_NET_RAW); ``syn`` without it is an error.
    """
    from probe.probers import syn
    from probe.probers.connect import ConnectProber

    if agent.method == "connect":
        return ConnectProber(concurrency=agent.concurrency)
    if syn.raw_capable():
        return SynFirst(syn.SynProber(rate=agent.rate),
                        ConnectProber(concurrency=agent.concurrency))
    if agent.method == "syn":
        raise UsageError("--method syn needs raw sockets (root or CAP_NET_RAW); "
                         "use --method connect or grant the capability")
    warn("no CAP_NET_RAW: falling back to connect() probes (RST and ICMP reasons still "
         "reported; run as root or with CAP_NET_RAW for SYN probes)")
    return ConnectProber(concurrency=agent.concurrency)
