"""Evidence lines and subjects shared by the rules (and the table exporter)."""

from __future__ import annotations

from probe.results import DnsResult, RoundResult, TcpResult, by_name


def describe_dns(result: DnsResult) -> str:
    """One line of evidence for a DNS answer."""
    timing = f"{result.duration_seconds * 1000:.1f} ms"
    if result.ok:
        return f"{result.resolver}: {', '.join(result.addresses)} ({timing})"
    rcode = f" ({result.rcode})" if result.rcode and result.rcode != "NOERROR" else ""
    detail = f": {result.detail}" if result.detail else ""
    return f"{result.resolver}: {result.status.value}{rcode}{detail} ({timing})"


def where(result: TcpResult) -> str:
    """address:port, IPv6 in brackets (the host name when nothing resolved)."""
    address = result.address or result.host
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{result.port}"


def describe_tcp(result: TcpResult) -> str:
    """One line of evidence for a probed address: what, how, what answered, who."""
    name = f"{result.target} ({result.host} -> {where(result)})" if result.address else \
        f"{result.target} ({where(result)})"
    line = f"{name}: {result.state.value}/{result.reason} by {result.method}"
    if result.attempts:
        line += f", {result.received}/{result.sent} attempts answered"
    if result.responder:
        if result.address and result.responder != result.address:
            line += f", answered by {result.responder} (in the path, not the target)"
        else:
            line += f", answered by {result.responder} (the target itself)"
    return line


class DnsAnswers:
    """One round's DNS answers by name, indexed once (a rule builds it once per
    round): every look-up is a dict access, so a rule stays linear in targets."""

    __slots__ = ("_by_name", "_primary")

    def __init__(self, round_: RoundResult) -> None:
        self._primary = round_.resolvers[0] if round_.resolvers else None
        self._by_name = by_name(round_.dns)

    def of(self, host: str) -> list[DnsResult]:
        """Every resolver's answer for ``host``, in the round's order."""
        return self._by_name.get(host.rstrip(".").lower(), [])

    def primary(self, host: str) -> DnsResult | None:
        """The primary resolver's answer for ``host``, if it was asked."""
        return next((d for d in self.of(host) if d.resolver == self._primary), None)

    def evidence(self, host: str) -> tuple[str, ...]:
        name = host.rstrip(".").lower()
        return tuple(f"DNS {name} via {describe_dns(d)}" for d in self.of(host))

    def tcp_evidence(self, result: TcpResult) -> tuple[str, ...]:
        """The probe, then every resolver's answer for its host."""
        return (describe_tcp(result), *self.evidence(result.host))


def subject(result: TcpResult) -> str:
    return f"{result.target} {result.host}:{result.port}"
