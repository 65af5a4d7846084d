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

from probe.results import NO_RESPONSE, Hop, PortState, TcpResult, TraceResult

__all__ = ["Hop", "TraceResult", "trace", "trace_all", "worth_tracing"]


def describe_hop(hop: Hop) -> str:
    rtt = "-" if hop.rtt_seconds is None else f"{hop.rtt_seconds * 1000:.1f} ms"
    return f"ttl {hop.ttl}: {hop.address or '*'} {hop.reason} {rtt}"


def in_prefixes(address: str, prefixes: Sequence[str]) -> str | None:
    """The first of ``prefixes`` (addresses or CIDR prefixes) holding ``address``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for prefix in prefixes:
        try:
            network = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            continue
        if ip.version == network.version and ip in network:
            return prefix
    return None


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


def trace(address: str, port: int, *, max_hops: int = 16, timeout: float = 2.0,
          target: str = "", dependency: str = "other") -> TraceResult:
    """TTL-limited SYNs (TTL 1..max_hops, sent together) to address:port.

    Blocking: run it in a thread from async code. Raises PermissionError
    without CAP_NET_RAW.
    """
    # scapy is imported here: importing it costs about a second and it is
    # only needed when a trace is asked for.
    from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Packet
    from scapy.sendrecv import sr
    from scapy.volatile import RandShort

    from probe.probers.classify import classify_icmp, classify_tcp_flags

    ipv6 = ipaddress.ip_address(address).version == 6
    sport = int(RandShort())
    probes: list[Packet]
    if ipv6:
        probes = [IPv6(dst=address, hlim=ttl) / TCP(sport=sport, dport=port, flags="S",
                                                    seq=ttl) for ttl in range(1, max_hops + 1)]
    else:
        probes = [IP(dst=address, ttl=ttl) / TCP(sport=sport, dport=port, flags="S", seq=ttl)
                  for ttl in range(1, max_hops + 1)]
    answered, _ = sr(probes, timeout=timeout, verbose=0)
    answers: list[tuple[int, str | None, float | None, str]] = []
    for sent, received in answered:
        ttl = int(sent.hlim if ipv6 else sent.ttl)
        rtt = max(0.0, float(received.time) - float(sent.sent_time or received.time))
        source = str(received.src)
        reason: str | None = None
        if received.haslayer(TCPerror) or received.haslayer(IPerror) or \
                received.haslayer(ICMP):
            icmp = received.getlayer(ICMP)
            if icmp is not None:
                verdict = classify_icmp(int(icmp.type), int(icmp.code))
                reason = verdict.reason if verdict else None
        elif received.haslayer(TCP):
            verdict = classify_tcp_flags(int(received[TCP].flags))
            reason = verdict.reason if verdict else None
        if ipv6 and reason is None:
            reason = _icmp6_reason(received)
        if reason is not None:
            answers.append((ttl, source, rtt, reason))
    return TraceResult(target or f"{address}:{port}", dependency, address, port,
                       hops_from(answers, max_hops=max_hops))


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
    """Trace each result's address:port, one after the other in a worker thread
    (each trace already sends all its TTLs at once; scapy's sockets are not
    shared between threads). Raises PermissionError without CAP_NET_RAW."""
    def work() -> tuple[TraceResult, ...]:
        return tuple(trace(r.address, r.port, max_hops=max_hops, timeout=timeout,
                           target=r.target, dependency=r.dependency)
                     for r in results if r.address is not None)

    return await asyncio.to_thread(work)
