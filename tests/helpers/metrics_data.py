"""Rounds made by hand for the metrics tests (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

from probe.results import (
    ApimCheck,
    Attempt,
    AzureContext,
    AzureReadError,
    DnsResult,
    DnsStatus,
    Finding,
    Hop,
    HttpResult,
    PortState,
    RoundResult,
    Severity,
    TcpResult,
    TraceResult,
)

H = "apimlab.management.azure-api.test"
BLOB = "apimlabstore.blob.core.windows.test"
GATEWAY_STATUS = "https://apimlab.azure-api.test/status-0123456789abcdef"


def tcp(target: str, host: str, address: str | None, port: int, state: PortState, reason: str,
        expected: PortState = PortState.OPEN, rtts: tuple[float | None, ...] = (),
        dependency: str = "other") -> TcpResult:
    attempts = tuple(Attempt(state, reason if r is not None else "no-response", r) for r in rtts)
    return TcpResult(target, dependency, host, address, port, state, reason, expected,
                     state is expected, True, "connect", attempts)


def sample_round(*, with_orders: bool = True, rtt: float = 0.0012) -> RoundResult:
    rows = [
        tcp("management", H, "198.18.3.10", 3443, PortState.OPEN, "syn-ack",
            rtts=(rtt, rtt, rtt), dependency="management"),
        tcp("sql", "apimlab-sql.database.windows.test", "198.18.3.14", 1433,
            PortState.FILTERED, "no-response", rtts=(None, None, None), dependency="sql"),
        tcp("blob", BLOB, None, 443, PortState.UNRESOLVED, "refused", dependency="storage"),
    ]
    if with_orders:
        rows.append(tcp("orders", "orders.backend.test", "198.18.3.20", 8080,
                        PortState.CLOSED, "reset", rtts=(0.0004, 0.0004, 0.0004)))
    dns = (
        DnsResult(H, "198.18.2.53", DnsStatus.OK, "NOERROR", ("198.18.3.10",), (), 0.002),
        DnsResult(H, "198.18.2.54", DnsStatus.OK, "NOERROR", ("198.18.3.10",), (), 0.003),
        DnsResult(BLOB, "198.18.2.54", DnsStatus.REFUSED, "REFUSED", (), (), 0.001),
    )
    finding = Finding("dns-resolver-fails", Severity.CRITICAL, BLOB, "fails", ("e",), "fix")
    traces = (
        TraceResult("sql", "sql", "198.18.3.14", 1433,
                    (Hop(1, "198.18.1.1", 0.0002, "time-exceeded"),
                     Hop(2, None, None, "no-response"))),
        TraceResult("management", "management", "198.18.3.10", 3443,
                    (Hop(1, "198.18.1.1", 0.0002, "time-exceeded"),
                     Hop(2, "198.18.3.10", 0.0004, "syn-ack"))),
    )
    health = (
        HttpResult(GATEWAY_STATUS, "198.18.3.10", 200, True, "200 OK", 0.012, "TLSv1.3"),
        HttpResult(GATEWAY_STATUS, "198.18.3.11", None, False, "conn-refused", 0.001),
    )
    return RoundResult(datetime(2026, 11, 23, 12, 0, tzinfo=UTC), 1.25,
                       ("198.18.2.54", "198.18.2.53"), dns, tuple(rows), (finding,),
                       traces=traces, health=health, method="connect")


# APIM's own view of two dependencies and the live Azure context of a round
APIM_VIEW = (
    ApimCheck("apimlabstore.blob.core.windows.test", "success", "", "BlobStorage", False,
              "2026-11-23T11:50:00Z", "2026-11-23T09:00:00Z", "West Europe", "ARM networkstatus",
              "storage", "outbound", BLOB, 443),
    ApimCheck("LocalGatewayRedis", "failure", "timed out", "Redis", False,
              "2026-11-23T11:50:00Z", "2026-11-23T11:40:00Z", "West Europe",
              "ARM networkstatus", "cache", "internal"),
)
AZURE = AzureContext(
    agent=(("region", "westeurope"), ("vm", "probe-vm")),
    apim="/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
         "Microsoft.ApiManagement/service/apimlab",
    read_at="2026-11-23T11:55:00Z", age_seconds=300.0,
    errors=(AzureReadError("effective_nsg", "403", "HTTP 403 AuthorizationFailed",
                           "Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/"
                           "action", "/subscriptions/x/nic"),),
    error_counts=(("effective_nsg", "403", 2), ("networkstatus", "429", 1)), requests=9,
    status_updated="2026-11-23T11:50:00Z", nsg="nsg-apim", route_table="rt-apim")
