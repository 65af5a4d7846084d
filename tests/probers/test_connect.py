"""connect() outcomes: the socket error queue decoded from bytes built with
struct (as the kernel lays them out), and classified. No sockets opened."""

from __future__ import annotations

import errno
import socket
import struct
import sys

import pytest

from probe.probers.connect import IcmpReport, classify_connect, parse_error_queue
from probe.results import Attempt, PortState

OPEN, CLOSED, FILTERED = PortState.OPEN, PortState.CLOSED, PortState.FILTERED

IP_RECVERR = 11       # cmsg type of the error on level IPPROTO_IP
IP_TTL = 2            # cmsg type of the TTL on level IPPROTO_IP
IPV6_RECVERR = 25
IPV6_HOPLIMIT = 52
ORIGIN_LOCAL, ORIGIN_ICMP, ORIGIN_ICMP6 = 1, 2, 3


def extended_err(origin: int, icmp_type: int, icmp_code: int, *,
                 ee_errno: int = errno.EHOSTUNREACH) -> bytes:
    """struct sock_extended_err: errno, origin, type, code, pad, info, data."""
    return struct.pack("=IBBBBII", ee_errno, origin, icmp_type, icmp_code, 0, 0, 0)


def sockaddr_in(address: str, port: int = 0) -> bytes:
    family = socket.AF_INET.to_bytes(2, sys.byteorder)
    return family + struct.pack("!H", port) + socket.inet_aton(address) + bytes(8)


def sockaddr_in6(address: str, port: int = 0) -> bytes:
    family = socket.AF_INET6.to_bytes(2, sys.byteorder)
    return (family + struct.pack("!HI", port, 0) + socket.inet_pton(socket.AF_INET6, address)
            + struct.pack("=I", 0))


def ttl(value: int) -> bytes:
    return value.to_bytes(4, sys.byteorder)


def icmp4(icmp_type: int, code: int, offender: str) -> tuple[int, int, bytes]:
    return (socket.IPPROTO_IP, IP_RECVERR,
            extended_err(ORIGIN_ICMP, icmp_type, code) + sockaddr_in(offender))


# --------------------------------------------------------------------------
# parse_error_queue

def test_admin_prohibited_from_a_router_with_its_ttl() -> None:
    ancdata = [icmp4(3, 13, "10.0.1.1"), (socket.IPPROTO_IP, IP_TTL, ttl(63))]
    assert parse_error_queue(ancdata) == IcmpReport(3, 13, "10.0.1.1", ipv6=False, ttl=63)


def test_ttl_before_the_error_is_kept_too() -> None:
    ancdata = [(socket.IPPROTO_IP, IP_TTL, ttl(254)), icmp4(3, 3, "10.0.2.15")]
    assert parse_error_queue(ancdata) == IcmpReport(3, 3, "10.0.2.15", ipv6=False, ttl=254)


def test_error_without_ttl() -> None:
    assert parse_error_queue([icmp4(11, 0, "10.0.1.1")]) == IcmpReport(
        11, 0, "10.0.1.1", ipv6=False, ttl=None)


def test_icmpv6_error_with_hop_limit() -> None:
    ancdata = [
        (socket.IPPROTO_IPV6, IPV6_RECVERR,
         extended_err(ORIGIN_ICMP6, 1, 4) + sockaddr_in6("2001:db8::1")),
        (socket.IPPROTO_IPV6, IPV6_HOPLIMIT, ttl(64)),
    ]
    assert parse_error_queue(ancdata) == IcmpReport(1, 4, "2001:db8::1", ipv6=True, ttl=64)


@pytest.mark.parametrize("ancdata", [
    [],
    # only a TTL: no ICMP error to report
    [(socket.IPPROTO_IP, IP_TTL, ttl(64))],
    # a local error (origin 1), e.g. EMSGSIZE: not an answer from the network
    [(socket.IPPROTO_IP, IP_RECVERR, extended_err(ORIGIN_LOCAL, 0, 0) + sockaddr_in("0.0.0.0"))],
    # truncated sock_extended_err
    [(socket.IPPROTO_IP, IP_RECVERR, extended_err(ORIGIN_ICMP, 3, 13)[:10])],
    # right type number, wrong level
    [(socket.SOL_SOCKET, IP_RECVERR, extended_err(ORIGIN_ICMP, 3, 13) + sockaddr_in("10.0.1.1"))],
])
def test_nothing_to_report(ancdata: list[tuple[int, int, bytes]]) -> None:
    assert parse_error_queue(ancdata) is None


