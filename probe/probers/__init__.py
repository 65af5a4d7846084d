"""Probers: one module per kind, one result type per kind.

A TCP prober takes a batch of jobs (address, port, attempt count) and
returns, job by job and in the same order, the attempts it made. It decides
nothing beyond what one packet's answer means: aggregating attempts, judging
expectations and diagnosing are done by pure code above it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from probe.config import AgentConfig
from probe.errors import UsageError
from probe.results import Attempt, TcpJob


class TcpProber(Protocol):
    """The shape shared by the connect() prober and the raw SYN engine."""

    method: str

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        """Probe every job; attempts of one job are spread in time.

        ``timeout`` bounds how long one attempt waits for its answer. The
        whole batch takes about the slowest job, not the sum.
        """
        ...


def raw_allowed() -> bool:
    """Whether this process may open raw sockets (SYN probes, traceroute)."""
    try:
        from probe.probers import syn
    except ImportError:
        return False
    return syn.raw_capable()


def make_prober(agent: AgentConfig, *, warn: Callable[[str], None]) -> TcpProber:
    """The configured TCP prober: raw SYN when allowed, else connect().

    ``auto`` falls back to connect() with one warning when the process may not
    open raw sockets (no CAP_NET_RAW); ``syn`` without it is an error.
    """
    from probe.probers.connect import ConnectProber

    if agent.method == "connect":
        return ConnectProber(concurrency=agent.concurrency)
    try:
        from probe.probers import syn
    except ImportError as exc:  # the SYN engine is optional until it lands
        if agent.method == "syn":
            raise UsageError(f"--method syn is not available: {exc}") from None
        return ConnectProber(concurrency=agent.concurrency)
    if syn.raw_capable():
        return syn.SynProber(rate=agent.rate)
    if agent.method == "syn":
        raise UsageError("--method syn needs raw sockets (root or CAP_NET_RAW); "
                         "use --method connect or grant the capability")
    warn("no CAP_NET_RAW: falling back to connect() probes (RST and ICMP reasons still "
         "reported; run as root or with CAP_NET_RAW for SYN probes)")
    return ConnectProber(concurrency=agent.concurrency)
