"""Classification in nmap's --reason vocabulary, and how attempts add up."""

from __future__ import annotations

import errno

import pytest

from probe.probers.classify import (
    ICMP_REASONS,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    aggregate,
    classify_connect_errno,
    classify_icmp,
    classify_tcp_flags,
    no_response,
)
from probe.results import NO_RESPONSE, Attempt, PortState

OPEN, CLOSED, FILTERED = PortState.OPEN, PortState.CLOSED, PortState.FILTERED


# nmap -sS: ICMP type 3 codes 0, 1, 2, 3, 9, 10, 13 mean filtered.
@pytest.mark.parametrize(("icmp_type", "code", "reason"), [
    (3, 0, "net-unreach"),
    (3, 1, "host-unreach"),
    (3, 2, "proto-unreach"),
    (3, 3, "port-unreach"),
    (3, 9, "net-prohibited"),
    (3, 10, "host-prohibited"),
    (3, 13, "admin-prohibited"),
    (3, 4, "dest-unreach"),  # fragmentation needed: unreachable, but not one nmap names
    (3, 6, "dest-unreach"),
    (11, 0, "time-exceeded"),
    (11, 1, "time-exceeded"),
])
def test_icmpv4_errors_are_filtered_with_a_reason(icmp_type: int, code: int, reason: str) -> None:
    assert classify_icmp(icmp_type, code) == Attempt(FILTERED, reason)


@pytest.mark.parametrize(("icmp_type", "code", "reason"), [
    (1, 0, "net-unreach"),
    (1, 1, "admin-prohibited"),
    (1, 3, "host-unreach"),
    (1, 4, "port-unreach"),
    (1, 5, "admin-prohibited"),
    (1, 6, "admin-prohibited"),
    (1, 2, "dest-unreach"),  # beyond scope of source address
    (1, 7, "dest-unreach"),
    (3, 0, "time-exceeded"),
])
def test_icmpv6_errors_are_filtered_with_a_reason(icmp_type: int, code: int, reason: str) -> None:
    assert classify_icmp(icmp_type, code, ipv6=True) == Attempt(FILTERED, reason)


@pytest.mark.parametrize(("icmp_type", "code", "ipv6"), [
    (0, 0, False),     # echo reply
    (8, 0, False),     # echo request
    (5, 1, False),     # redirect
    (12, 0, False),    # parameter problem
    (128, 0, True),    # ICMPv6 echo request
    (129, 0, True),    # ICMPv6 echo reply
    (2, 0, True),      # packet too big
    (11, 0, True),     # the v4 time-exceeded number means nothing in v6
])
def test_other_icmp_says_nothing(icmp_type: int, code: int, ipv6: bool) -> None:
    assert classify_icmp(icmp_type, code, ipv6=ipv6) is None


def test_every_icmpv4_reason_is_in_the_vocabulary() -> None:
    reasons = {classify_icmp(t, c).reason for t in (3, 11) for c in range(16)}  # type: ignore[union-attr]
    assert reasons <= ICMP_REASONS
    assert NO_RESPONSE not in ICMP_REASONS


@pytest.mark.parametrize(("flags", "expected"), [
    (TCP_SYN | TCP_ACK, Attempt(OPEN, "syn-ack")),
    (TCP_RST, Attempt(CLOSED, "reset")),
    (TCP_RST | TCP_ACK, Attempt(CLOSED, "reset")),
    (TCP_RST | TCP_SYN | TCP_ACK, Attempt(CLOSED, "reset")),  # a reset is never "open"
    (TCP_SYN | TCP_ACK | 0x08, Attempt(OPEN, "syn-ack")),     # PSH does not matter
    (TCP_SYN, None),  # simultaneous open: not an answer to our probe
    (TCP_ACK, None),
    (TCP_FIN | TCP_ACK, None),
    (0, None),
])
def test_tcp_flags(flags: int, expected: Attempt | None) -> None:
    assert classify_tcp_flags(flags) == expected


def test_silence_is_filtered_no_response() -> None:
    attempt = no_response()
    assert (attempt.state, attempt.reason) == (FILTERED, "no-response")
    assert not attempt.answered


