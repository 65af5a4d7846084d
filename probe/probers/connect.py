"""TCP prober without privileges: non-blocking connect().

Plain connect() (blackbox_exporter, cloudprober) sees ECONNREFUSED for both a
RST and an ICMP port-unreachable, and cannot say who answered. We set
IP_RECVERR on the socket: the kernel then queues the ICMP error that aborted
the handshake, with its type, code, sender (the "offender") and TTL, on the
socket's error queue. So ECONNREFUSED with an empty error queue is a RST from
the target; with an ICMP entry it is that ICMP answer, from that sender.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

from probe.probers import stallclock
from probe.probers.classify import classify_connect_errno, classify_icmp, no_response
from probe.results import Attempt, PortState, TcpJob

# <linux/in.h>, <linux/in6.h>, <linux/errqueue.h>: not all exported by Python 3.11.
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_TTL_CMSG = 2
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
_EXTENDED_ERR = struct.Struct("=IBBBBII")


@dataclass(frozen=True, slots=True)
class IcmpReport:
    """What the kernel kept of the ICMP error that ended a connect()."""

    icmp_type: int
    icmp_code: int
    offender: str | None
    ipv6: bool
    ttl: int | None = None


def parse_error_queue(ancdata: Sequence[tuple[int, int, bytes]]) -> IcmpReport | None:
    """Pure: decode the control messages of recvmsg(MSG_ERRQUEUE)."""
    report: IcmpReport | None = None
    ttl: int | None = None
    for level, kind, data in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
            if len(data) < _EXTENDED_ERR.size:
                continue
            _err, origin, icmp_type, icmp_code, _pad, _info, _data = _EXTENDED_ERR.unpack_from(
                data)
            if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                continue
            report = IcmpReport(icmp_type, icmp_code, _offender(data[_EXTENDED_ERR.size:]),
                                ipv6=origin == SO_EE_ORIGIN_ICMP6)
        elif (level, kind) in ((socket.IPPROTO_IP, IP_TTL_CMSG),
                               (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)) and len(data) >= 4:
            ttl = int.from_bytes(data[:4], sys.byteorder)
    if report is not None and ttl is not None:
        report = replace(report, ttl=ttl)
    return report


def _offender(raw: bytes) -> str | None:
    """The sockaddr that follows sock_extended_err (SO_EE_OFFENDER)."""
    if len(raw) < 2:
        return None
    family = int.from_bytes(raw[:2], sys.byteorder)
    if family == socket.AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return None


def classify_connect(err: int, report: IcmpReport | None, address: str,
                     rtt: float | None) -> Attempt:
    """Pure: one connect() outcome as an attempt."""
    if err == 0:
        return Attempt(PortState.OPEN, "syn-ack", rtt, address)
    if report is not None:
        verdict = classify_icmp(report.icmp_type, report.icmp_code, ipv6=report.ipv6)
        if verdict is not None:
            return replace(verdict, rtt_seconds=rtt, responder=report.offender,
                           reply_ttl=report.ttl)
    if err == errno.ECONNREFUSED:
        # IP_RECVERR is on, so an ICMP error would have been queued: this was a RST.
        return Attempt(PortState.CLOSED, "reset", rtt, address)
    verdict = classify_connect_errno(err)  # ETIMEDOUT included: no-response
    return replace(verdict, rtt_seconds=rtt if verdict.answered else None)


class ConnectProber:
    """connect() probes, all jobs concurrently, attempts staggered in time."""

    method = "connect"

    def __init__(self, *, concurrency: int = 256, spacing: float = 0.2) -> None:
        self.concurrency = concurrency
        self.spacing = spacing

    def method_for(self, address: str) -> str:
        return self.method

    def close(self) -> None:
        """Nothing to release: every attempt opens and closes its own socket."""

    async def probe(self, jobs: Sequence[TcpJob], timeout: float) -> list[tuple[Attempt, ...]]:
        gate = asyncio.Semaphore(self.concurrency)

        async def attempt(job: TcpJob, k: int) -> Attempt:
            if k:
                await asyncio.sleep(k * self.spacing)
            async with gate:
                return await connect_once(job.address, job.port, timeout)

        async def run(job: TcpJob) -> tuple[Attempt, ...]:
            return tuple(await asyncio.gather(*(attempt(job, k) for k in range(job.count))))

        return list(await asyncio.gather(*(run(job) for job in jobs)))


async def connect_once(address: str, port: int, timeout: float) -> Attempt:
    """One non-blocking connect() with the ICMP details kept."""
    ipv6 = ":" in address
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET,
                         socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        if ipv6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        # Close with a RST: no TIME_WAIT on our side, no lingering session on theirs.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        loop = asyncio.get_running_loop()
        # The wait and the RTT go by the stall clock: a blocked event loop is
        # neither the target's silence nor its slowness.
        clock = stallclock.for_running_loop()
        answered: asyncio.Future[float] = loop.create_future()
        with clock.held():
            start = clock.now()
            err = sock.connect_ex((address, port))
            if err not in (0, errno.EINPROGRESS):
                # Refused before anything left this host (no route, local firewall).
                return classify_connect_errno(err, local=True)
            if err == errno.EINPROGRESS:
                def ready() -> None:
                    if not answered.done():
                        answered.set_result(clock.now())

                loop.add_writer(sock.fileno(), ready)
                try:
                    if not await clock.wait_until(answered, start + timeout):
                        return no_response()
                finally:
                    loop.remove_writer(sock.fileno())
                end = answered.result()
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            else:
                end = clock.now()
        report = _read_error_queue(sock) if err else None
        return classify_connect(err, report, address, end - start)
    finally:
        sock.close()


def _read_error_queue(sock: socket.socket) -> IcmpReport | None:
    try:
        _data, ancdata, _flags, _addr = sock.recvmsg(512, 1024, socket.MSG_ERRQUEUE)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return None
    return parse_error_queue(ancdata)
