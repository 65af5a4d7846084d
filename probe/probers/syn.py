"""The raw TCP SYN engine: nmap -sS port states, with reasons, inside the agent.

Sockets (all IPv4, all opened once and kept for the life of the prober):

* one ``SOCK_RAW/IPPROTO_RAW`` socket (IP_HDRINCL) sends the SYNs: we write
  the whole IP+TCP header, the kernel fills the IP checksum and id;
* one ``SOCK_RAW/IPPROTO_TCP`` and one ``SOCK_RAW/IPPROTO_ICMP`` socket receive
  copies of the answers, each with a classic BPF filter so the kernel hands us
  only segments to our source ports and ICMP errors quoting them, and with
  SO_TIMESTAMPNS so the receive time is the kernel's, not ours;
* a block of contiguous TCP source ports, each held by a bound but never
  listening TCP socket: nobody else can take those ports, and since no socket
  listens or is connected on them the kernel answers every SYN-ACK with a RST,
  so the targets keep no half-open connection from us.

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

import array
import asyncio
import contextlib
import errno
import functools
import math
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from probe.errors import UnsupportedAddress
from probe.probers.classify import (
    classify_connect_errno,
    classify_icmp,
    classify_tcp_flags,
    no_response,
)
from probe.probers.kerneltime import ANC_SPACE, SO_TIMESTAMPNS, received_ns
from probe.probers.packet import (
    Answer,
    Cookie,
    Key,
    SynTemplate,
    bpf_bytes,
    bpf_icmp_quoting_sport_range,
    bpf_tcp_dport_range,
    parse_icmp,
    parse_tcp,
    parse_tx_echo,
)
from probe.results import Attempt, TcpJob

# Not all of these are exported by the socket module on every Python.
_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
# Software send timestamps, reported through the error queue with the packet.
_SOF_TX_SOFTWARE = (1 << 1) | (1 << 4)  # SOF_TIMESTAMPING_TX_SOFTWARE | _SOFTWARE
_TX_ANC_SPACE = 256  # SCM_TIMESTAMPING (3 timespecs) + IP_RECVERR (sock_extended_err)
_TIMESPEC = struct.Struct("qq")  # SCM_TIMESTAMPING's software send stamp

_RECV_BUFFER = 8 << 20  # ~10k answers: room for a burst while Python is busy
_DEFAULT_PORTS = 256
_BURST_SECONDS = 0.005  # pacing granularity: at most this much credit piles up
_MAX_BURST = 256.0
_RETRY_ERRNOS = frozenset({errno.ENOBUFS, errno.EAGAIN})
_MAX_SEND_RETRIES = 200  # x 1 ms: a full queue that never drains is a local failure


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


@functools.cache
def _verdict(kind: str, value: int) -> Attempt | None:
    """classify_* for one (kind, flags or type/code): a handful of values, cached."""
    if kind == "tcp":
        return classify_tcp_flags(value)
    return classify_icmp(value >> 8, value & 0xFF)


@dataclass(slots=True)
class Batch:
    """Matching state of one batch: which key belongs to which attempt slot.

    Pure apart from the clock values handed in, so the matching rules are unit
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


