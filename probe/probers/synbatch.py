"""One SYN batch: which SYN goes out when, and which answer belongs to which attempt.

No socket in here. ``plan`` turns jobs into per-attempt slots (settling
those the kernel refuses to route), ``waves`` orders the slots so that
attempt k of every job goes out in wave k, ``Pacer`` sends them through a
callable under the packets-per-second cap, and ``Batch`` matches answers to
slots. The socket owner (``probe.probers.synsockets``) sends and receives;
``probe.probers.syn`` drives both.
"""

from __future__ import annotations

import errno
import functools
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from probe.probers.classify import (
    classify_connect_errno,
    classify_icmp,
    classify_tcp_flags,
    no_response,
)
from probe.probers.packet import Answer, Key, SynTemplate
from probe.results import Attempt, TcpJob

_BURST_SECONDS = 0.005  # pacing granularity: at most this much credit piles up
_MAX_BURST = 256.0
_MAX_SEND_RETRIES = 200  # x 1 ms: a full queue that never drains is a local failure


def route_source(destination: str) -> str:
    """The source address the kernel would pick for destination.

    A connected UDP socket runs the route lookup without sending anything.
    Raises OSError when there is no usable route (unreachable, prohibit,
    blackhole): the errno is the kernel's verdict.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((destination, 9))
        source: str = sock.getsockname()[0]
        return source


@dataclass(slots=True)
class Plan:
    """One job, ready to send: its template, or the local error that stops it."""

    job: TcpJob
    first_slot: int
    template: SynTemplate | None
    local_error: int | None


@functools.cache
def _verdict(kind: str, value: int) -> Attempt | None:
    """classify_* for one (kind, flags or type/code): a handful of values, cached."""
    if kind == "tcp":
        return classify_tcp_flags(value)
    return classify_icmp(value >> 8, value & 0xFF)


@dataclass(slots=True)
class Batch:
    """Matching state of one batch: which key belongs to which attempt slot.

    Pure apart from the clock values handed in (monotonic, ns: a wall-clock step
    cannot move them), so the matching rules are unit
    tested without sockets. RTTs are computed at the end (``attempts``): the
    kernel's send timestamp of a SYN may be read after its answer.
    """

    slots: int
    timeout_ns: int
    results: list[Attempt | None] = field(init=False)
    tx_ns: list[int] = field(init=False)
    rx_ns: list[int] = field(init=False)
    responders: list[bytes] = field(init=False)
    ttls: list[int] = field(init=False)
    pending: dict[Key, int] = field(default_factory=dict)
    answered: int = 0
    unsolicited: int = 0
    late: int = 0
    duplicates: int = 0
    kernel_tx: int = 0

    def __post_init__(self) -> None:
        self.results = [None] * self.slots
        self.tx_ns = [0] * self.slots
        self.rx_ns = [0] * self.slots
        self.responders = [b""] * self.slots
        self.ttls = [0] * self.slots

    def sent(self, slot: int, key: Key, tx_ns: int) -> None:
        self.pending[key] = slot
        self.tx_ns[slot] = tx_ns

    def sent_at(self, key: Key, tx_ns: int) -> None:
        """The kernel's own send timestamp of a SYN (better than ours, if any)."""
        slot = self.pending.get(key)
        if slot is not None:
            self.tx_ns[slot] = tx_ns
            self.kernel_tx += 1

    def settle(self, slot: int, attempt: Attempt) -> None:
        """A result decided without an answer (local error): no packet left."""
        self.results[slot] = attempt
        self.answered += 1

    def receive(self, answer: Answer, rx_ns: int, expired: dict[Key, int] | None = None) -> str:
        """Take one parsed packet; say what it was.

        Returns "answer", "duplicate", "late", "unsolicited" or "ignored"
        (a packet that answers nothing, like a bare ACK or our own SYN seen
        on loopback).
        """
        verdict = _verdict(answer.kind, answer.value)
        if verdict is None:
            return "ignored"
        slot = self.pending.get(answer.key)
        if slot is None:
            if expired is not None and answer.key in expired:
                self.late += 1
                return "late"
            self.unsolicited += 1
            return "unsolicited"
        if self.results[slot] is not None:
            self.duplicates += 1
            return "duplicate"
        if rx_ns - self.tx_ns[slot] > self.timeout_ns:
            self.late += 1
            return "late"
        # The shared verdict for now: RTT, responder and TTL go in at the end
        # (one Attempt built per answer, and only once the send stamp is known).
        self.results[slot] = verdict
        self.rx_ns[slot] = rx_ns
        self.responders[slot] = answer.responder
        self.ttls[slot] = answer.ttl
        self.answered += 1
        return "answer"

    @property
    def done(self) -> bool:
        return self.answered >= self.slots

    def attempts(self) -> list[Attempt]:
        out: list[Attempt] = []
        for slot, attempt in enumerate(self.results):
            if attempt is None:
                out.append(no_response())
            elif self.rx_ns[slot]:
                rtt = max(self.rx_ns[slot] - self.tx_ns[slot], 0) / 1e9
                out.append(Attempt(attempt.state, attempt.reason, rtt,
                                   socket.inet_ntoa(self.responders[slot]), self.ttls[slot]))
            else:
                out.append(attempt)
        return out


