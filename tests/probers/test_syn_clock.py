"""The SYN engine under a stepped wall clock, without a network.

``RawSockets`` is driven with stand-in sockets that hand back a SYN-ACK
carrying a kernel receive stamp (CLOCK_REALTIME, as the kernel writes it),
while the test steps the wall clock by an hour. What the user sees, an answer
within the timeout with its RTT, must not move: every time the batch
compares is monotonic.
"""

from __future__ import annotations

import socket
import struct
from collections import deque

import pytest

from probe.probers.kerneltime import SO_TIMESTAMPNS, StampClock
from probe.probers.packet import SynTemplate
from probe.probers.synbatch import Batch, Plan
from probe.probers.synsockets import RawSockets
from probe.results import PortState, TcpJob

scapy_inet = pytest.importorskip("scapy.layers.inet")
IP, TCP = scapy_inet.IP, scapy_inet.TCP

US, TARGET = "198.19.1.10", "198.19.2.10"
S, MS = 1_000_000_000, 1_000_000


class Clocks:
    def __init__(self) -> None:
        self.mono = 50 * S
        self.real = 1_700_000_000 * S

    def advance(self, ns: int) -> None:
        self.mono += ns
        self.real += ns


class FakeSocket:
    """sendto() keeps what was sent; recvmsg() hands out queued datagrams."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.queue: deque[tuple[bytes, list[tuple[int, int, bytes]]]] = deque()

    def sendto(self, packet: bytes, _address: tuple[str, int]) -> int:
        self.sent.append(packet)
        return len(packet)

    def recvmsg(self, _size: int, _anc: int = 0,
                _flags: int = 0) -> tuple[bytes, list[tuple[int, int, bytes]], int, None]:
        if not self.queue:
            raise BlockingIOError
        data, ancdata = self.queue.popleft()
        return data, ancdata, 0, None


def syn_ack_for(syn: bytes) -> bytes:
    ip = IP(syn)
    return bytes(IP(src=ip.dst, dst=ip.src, ttl=61) / TCP(
        sport=ip[TCP].dport, dport=ip[TCP].sport, seq=1, ack=(ip[TCP].seq + 1) % 2**32,
        flags="SA"))


def kernel_stamp(real_ns: int) -> list[tuple[int, int, bytes]]:
    return [(socket.SOL_SOCKET, SO_TIMESTAMPNS,
             struct.pack("@qq", real_ns // S, real_ns % S))]


def one_syn(step: int, *, step_after_arrival: bool) -> tuple[Batch, float]:
    """One SYN, answered 200 ms later, read 1 ms after that; the wall clock steps
    by ``step`` before the answer arrives or between its arrival and its reading."""
    clocks = Clocks()
    sockets = RawSockets(ports=1, tx_timestamps=False, secret=b"k" * 32,
                         stamps=StampClock(lambda: clocks.real, lambda: clocks.mono))
    send, recv_tcp, recv_icmp = FakeSocket(), FakeSocket(), FakeSocket()
    sockets._send, sockets._recv_tcp, sockets._recv_icmp = send, recv_tcp, recv_icmp  # type: ignore[assignment]
    sockets.ports = [40000]
    batch = Batch(1, 1 * S)
    template = SynTemplate.for_pair(socket.inet_aton(US), socket.inet_aton(TARGET))
    sockets.drain(batch, {})  # as a batch starts: stale answers read first
    clocks.advance(MS)
    sockets.send_syn(batch, 0, Plan(TcpJob(TARGET, 443, 1), 0, template, None))
    if not step_after_arrival:
        clocks.real += step
    clocks.advance(200 * MS)
    recv_tcp.queue.append((syn_ack_for(send.sent[0]), kernel_stamp(clocks.real)))
    if step_after_arrival:
        clocks.real += step
    clocks.advance(MS)
    sockets.drain(batch, {})
    (attempt,) = batch.attempts()
    assert (attempt.state, attempt.reason) == (PortState.OPEN, "syn-ack")
    assert batch.late == 0
    assert attempt.rtt_seconds is not None
    return batch, attempt.rtt_seconds


@pytest.mark.parametrize("step", [3600 * S, -3600 * S])
def test_a_step_between_send_and_answer_keeps_the_answer_and_its_rtt(step: int) -> None:
    _batch, rtt = one_syn(step, step_after_arrival=False)
    assert rtt == pytest.approx(0.2)


@pytest.mark.parametrize("step", [3600 * S, -3600 * S])
def test_a_step_before_the_answer_is_read_keeps_the_answer(step: int) -> None:
    _batch, rtt = one_syn(step, step_after_arrival=True)
    assert 0 <= rtt <= 0.201  # the stamp is unusable: somewhere between the send and now


def test_without_a_step_the_rtt_is_the_kernel_stamp() -> None:
    _batch, rtt = one_syn(0, step_after_arrival=False)
    assert rtt == pytest.approx(0.2)
