"""Pure classification of probe answers: no sockets here.

The vocabulary is nmap's ``--reason`` one, so that our answer can be held
against ``nmap -sS --reason`` target by target.

* a SYN-ACK            -> open / syn-ack
* a RST                -> closed / reset
* silence              -> filtered / no-response
* ICMP unreachable     -> filtered / <reason by code> (nmap treats type 3
  codes 0, 1, 2, 3, 9, 10, 13 as filtered for a SYN scan)
* ICMP time exceeded   -> filtered / time-exceeded
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Sequence

from probe.results import LOCAL_REASONS, NO_RESPONSE, Attempt, PortState

ICMP_DEST_UNREACH = 3
ICMP_TIME_EXCEEDED = 11
ICMP6_DEST_UNREACH = 1
ICMP6_TIME_EXCEEDED = 3

# ICMPv4 type 3 codes, named as nmap names them.
_UNREACH_REASONS: dict[int, str] = {
    0: "net-unreach",
    1: "host-unreach",
    2: "proto-unreach",
    3: "port-unreach",
    9: "net-prohibited",
    10: "host-prohibited",
    13: "admin-prohibited",
}

# ICMPv6 type 1 codes (RFC 4443).
_UNREACH6_REASONS: dict[int, str] = {
    0: "net-unreach",  # no route to destination
    1: "admin-prohibited",
    3: "host-unreach",  # address unreachable
    4: "port-unreach",
    5: "admin-prohibited",  # source address failed ingress/egress policy
    6: "admin-prohibited",  # reject route to destination
}

ICMP_REASONS: frozenset[str] = frozenset(_UNREACH_REASONS.values()) | {
    "dest-unreach",
    "time-exceeded",
}

# TCP flag bits.
TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10


def classify_icmp(icmp_type: int, icmp_code: int, *, ipv6: bool = False) -> Attempt | None:
    """State and reason for an ICMP error quoting one of our probes.

    Returns None for ICMP messages that say nothing about reachability.
    """
    if ipv6:
        if icmp_type == ICMP6_DEST_UNREACH:
            return Attempt(PortState.FILTERED, _UNREACH6_REASONS.get(icmp_code, "dest-unreach"))
        if icmp_type == ICMP6_TIME_EXCEEDED:
            return Attempt(PortState.FILTERED, "time-exceeded")
        return None
    if icmp_type == ICMP_DEST_UNREACH:
        return Attempt(PortState.FILTERED, _UNREACH_REASONS.get(icmp_code, "dest-unreach"))
    if icmp_type == ICMP_TIME_EXCEEDED:
        return Attempt(PortState.FILTERED, "time-exceeded")
    return None


def classify_tcp_flags(flags: int) -> Attempt | None:
    """State and reason for a TCP segment answering one of our SYNs."""
    if flags & TCP_RST:
        return Attempt(PortState.CLOSED, "reset")
    if flags & TCP_SYN and flags & TCP_ACK:
        return Attempt(PortState.OPEN, "syn-ack")
    return None


def no_response() -> Attempt:
    return Attempt(PortState.FILTERED, NO_RESPONSE)


# connect() errors that a local decision (no packet on the wire) produces.
_LOCAL_ERRNOS: dict[int, str] = {
    errno.EPERM: "local-prohibited",  # this host's own firewall (OUTPUT chain)
    errno.EACCES: "local-prohibited",  # 'prohibit' route on this host
    errno.EINVAL: "no-route",  # 'blackhole' route on this host
}

_CONNECT_ERRNOS: dict[int, str] = {
    errno.ECONNREFUSED: "conn-refused",  # RST or ICMP port-unreach: connect() cannot tell
    errno.ENETUNREACH: "net-unreach",
    errno.EHOSTUNREACH: "host-unreach",
    errno.ENOPROTOOPT: "proto-unreach",
    errno.EHOSTDOWN: "host-unreach",
    errno.ENONET: "host-unreach",
    errno.ETIMEDOUT: NO_RESPONSE,
}


def classify_connect_errno(err: int, *, local: bool = False) -> Attempt:
    """State and reason for a failed non-blocking connect().

    Without the ICMP details from the socket error queue, ECONNREFUSED is
    ambiguous (RST or port-unreach) and is reported as nmap -sT does:
    ``conn-refused``. ``local`` says the error came straight from connect()
    before any answer could have arrived (no route, local firewall).
    """
    if err == errno.ECONNREFUSED:
        return Attempt(PortState.CLOSED, "conn-refused")
    if local and err in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return Attempt(PortState.FILTERED, "no-route")
    if err in _LOCAL_ERRNOS:
        return Attempt(PortState.FILTERED, _LOCAL_ERRNOS[err])
    reason = _CONNECT_ERRNOS.get(err, "error")
    return Attempt(PortState.FILTERED, reason)


def aggregate(attempts: Sequence[Attempt]) -> Attempt:
    """One verdict for an address from its attempts in one round.

    A dropped attempt is not a failure when another one answers: answered
    attempts win over silence. Among answers, the most frequent state wins;
    a tie goes to the latest answer. RTT is the median of answered attempts.
    """
    answered = [a for a in attempts if a.answered]
    if not answered:
        # This host's own refusal (no route, local firewall) explains silence.
        local = [a for a in attempts if a.reason in LOCAL_REASONS]
        return local[-1] if local else (attempts[-1] if attempts else no_response())
    counts = Counter(a.state for a in answered)
    best = max(counts.values())
    chosen = next(a for a in reversed(answered) if counts[a.state] == best)
    return chosen
