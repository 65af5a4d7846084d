"""The raw TCP SYN engine: nmap -sS port states, with reasons, inside the agent.

Three parts: ``probe.probers.synsockets`` owns the raw sockets and the
held source ports (all IPv4, opened once, kept for the life of the prober);
``probe.probers.synbatch`` plans a batch, paces its SYNs and matches answers
to attempts, without a socket; ``SynProber`` here drives the two.

Every SYN carries a keyed cookie as its sequence number; an answer counts only
when it reproduces it (SYN-ACK/RST acknowledge cookie+1, ICMP errors quote it)
for the same addresses and ports. Anything else that reaches our ports is
counted in ``unsolicited`` (or ``late`` when it answers an attempt whose time
is up) and never changes a result.

The send/receive loop runs in a worker thread (``asyncio.to_thread``): the
per-packet path is a few microseconds of Python, the event loop stays free.
Attempt k of every job goes out in wave k, waves at least ``spacing`` apart,
under a global packets-per-second cap; the batch ends ``timeout`` after the
last SYN, or as soon as every attempt is answered.

IPv6 is not supported: ``probe`` raises ``UnsupportedAddress`` before sending
anything when a job has a non-IPv4 address; ``SynProber.supports`` lets the
caller route such jobs to the connect() prober first.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from probe.errors import UnsupportedAddress
from probe.probers.packet import Key
from probe.probers.synbatch import Batch, Pacer, plan, waves
from probe.probers.synsockets import RawSockets
from probe.results import Attempt, TcpJob

_DEFAULT_PORTS = 256


def raw_capable() -> bool:
    """Whether this process may open raw sockets (CAP_NET_RAW in its netns).

    Opening and closing one socket is cheaper than parsing capabilities and
    also answers for seccomp and user namespaces.
    """
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except OSError:
        return False
    sock.close()
    return True


def _ipv4(address: str) -> bytes | None:
    try:
        packed = socket.inet_pton(socket.AF_INET, address)
    except OSError:
        return None
    return packed


class SynProber:
    """Raw SYN probing (nmap -sS) behind the ``TcpProber`` protocol.

    ``rate`` caps SYNs per second over the whole prober (math.inf: no cap;
    the RSTs our kernel sends to SYN-ACKs are not counted). ``source``
    forces the source address; by default each destination gets the kernel's
    route choice. ``ports`` is how many source ports to hold
    (the 4-tuples rotate through them). ``spacing`` is the least time between
    two attempts of one job. ``tx_timestamps`` starts each RTT at the
    kernel's send timestamp (~10 us closer to the wire than Python's clock,
    for ~5 us CPU per SYN); without it, or when the driver gives none, at
    Python's clock read just before sendto(). Batches from concurrent
    ``probe`` calls run one after the other (they share the sockets).
    """

    method = "syn"

    def __init__(self, rate: float = 200.0, source: str | None = None, *,
                 ports: int = _DEFAULT_PORTS, spacing: float = 0.1,
                 tx_timestamps: bool = True, secret: bytes | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 packets/s, got {rate}")
        if source is not None and _ipv4(source) is None:
            raise UnsupportedAddress(f"source address {source!r} is not IPv4")
        if not 1 <= ports <= 4096:
            raise ValueError(f"ports must be 1..4096, got {ports}")
        self.rate = rate
        self.source = source
        self.spacing = spacing
        self.tx_timestamps = tx_timestamps
        self.unsolicited = 0
        self.late = 0
        self.duplicates = 0
        self.kernel_tx_stamps = 0  # SYNs whose RTT starts at the kernel's send stamp
        self._sockets = RawSockets(ports=ports, tx_timestamps=tx_timestamps, secret=secret)
        self._expired: dict[Key, int] = {}
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------

    @staticmethod
    def supports(address: str) -> bool:
        """Whether this engine can probe address (IPv4 only)."""
        return _ipv4(address) is not None

    def method_for(self, address: str) -> str:
        return self.method

    @property
    def first_send_ns(self) -> int | None:
        """Monotonic clock (ns) of the very first SYN (benchmarks)."""
        return self._sockets.first_send_ns

    @property
    def last_send_ns(self) -> int | None:
        """Monotonic clock (ns) of the latest SYN."""
        return self._sockets.last_send_ns

    @property
    def source_ports(self) -> tuple[int, ...]:
        """The source ports held (empty until the first batch opens them)."""
        return tuple(self._sockets.ports)

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        jobs = list(jobs)
        self._check(jobs, timeout)
        if not jobs:
            return []
        stop = threading.Event()
        try:
            return await asyncio.to_thread(self._run, jobs, timeout, stop)
        except asyncio.CancelledError:
            stop.set()  # the worker notices at its next wake-up (<= 50 ms)
            raise

    def probe_sync(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        """The same as ``probe``, blocking (for scripts and benchmarks)."""
        jobs = list(jobs)
        self._check(jobs, timeout)
        return self._run(jobs, timeout, threading.Event()) if jobs else []

    def open(self) -> None:
        """Open the sockets and reserve the ports now (else: at the first batch).

        Raises PermissionError without CAP_NET_RAW.
        """
        with self._lock:
            self._sockets.open()

    def close(self) -> None:
        with self._lock:
            self._sockets.close()

    def __enter__(self) -> SynProber:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- one batch ----------------------------------------------------------

    @staticmethod
    def _check(jobs: Sequence[TcpJob], timeout: float) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 s, got {timeout}")
        bad = [job.address for job in jobs if _ipv4(job.address) is None]
        if bad:
            raise UnsupportedAddress(
                f"the SYN engine probes IPv4 only; not IPv4: {', '.join(sorted(set(bad)))}")
        for job in jobs:
            if not 0 < job.port < 65536 or job.count < 0:
                raise ValueError(f"bad job {job}")

    def _run(self, jobs: list[TcpJob], timeout: float,
             stop: threading.Event) -> list[tuple[Attempt, ...]]:
        with self._lock:
            sockets = self._sockets
            sockets.open()
            batch = Batch(sum(job.count for job in jobs), int(timeout * 1e9))
            plans = plan(jobs, batch, self.source)
            # Stale answers to the previous batch are read now, not taken for ours.
            sockets.drain(batch, self._expired)
            self._loop(Pacer(waves(plans), self.rate, int(self.spacing * 1e9), sockets.send_syn),
                       batch, timeout, stop)
            sockets.drain_tx(batch)  # send stamps of SYNs answered before they were read
            self._expired = batch.pending
            self.unsolicited += batch.unsolicited
            self.late += batch.late
            self.duplicates += batch.duplicates
            self.kernel_tx_stamps += batch.kernel_tx
            flat = batch.attempts()
            return [tuple(flat[p.first_slot:p.first_slot + p.job.count]) for p in plans]

    def _loop(self, pacer: Pacer, batch: Batch, timeout: float, stop: threading.Event) -> None:
        """Send as paced, read as answers come, until all are answered or time is up."""
        sockets = self._sockets
        poller = sockets.poller()
        timeout_ns = int(timeout * 1e9)
        while not stop.is_set():
            wait_ns = pacer.step(batch) if pacer.sending else 0
            sockets.drain(batch, self._expired)
            if not pacer.sending:
                if batch.done:
                    break
                remaining = pacer.last_send_ns + timeout_ns - time.monotonic_ns()
                if remaining <= 0:
                    break
                wait_ns = remaining
            if wait_ns > 0:
                # poll() counts in ms: round up, but wake at least every 50 ms
                # to notice a cancelled batch.
                poller.poll(min(50, max(1, -(-wait_ns // 1_000_000))))
