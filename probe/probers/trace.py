"""TCP path tracing: TTL-limited SYNs to the target's own port.

A trace answers "which devices does traffic to this dependency cross, and
where does it stop?" -- the question behind forced tunnelling (a 0.0.0.0/0
route to a firewall or an on-premises gateway) and asymmetric routing. SYNs
to the real port are used, not UDP or ICMP echo, because NSGs and firewalls
treat those differently from the traffic APIM actually sends.

The result types and the interpretation (``summarise``) are pure; only
``trace`` touches the network (scapy, raw sockets, root or CAP_NET_RAW).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from typing import Any, NamedTuple

from probe.results import NO_RESPONSE, Hop, PortState, TcpResult, TraceResult

__all__ = ["Hop", "TraceRequest", "TraceResult", "trace", "trace_all", "trace_many",
           "worth_tracing"]


# --------------------------------------------------------------------------
# from answers to hops (pure)

TERMINAL = frozenset({"syn-ack", "reset"})


def hops_from(answers: Sequence[tuple[int, str | None, float | None, str]], *,
              max_hops: int) -> tuple[Hop, ...]:
    """Hops 1..max_hops from (ttl, answering address, rtt, reason) answers.

    TTLs without an answer become silent hops. The list ends at the first
    answer that ends the path (the target's SYN-ACK or RST, or an ICMP
    unreachable from anyone); when nothing ends it, it ends one silent hop
    after the last answer: "stopped after hop N" needs no more than that.
    """
    by_ttl: dict[int, Hop] = {}
    for ttl, address, rtt, reason in answers:
        if 1 <= ttl <= max_hops and ttl not in by_ttl:
            by_ttl[ttl] = Hop(ttl, address, rtt, reason)
    hops = [by_ttl.get(ttl, Hop(ttl, None, None, NO_RESPONSE)) for ttl in range(1, max_hops + 1)]
    for i, hop in enumerate(hops):
        if hop.answered and hop.reason != "time-exceeded":
            return tuple(hops[: i + 1])
    answered = [i for i, hop in enumerate(hops) if hop.answered]
    end = answered[-1] + 2 if answered else 1
    return tuple(hops[:end])


# --------------------------------------------------------------------------
# the probe (scapy; needs raw sockets)


class TraceRequest(NamedTuple):
    address: str
    port: int
    target: str = ""
    dependency: str = "other"


def trace(address: str, port: int, *, max_hops: int = 16, timeout: float = 2.0,
          target: str = "", dependency: str = "other") -> TraceResult:
    """TTL-limited SYNs (TTL 1..max_hops, sent together) to address:port.

    Blocking: run it in a thread from async code. Raises PermissionError
    without CAP_NET_RAW.
    """
    (result,) = trace_many([TraceRequest(address, port, target, dependency)],
                           max_hops=max_hops, timeout=timeout)
    return result


def trace_many(requests: Sequence[TraceRequest], *, max_hops: int = 16,
               timeout: float = 2.0) -> tuple[TraceResult, ...]:
    """Every request's TTL-limited SYNs in one batch per address family: the
    whole set costs one timeout, not one per trace. Each trace has its own
    source port, so answers are told apart by (address, port, source port)."""
    # scapy is imported here: importing it costs about half a second and it
    # is only needed when a trace is asked for.
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Packet
    from scapy.sendrecv import sr
    from scapy.volatile import RandShort

    _quiet_scapy()

    base = int(RandShort()) % 30000 + 20000
    sports = {i: base + i for i in range(len(requests))}
    answers: dict[int, list[tuple[int, str | None, float | None, str]]] = {
        i: [] for i in range(len(requests))}
    owner: dict[tuple[str, int, int], int] = {}
    for ipv6 in (False, True):
        probes: list[Packet] = []
        for i, req in enumerate(requests):
            if (ipaddress.ip_address(req.address).version == 6) is not ipv6:
                continue
            owner[(str(ipaddress.ip_address(req.address)), req.port, sports[i])] = i
            layer = TCP(sport=sports[i], dport=req.port, flags="S")
            probes.extend(
                (IPv6(dst=req.address, hlim=ttl) if ipv6 else IP(dst=req.address, ttl=ttl))
                / layer.copy() for ttl in range(1, max_hops + 1))
        if not probes:
            continue
        for n, probe in enumerate(probes, start=1):
            probe[TCP].seq = n  # distinct: scapy matches ICMP quotes on it
        answered, _ = sr(probes, timeout=timeout, verbose=0)
        for sent, received in answered:
            key = (str(ipaddress.ip_address(sent.dst)), int(sent[TCP].dport),
                   int(sent[TCP].sport))
            index = owner.get(key)
            reason = _reason(received, ipv6)
            if index is None or reason is None:
                continue
            ttl = int(sent.hlim if ipv6 else sent.ttl)
            rtt = max(0.0, float(received.time) - float(sent.sent_time or received.time))
            answers[index].append((ttl, str(received.src), rtt, reason))
    return tuple(TraceResult(req.target or f"{req.address}:{req.port}", req.dependency,
                             req.address, req.port, hops_from(answers[i], max_hops=max_hops))
                 for i, req in enumerate(requests))


def _quiet_scapy() -> None:
    """scapy writes its warnings to stderr with a handler of its own ("WARNING:
    ..." lines in the middle of JSON logs): hand them to the logging tree, where
    the agent's handler turns them into events (probe.events.route_logging)."""
    import logging

    scapy_log = logging.getLogger("scapy")
    for handler in list(scapy_log.handlers):
        if isinstance(handler, logging.StreamHandler):
            scapy_log.removeHandler(handler)
    scapy_log.propagate = True


def _reason(received: Any, ipv6: bool) -> str | None:  # a scapy packet (untyped)
    """What one answer to a TTL-limited SYN says (time-exceeded, syn-ack, ...)."""
    from scapy.layers.inet import ICMP, TCP, IPerror, TCPerror

    from probe.probers.classify import classify_icmp, classify_tcp_flags

    has = received.haslayer
    get = received.getlayer
    reason: str | None = None
    if has(TCPerror) or has(IPerror) or has(ICMP):
        icmp = get(ICMP)
        if icmp is not None:
            verdict = classify_icmp(int(icmp.type), int(icmp.code))
            reason = verdict.reason if verdict else None
    elif has(TCP):
        verdict = classify_tcp_flags(int(get(TCP).flags))
        reason = verdict.reason if verdict else None
    if ipv6 and reason is None:
        reason = _icmp6_reason(received)
    return reason


def _icmp6_reason(packet: object) -> str | None:
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6TimeExceeded

    from probe.probers.classify import ICMP6_DEST_UNREACH, classify_icmp

    layer = getattr(packet, "getlayer", None)
    if layer is None:
        return None
    if layer(ICMPv6TimeExceeded) is not None:
        return "time-exceeded"
    unreach = layer(ICMPv6DestUnreach)
    if unreach is not None:
        verdict = classify_icmp(ICMP6_DEST_UNREACH, int(unreach.code), ipv6=True)
        return verdict.reason if verdict else None
    return None


# --------------------------------------------------------------------------
# which results to trace, and tracing them from async code


def worth_tracing(results: Sequence[TcpResult]) -> list[TcpResult]:
    """Failed addresses whose path is in question, once per address:port.

    Silence (where did it vanish?) and answers from someone other than the
    target (who is that device?) are worth a trace; a target refusing with
    its own RST is not.
    """
    chosen: dict[tuple[str, int], TcpResult] = {}
    for result in results:
        if result.address is None or result.ok:
            continue
        foreign = result.responder is not None and result.responder != result.address
        if result.state is PortState.FILTERED or foreign:
            chosen.setdefault((result.address, result.port), result)
    return list(chosen.values())


async def trace_all(results: Sequence[TcpResult], *, max_hops: int = 16,
                    timeout: float = 2.0) -> tuple[TraceResult, ...]:
    """Trace every result's address:port at once in a worker thread (scapy
    blocks): all of them cost one timeout. Raises PermissionError without
    CAP_NET_RAW."""
    requests = [TraceRequest(r.address, r.port, r.target, r.dependency)
                for r in results if r.address is not None]
    if not requests:
        return ()
    return await asyncio.to_thread(trace_many, requests, max_hops=max_hops, timeout=timeout)
