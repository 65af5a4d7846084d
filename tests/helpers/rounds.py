"""Hand-built rounds for the diagnosis tests (tests/diagnosis/): DNS answers,
probed addresses and the round that holds them, without a socket."""

from __future__ import annotations

from datetime import UTC, datetime

from probe.diagnosis import Context
from probe.probers.http import HttpResult
from probe.results import (
    Attempt,
    DnsResult,
    DnsStatus,
    Finding,
    PortState,
    RoundResult,
    TcpResult,
)

# The lab's custom DNS (primary, no forwarder) and its stand-in for Azure DNS.
CUSTOM = "198.18.2.54"
AZURE = "198.18.2.53"
LAB_CONTEXT = Context(reference_resolvers=(AZURE,))

# Names the stories use (only data: never resolved).
BLOB = "apimst.blob.core.windows.net"
SQL = "apim-sql.database.windows.net"
MGMT = "apim.management.azure-api.net"
GW = "contoso.azure-api.net"
NXDOMAIN = DnsStatus.NXDOMAIN

# Custom DNS servers by address only (none of them a reference resolver), and
# Azure DNS by its real address (the default reference): data, never asked.
DNS_A, DNS_B, DNS_C, AZURE_DNS = "10.1.0.4", "10.1.0.5", "10.1.0.6:5353", "168.63.129.16"


def dns(name: str, resolver: str, *addresses: str, status: DnsStatus = DnsStatus.OK,
        ) -> DnsResult:
    rcode = {DnsStatus.OK: "NOERROR", DnsStatus.NXDOMAIN: "NXDOMAIN",
             DnsStatus.SERVFAIL: "SERVFAIL", DnsStatus.REFUSED: "REFUSED"}.get(status)
    return DnsResult(name, resolver, status, rcode, addresses if status is DnsStatus.OK else (),
                     (), 0.004)


def ok(name: str, resolver: str, *addresses: str) -> DnsResult:
    return DnsResult(name, resolver, DnsStatus.OK, "NOERROR", addresses, (), 0.0123)


def fail(name: str, resolver: str, status: DnsStatus, rcode: str | None = None,
         detail: str = "") -> DnsResult:
    return DnsResult(name, resolver, status, rcode, (), (), 2.0, detail)


def tcp(target: str, dependency: str, host: str, address: str | None, port: int,
        state: PortState, reason: str, *, responder: str | None = None,
        required: bool = True, expected: PortState = PortState.OPEN) -> TcpResult:
    attempts: tuple[Attempt, ...] = ()
    if address is not None:
        attempts = tuple(Attempt(state, reason, None if reason == "no-response" else 0.001,
                                 responder) for _ in range(3))
    return TcpResult(target, dependency, host, address, port, state, reason, expected,
                     state is expected, required, "syn", attempts, responder)


def round_of(*, dns_results: tuple[DnsResult, ...] = (), tcp_results: tuple[TcpResult, ...] = (),
             resolvers: tuple[str, ...] = (CUSTOM, AZURE)) -> RoundResult:
    return RoundResult(datetime(2026, 11, 23, tzinfo=UTC), 0.5, resolvers, dns_results,
                       tcp_results)


def dns_round(*answers: DnsResult, resolvers: tuple[str, ...] = (DNS_A, DNS_B)) -> RoundResult:
    return RoundResult(datetime(2026, 1, 1, tzinfo=UTC), 0.5, resolvers, answers, ())


def health(reason: str, status: int | None, ok: bool = False) -> HttpResult:
    """A gateway health check (GET /status-0123456789abcdef) and its outcome."""
    return HttpResult("https://apim.azure-api.net/status-0123456789abcdef", "198.18.2.10",
                      status, ok, reason, 0.012, "TLSv1.3" if status else None)


def ids(findings: tuple[Finding, ...] | list[Finding]) -> list[str]:
    return [f.id for f in findings]


def only(findings: tuple[Finding, ...] | list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]
