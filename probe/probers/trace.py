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

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from probe.results import NO_RESPONSE


@dataclass(frozen=True, slots=True)
class Hop:
    """What came back for one TTL: the answering address (None: silence)."""

    ttl: int
    address: str | None
    rtt_seconds: float | None
    reason: str  # time-exceeded, syn-ack, reset, an ICMP unreachable reason, no-response

    @property
    def answered(self) -> bool:
        return self.address is not None and self.reason != NO_RESPONSE


@dataclass(frozen=True, slots=True)
class TraceResult:
    """The hops towards one address:port of one target, in TTL order."""

    target: str
    dependency: str
    address: str
    port: int
    hops: tuple[Hop, ...]

    @property
    def reached(self) -> bool:
        """True when the destination itself answered (SYN-ACK or RST)."""
        return any(h.reason in ("syn-ack", "reset") and h.address == self.address
                   for h in self.hops)

    @property
    def last_answering(self) -> Hop | None:
        answered = [h for h in self.hops if h.answered]
        return answered[-1] if answered else None

    @property
    def stopped_after(self) -> Hop | None:
        """The last hop that answered when the trace never reached the target:
        the device after it is where packets vanish."""
        return None if self.reached else self.last_answering


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
