"""SYN probes that survive their raw sockets failing: connect() stands in.

When a batch of the SYN prober fails with a transient socket error (the NIC
flapped: ENETDOWN, ENODEV, ENOBUFS; descriptors or memory short for a
moment), the same batch is probed with connect() at once, the raw sockets
are closed, and they are reopened in the background with backoff (one
``raw_socket_retry`` event per retry). Meanwhile every round is probed with
connect() and says so: the ``round`` event's method and the
``apim_probe_tcp_probe_method`` metric. Once the sockets are open again,
``raw_sockets_reopened`` and SYN probes resume with the next round.

Other errors are not ours to hide and propagate (the round fails).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from tenacity import AsyncRetrying, stop_never
from tenacity.wait import wait_base

from probe.probers import TcpProber
from probe.results import Attempt, TcpJob
from probe.retries import RAW_SOCKET_ERRNOS, Log, announce, backoff, describe, on_errnos


class RawFallback:
    """``raw`` (the SYN prober) while its sockets work, ``fallback`` (connect()) else."""

    def __init__(self, raw: TcpProber, fallback: TcpProber, log: Log, *,
                 wait: wait_base | None = None, first_delay: float = 1.0) -> None:
        self.raw = raw
        self.fallback = fallback
        self.log = log
        self.wait = wait if wait is not None else backoff(1.0, 60.0)
        self.first_delay = first_delay
        self.down = False
        self.method = raw.method  # what the next round will use (the agent's start line)
        self._last: TcpProber = raw  # the prober of the latest batch, for method_for
        self._reopen: asyncio.Task[None] | None = None

    def method_for(self, address: str) -> str:
        """The method the latest batch used for this address (the round's report)."""
        return self._last.method_for(address)

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        if not self.down:
            try:
                answers = await self.raw.probe(jobs, timeout)
            except OSError as exc:
                if exc.errno not in RAW_SOCKET_ERRNOS:
                    raise
                self._failed(exc)
            else:
                self._last = self.raw
                return answers
        self._last = self.fallback
        return await self.fallback.probe(jobs, timeout)

    def _failed(self, exc: OSError) -> None:
        self.down = True
        self.method = self.fallback.method
        _close(self.raw)
        self.log("raw_sockets_failed", "warning", error=describe(exc),
                 fallback=self.fallback.method,
                 message="probing with connect() until the raw sockets open again")
        self._reopen = asyncio.ensure_future(self._reopen_later())

    async def _reopen_later(self) -> None:
        retrying = AsyncRetrying(retry=on_errnos(RAW_SOCKET_ERRNOS), wait=self.wait,
                                 stop=stop_never, before_sleep=announce(self.log,
                                                                        "raw_socket_retry"),
                                 reraise=True)
        attempts = 0
        await asyncio.sleep(self.first_delay)  # the fault was just now: give it a moment
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    await asyncio.to_thread(_open, self.raw)
        except OSError as exc:
            self.log("raw_sockets_failed", "error", error=describe(exc), fallback="connect",
                     message="the raw sockets cannot be opened; connect() until a restart")
            return
        self.down = False
        self.method = self.raw.method
        self.log("raw_sockets_reopened", attempts=attempts, method=self.raw.method)

    def close(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
        _close(self.raw)
        _close(self.fallback)


def _open(prober: TcpProber) -> None:
    """Open the raw sockets now (the SYN engine, or the one inside a composite)."""
    for candidate in (prober, getattr(prober, "syn", None)):
        opener = getattr(candidate, "open", None)
        if callable(opener):
            opener()
            return


def _close(prober: TcpProber) -> None:
    with contextlib.suppress(OSError):
        prober.close()