@pytest.mark.parametrize(("err", "local", "state", "reason"), [
    # connect() cannot tell a RST from an ICMP port-unreach: nmap -sT wording
    (errno.ECONNREFUSED, False, CLOSED, "conn-refused"),
    (errno.ECONNREFUSED, True, CLOSED, "conn-refused"),
    (errno.ENETUNREACH, False, FILTERED, "net-unreach"),
    (errno.EHOSTUNREACH, False, FILTERED, "host-unreach"),
    # straight from connect(): no packet left, this host has no route
    (errno.ENETUNREACH, True, FILTERED, "no-route"),
    (errno.EHOSTUNREACH, True, FILTERED, "no-route"),
    (errno.EPERM, True, FILTERED, "local-prohibited"),
    (errno.EACCES, True, FILTERED, "local-prohibited"),
    (errno.EPERM, False, FILTERED, "local-prohibited"),
    (errno.EINVAL, True, FILTERED, "no-route"),
    (errno.ENOPROTOOPT, False, FILTERED, "proto-unreach"),
    (errno.EHOSTDOWN, False, FILTERED, "host-unreach"),
    (errno.ETIMEDOUT, False, FILTERED, "no-response"),
    (errno.EMFILE, False, FILTERED, "error"),
    (errno.EADDRNOTAVAIL, True, FILTERED, "error"),
])
def test_connect_errno(err: int, local: bool, state: PortState, reason: str) -> None:
    assert classify_connect_errno(err, local=local) == Attempt(state, reason)


def test_connect_timeout_is_not_an_answer() -> None:
    assert not classify_connect_errno(errno.ETIMEDOUT).answered
    assert classify_connect_errno(errno.ECONNREFUSED).answered


# --------------------------------------------------------------------------
# aggregation: one verdict per address per round

SYN_ACK = Attempt(OPEN, "syn-ack", 0.010)
RESET = Attempt(CLOSED, "reset", 0.002)
SILENT = no_response()
ADMIN = Attempt(FILTERED, "admin-prohibited", 0.003, responder="10.0.0.1")


@pytest.mark.parametrize(("attempts", "expected"), [
    ([SYN_ACK, SYN_ACK, SYN_ACK], SYN_ACK),
    # a dropped attempt is not a failure when another one answers
    ([SILENT, SYN_ACK, SILENT], SYN_ACK),
    ([SILENT, SILENT, SYN_ACK], SYN_ACK),
    ([SYN_ACK, SILENT, SILENT], SYN_ACK),
    ([SILENT, RESET], RESET),
    ([SILENT, ADMIN, SILENT], ADMIN),
    # the most frequent answer wins
    ([RESET, SYN_ACK, SYN_ACK], SYN_ACK),
    ([SYN_ACK, RESET, RESET], RESET),
    ([ADMIN, ADMIN, SYN_ACK], ADMIN),
    # a tie goes to the latest answer
    ([RESET, SYN_ACK], SYN_ACK),
    ([SYN_ACK, RESET], RESET),
    ([SYN_ACK, SILENT, RESET, SILENT], RESET),
    # nothing answered
    ([SILENT, SILENT, SILENT], SILENT),
    ([SILENT], SILENT),
])
def test_aggregate(attempts: list[Attempt], expected: Attempt) -> None:
    assert aggregate(attempts) == expected


def test_aggregate_keeps_the_evidence_of_the_chosen_answer() -> None:
    early = Attempt(FILTERED, "admin-prohibited", 0.001, responder="10.0.0.1", reply_ttl=63)
    late = Attempt(FILTERED, "admin-prohibited", 0.002, responder="10.0.0.2", reply_ttl=62)
    assert aggregate([early, SILENT, late]) is late


def test_aggregate_of_nothing_is_no_response() -> None:
    assert aggregate([]) == Attempt(FILTERED, "no-response")


def test_a_local_refusal_is_not_hidden_by_silence() -> None:
    # the firewall of this very host said no: that is the verdict, not "no-response"
    local = Attempt(FILTERED, "local-prohibited")
    assert aggregate([SILENT, local, SILENT]) == local