@dataclass(slots=True)
class _Plan:
    """One job, ready to send: its template, or the local error that stops it."""

    job: TcpJob
    first_slot: int
    template: SynTemplate | None
    local_error: int | None


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
        self.first_send_ns: int | None = None  # wall clock of the very first SYN (bench)
        self.last_send_ns: int | None = None  # and of the latest one
        self._cookie = Cookie(secret)
        self._n_ports = ports
        self._ports: list[int] = []
        self._holders: list[socket.socket] = []
        self._send: socket.socket | None = None
        self._recv_tcp: socket.socket | None = None
        self._recv_icmp: socket.socket | None = None
        self._attempt_id = 0
        self._port_index = 0
        self._tx_stamps = False
        self._expired: dict[Key, int] = {}
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------

    @staticmethod
    def supports(address: str) -> bool:
        """Whether this engine can probe address (IPv4 only)."""
        return _ipv4(address) is not None

    @property
    def source_ports(self) -> tuple[int, ...]:
        """The source ports held (empty until the first batch opens them)."""
        return tuple(self._ports)

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
            self._open()

    def close(self) -> None:
        with self._lock:
            for sock in (self._send, self._recv_tcp, self._recv_icmp, *self._holders):
                if sock is not None:
                    sock.close()
            self._send = self._recv_tcp = self._recv_icmp = None
            self._holders = []
            self._ports = []

    def __enter__(self) -> SynProber:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- setup --------------------------------------------------------------

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

    def _open(self) -> None:
        if self._send is not None:
            return
        send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            self._tx_stamps = self.tx_timestamps and self._enable_tx_stamps(send)
            low, high = self._reserve_ports()
            self._recv_tcp = self._receiver(socket.IPPROTO_TCP, bpf_tcp_dport_range(low, high))
            self._recv_icmp = self._receiver(socket.IPPROTO_ICMP,
                                             bpf_icmp_quoting_sport_range(low, high))
        except OSError:
            send.close()
            for sock in (self._recv_tcp, *self._holders):
                if sock is not None:
                    sock.close()
            self._recv_tcp, self._holders, self._ports = None, [], []
            raise
        self._send = send

    @staticmethod
    def _enable_tx_stamps(sock: socket.socket) -> bool:
        """Ask for the kernel's software send timestamp of every SYN.

        Taken by the driver as the packet leaves (skb_tx_timestamp), ~10 us
        after Python's clock read before sendto(). Drivers that do not stamp
        leave us with Python's time; so do kernels that refuse the option.
        """
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPING, _SOF_TX_SOFTWARE)
        except OSError:
            return False
        # The echoed SYNs wait in the error queue, charged to the receive buffer.
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECV_BUFFER)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
        return True

    def _reserve_ports(self) -> tuple[int, int]:
        """Hold a contiguous block of ephemeral ports (contiguous: one BPF range).

        Taken from the ephemeral range, where no service listens; bound to the
        wildcard address so the ports are ours on every local address, and
        without SO_REUSEADDR so that nobody can share them.
        """
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                first, last = (int(v) for v in f.read().split())
        except (OSError, ValueError):
            first, last = 32768, 60999
        n = self._n_ports
        rng = random.SystemRandom()
        for _ in range(64):
            base = rng.randint(first, max(first, last - n + 1))
            held: list[socket.socket] = []
            try:
                for port in range(base, base + n):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    held.append(sock)
                    sock.bind(("0.0.0.0", port))
            except OSError as exc:
                for sock in held:
                    sock.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self._holders = held
            self._ports = list(range(base, base + n))
            return base, base + n - 1
        raise OSError(errno.EADDRINUSE, f"no free block of {n} source ports")

    @staticmethod
    def _receiver(proto: int, program: list[tuple[int, int, int, int]]) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
        try:
            code = array.array("B", bpf_bytes(program))
            address, _ = code.buffer_info()
            # struct sock_fprog {unsigned short len; struct sock_filter *filter;}
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER,
                            struct.pack("HL", len(program), address))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECV_BUFFER)
            except PermissionError:  # without CAP_NET_ADMIN: up to rmem_max
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
            sock.setblocking(False)
            # Whatever arrived before the filter was attached is not ours.
            with contextlib.suppress(BlockingIOError):
                while True:
                    sock.recv(65535)
        except OSError:
            sock.close()
            raise
        return sock

    # -- one batch ----------------------------------------------------------

    def _plan(self, jobs: list[TcpJob], batch: Batch) -> list[_Plan]:
        sources: dict[str, str | int] = {}
        templates: dict[tuple[str, str], SynTemplate] = {}
        plans: list[_Plan] = []
        slot = 0
        for job in jobs:
            src = sources.get(job.address)
            if src is None:
                try:
                    src = self.source or route_source(job.address)
                except OSError as exc:
                    src = exc.errno or errno.EHOSTUNREACH
                sources[job.address] = src
            if isinstance(src, int):
                plans.append(_Plan(job, slot, None, src))
                for k in range(job.count):
                    batch.settle(slot + k, classify_connect_errno(src, local=True))
            else:
                pair = (src, job.address)
                template = templates.get(pair)
                if template is None:
                    template = SynTemplate.for_pair(socket.inet_aton(src),
                                                    socket.inet_aton(job.address))
                    templates[pair] = template
                plans.append(_Plan(job, slot, template, None))
            slot += job.count
        return plans

    def _run(self, jobs: list[TcpJob], timeout: float,
             stop: threading.Event) -> list[tuple[Attempt, ...]]:
        with self._lock:
            self._open()
            assert self._send and self._recv_tcp and self._recv_icmp
            batch = Batch(sum(job.count for job in jobs), int(timeout * 1e9))
            plans = self._plan(jobs, batch)
            # Stale answers to the previous batch are read now, not taken for ours.
            self._drain(batch)
            self._loop(plans, batch, timeout, stop)
            self._drain_tx(batch)  # send stamps of SYNs answered before they were read
            self._expired = batch.pending
            self.unsolicited += batch.unsolicited
            self.late += batch.late
            self.duplicates += batch.duplicates
            self.kernel_tx_stamps += batch.kernel_tx
            flat = batch.attempts()
            return [tuple(flat[p.first_slot:p.first_slot + p.job.count]) for p in plans]

    def _waves(self, plans: list[_Plan]) -> list[list[tuple[int, _Plan]]]:
        """Attempt k of every job in wave k: one job's attempts are spread in time."""
        sendable = [p for p in plans if p.template is not None]
        deepest = max((p.job.count for p in sendable), default=0)
        return [[(p.first_slot + k, p) for p in sendable if p.job.count > k]
                for k in range(deepest)]

    def _loop(self, plans: list[_Plan], batch: Batch, timeout: float,
              stop: threading.Event) -> None:
        assert self._send is not None and self._recv_tcp and self._recv_icmp
        pacer = _Pacer(self._waves(plans), self.rate, int(self.spacing * 1e9))
        poller = select.poll()
        poller.register(self._recv_tcp, select.POLLIN)
        poller.register(self._recv_icmp, select.POLLIN)
        if self._tx_stamps:
            poller.register(self._send, select.POLLERR)  # send stamps wait in the error queue
        timeout_ns = int(timeout * 1e9)
        while not stop.is_set():
            wait_ns = pacer.step(self, batch) if pacer.sending else 0
            self._drain(batch)
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

    def _send_syn(self, batch: Batch, slot: int, plan: _Plan) -> int | None:
        """Send one SYN for slot; the errno to retry on, else None. The hot path."""
        template = plan.template
        assert template is not None and self._send is not None
        ports = self._ports
        sport = ports[self._port_index]
        dport = plan.job.port
        self._attempt_id += 1
        seq = self._cookie(template.addresses, sport, dport, self._attempt_id)
        packet = template.build(sport, dport, seq)
        tx_ns = time.time_ns()  # as close before the syscall as Python gets
        try:
            self._send.sendto(packet, (plan.job.address, 0))
        except OSError as exc:
            if exc.errno in _RETRY_ERRNOS:
                return exc.errno
            # A local verdict (own firewall, no route): nothing left the host.
            batch.settle(slot, classify_connect_errno(exc.errno or 0, local=True))
        else:
            batch.sent(slot, (template.addresses, dport, sport, seq), tx_ns)
            self.last_send_ns = tx_ns
            if self.first_send_ns is None:
                self.first_send_ns = tx_ns
        self._port_index = (self._port_index + 1) % len(ports)
        return None

    def _drain_tx(self, batch: Batch) -> None:
        """Read the kernel's send timestamps waiting in the send socket's error queue."""
        if not self._tx_stamps:
            return
        assert self._send is not None
        recvmsg = self._send.recvmsg
        flags = socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
        while True:
            try:
                data, ancdata, _flags, _addr = recvmsg(128, _TX_ANC_SPACE, flags)
            except BlockingIOError:
                break
            key = parse_tx_echo(data)
            if key is None:
                continue
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPING:
                    sec, nsec = _TIMESPEC.unpack_from(value)  # [0]: the software stamp
                    if sec:
                        batch.sent_at(key, sec * 1_000_000_000 + nsec)
                    break

    def _drain(self, batch: Batch) -> None:
        """Read every send stamp and answer waiting (non-blocking)."""
        self._drain_tx(batch)
        expired = self._expired
        for sock, parse in ((self._recv_tcp, parse_tcp), (self._recv_icmp, parse_icmp)):
            assert sock is not None
            recvmsg = sock.recvmsg
            while True:
                try:
                    data, ancdata, _flags, _addr = recvmsg(2048, ANC_SPACE)
                except BlockingIOError:
                    break
                answer = parse(data)
                if answer is None:
                    continue
                batch.receive(answer, received_ns(ancdata) or time.time_ns(), expired)


class _Pacer:
    """Which SYN goes out when: waves, spacing and the packets-per-second cap.

    A token bucket holding at most ``_BURST_SECONDS`` worth of packets (and
    never more than ``_MAX_BURST``): at 200 pps SYNs leave one by one 5 ms
    apart, at 20,000 pps in groups of 100, since Python cannot sleep 50 us at
    a time.
    """

    def __init__(self, waves: list[list[tuple[int, _Plan]]], rate: float,
                 spacing_ns: int) -> None:
        self.waves = waves
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

    def step(self, prober: SynProber, batch: Batch) -> int:
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
            if prober._send_syn(batch, slot, plan) is not None:
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