@pytest.mark.parametrize(("tail", "offender"), [
    (b"", None),                         # no SO_EE_OFFENDER at all
    (b"\x00", None),                     # too short for a family
    (bytes(16), None),                   # AF_UNSPEC
    (sockaddr_in("10.0.1.1")[:6], None),  # truncated address
    (sockaddr_in("192.0.2.254"), "192.0.2.254"),
])
def test_offender(tail: bytes, offender: str | None) -> None:
    data = extended_err(ORIGIN_ICMP, 3, 1) + tail
    report = parse_error_queue([(socket.IPPROTO_IP, IP_RECVERR, data)])
    assert report is not None
    assert (report.icmp_type, report.icmp_code, report.offender) == (3, 1, offender)


def test_short_ttl_is_ignored() -> None:
    ancdata = [icmp4(3, 13, "10.0.1.1"), (socket.IPPROTO_IP, IP_TTL, b"\x40")]
    report = parse_error_queue(ancdata)
    assert report is not None and report.ttl is None


# --------------------------------------------------------------------------
# classify_connect

TARGET = "10.0.2.10"


@pytest.mark.parametrize(("err", "report", "expected"), [
    # the handshake completed
    (0, None, Attempt(OPEN, "syn-ack", 0.004, TARGET)),
    # refused, no ICMP queued although IP_RECVERR was on: the target's RST
    (errno.ECONNREFUSED, None, Attempt(CLOSED, "reset", 0.004, TARGET)),
    # refused because of an ICMP port-unreachable: filtered, from whoever sent it
    (errno.ECONNREFUSED, IcmpReport(3, 3, "10.0.2.1", False, 63),
     Attempt(FILTERED, "port-unreach", 0.004, "10.0.2.1", 63)),
    (errno.EHOSTUNREACH, IcmpReport(3, 13, "10.0.1.1", False, 64),
     Attempt(FILTERED, "admin-prohibited", 0.004, "10.0.1.1", 64)),
    (errno.ENETUNREACH, IcmpReport(3, 0, "10.0.1.1", False, None),
     Attempt(FILTERED, "net-unreach", 0.004, "10.0.1.1")),
    (errno.EHOSTUNREACH, IcmpReport(11, 0, "10.0.1.1", False, 64),
     Attempt(FILTERED, "time-exceeded", 0.004, "10.0.1.1", 64)),
    (errno.ECONNREFUSED, IcmpReport(1, 4, "2001:db8::1", True, 64),
     Attempt(FILTERED, "port-unreach", 0.004, "2001:db8::1", 64)),
    (errno.EACCES, IcmpReport(1, 1, "2001:db8::1", True, None),
     Attempt(FILTERED, "admin-prohibited", 0.004, "2001:db8::1")),
    # the handshake timed out: silence, and silence has no RTT
    (errno.ETIMEDOUT, None, Attempt(FILTERED, "no-response")),
    # an unreachable errno without the ICMP details
    (errno.EHOSTUNREACH, None, Attempt(FILTERED, "host-unreach", 0.004)),
    (errno.ENETUNREACH, None, Attempt(FILTERED, "net-unreach", 0.004)),
])
def test_classify_connect(err: int, report: IcmpReport | None, expected: Attempt) -> None:
    assert classify_connect(err, report, TARGET, 0.004) == expected


def test_an_icmp_report_that_says_nothing_falls_back_to_the_errno() -> None:
    echo_reply = IcmpReport(0, 0, "10.0.1.1", False, 64)
    assert classify_connect(errno.ECONNREFUSED, echo_reply, TARGET, 0.004) == Attempt(
        CLOSED, "reset", 0.004, TARGET)


@pytest.mark.parametrize("err", [errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH, 0])
def test_answered_iff_not_timed_out(err: int) -> None:
    attempt = classify_connect(err, None, TARGET, 0.004)
    assert attempt.answered == (err != errno.ETIMEDOUT)
    assert (attempt.rtt_seconds is None) == (err == errno.ETIMEDOUT)