SendSyn = Callable[[Batch, int, Plan], int | None]
"""Send one SYN for a slot; the errno to retry on (queue full), else None."""


def plan(jobs: list[TcpJob], batch: Batch, source: str | None) -> list[Plan]:
    """One template per (source, destination) pair; a destination the kernel
    will not route to gets its local verdict at once, for every attempt."""
    sources: dict[str, str | int] = {}
    templates: dict[tuple[str, str], SynTemplate] = {}
    plans: list[Plan] = []
    slot = 0
    for job in jobs:
        src = sources.get(job.address)
        if src is None:
            try:
                src = source or route_source(job.address)
            except OSError as exc:
                src = exc.errno or errno.EHOSTUNREACH
            sources[job.address] = src
        if isinstance(src, int):
            plans.append(Plan(job, slot, None, src))
            for k in range(job.count):
                batch.settle(slot + k, classify_connect_errno(src, local=True))
        else:
            pair = (src, job.address)
            template = templates.get(pair)
            if template is None:
                template = SynTemplate.for_pair(socket.inet_aton(src),
                                                socket.inet_aton(job.address))
                templates[pair] = template
            plans.append(Plan(job, slot, template, None))
        slot += job.count
    return plans


def waves(plans: list[Plan]) -> list[list[tuple[int, Plan]]]:
    """Attempt k of every job in wave k: one job's attempts are spread in time."""
    sendable = [p for p in plans if p.template is not None]
    deepest = max((p.job.count for p in sendable), default=0)
    return [[(p.first_slot + k, p) for p in sendable if p.job.count > k]
            for k in range(deepest)]


class Pacer:
    """Which SYN goes out when: waves, spacing and the packets-per-second cap.

    A token bucket holding at most ``_BURST_SECONDS`` worth of packets (and
    never more than ``_MAX_BURST``): at 200 pps SYNs leave one by one 5 ms
    apart, at 20,000 pps in groups of 100, since Python cannot sleep 50 us at
    a time.
    """

    def __init__(self, waves: list[list[tuple[int, Plan]]], rate: float,
                 spacing_ns: int, send: SendSyn) -> None:
        self.waves = waves
        self.send = send
        self.rate = rate
        # Capped so that answers are read between bursts even without a cap.
        self.burst = min(_MAX_BURST, max(1.0, rate * _BURST_SECONDS))
        self.spacing_ns = spacing_ns
        self.wave_index = 0
        self.position = 0
        self.credits = 1.0
        self.refilled = time.monotonic_ns()
        self.wave_not_before = self.refilled
        self.wave_started = self.refilled
        self.last_send_ns = self.refilled
        self.retries = 0

    @property
    def sending(self) -> bool:
        return self.wave_index < len(self.waves)

    def step(self, batch: Batch) -> int:
        """Send what is due now; return how long to wait (ns) before the next one."""
        now = time.monotonic_ns()
        if math.isfinite(self.rate):
            self.credits = min(self.burst,
                               self.credits + (now - self.refilled) * self.rate / 1e9)
        else:
            self.credits = self.burst
        self.refilled = now
        if now < self.wave_not_before:
            return self.wave_not_before - now
        wave = self.waves[self.wave_index]
        while self.credits >= 1.0 and self.position < len(wave):
            if self.position == 0:
                self.wave_started = time.monotonic_ns()
            slot, plan = wave[self.position]
            if self.send(batch, slot, plan) is not None:
                if self.retries < _MAX_SEND_RETRIES:
                    self.retries += 1
                    return 1_000_000  # queue full: let it drain, then the same SYN
                batch.settle(slot, classify_connect_errno(errno.ENOBUFS, local=True))
            self.retries = 0
            self.position += 1
            self.credits -= 1.0
        self.last_send_ns = time.monotonic_ns()
        if self.position >= len(wave):
            self.wave_index += 1
            self.position = 0
            self.wave_not_before = self.wave_started + self.spacing_ns
            return 0
        return int((1.0 - self.credits) / self.rate * 1e9) if self.credits < 1.0 else 0
