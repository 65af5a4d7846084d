"""A hand-built round for the report exporters' tests (table and JSON)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from probe.results import (
    Attempt,
    DnsResult,
    DnsStatus,
    Finding,
    PortState,
    RoundResult,
    Severity,
    TcpResult,
)

OPEN, CLOSED, FILTERED, UNRESOLVED = (PortState.OPEN, PortState.CLOSED, PortState.FILTERED,
                                      PortState.UNRESOLVED)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
README = Path(__file__).resolve().parents[2] / "README.md"

SYN_ACK = Attempt(OPEN, "syn-ack", 0.010, "10.0.0.5")
SILENT = Attempt(FILTERED, "no-response")
ADMIN = Attempt(FILTERED, "admin-prohibited", 0.002, "10.0.1.1", 63)


def tcp(target: str, address: str | None, port: int, state: PortState, reason: str,
        attempts: tuple[Attempt, ...] = (), *, host: str = "contoso.azure-api.net",
        expected: PortState = OPEN, required: bool = True, dependency: str = "gateway",
        responder: str | None = None, reply_ttl: int | None = None) -> TcpResult:
    return TcpResult(target, dependency, host, address, port, state, reason, expected,
                     state == expected, required, "connect", attempts, responder, reply_ttl)


GATEWAY = tcp("gateway", "10.0.0.5", 443, OPEN, "syn-ack",
              (Attempt(OPEN, "syn-ack", 0.010, "10.0.0.5"), SILENT,
               Attempt(OPEN, "syn-ack", 0.030, "10.0.0.5")), responder="10.0.0.5")
SQL = tcp("sql", "10.0.3.4", 1433, FILTERED, "admin-prohibited", (ADMIN, ADMIN, ADMIN),
          host="contoso-sql.database.windows.net", dependency="sql", responder="10.0.1.1",
          reply_ttl=63)
MONITOR = tcp("monitor", "10.0.4.4", 1886, FILTERED, "no-response", (SILENT, SILENT, SILENT),
              host="gcs.prod.monitoring.core.windows.net", dependency="monitor", required=False)
KV = tcp("keyvault", None, 443, UNRESOLVED, "nxdomain", host="contoso-kv.vault.azure.net",
         dependency="keyvault")
V6 = tcp("gateway-v6", "2001:db8::5", 443, OPEN, "syn-ack",
         (Attempt(OPEN, "syn-ack", 0.020, "2001:db8::5"),), responder="2001:db8::5")

CUSTOM, AZURE = "10.0.0.4", "168.63.129.16"
DNS = (
    DnsResult("contoso.azure-api.net", CUSTOM, DnsStatus.OK, "NOERROR", ("10.0.0.5",),
              ("apimgmt.cloudapp.net",), 0.0021),
    DnsResult("contoso.azure-api.net", AZURE, DnsStatus.OK, "NOERROR", ("10.0.0.5",),
              ("apimgmt.cloudapp.net",), 0.0030),
    DnsResult("contoso-kv.vault.azure.net", CUSTOM, DnsStatus.NXDOMAIN, "NXDOMAIN", (), (),
              0.0012),
    DnsResult("contoso-kv.vault.azure.net", AZURE, DnsStatus.OK, "NOERROR", ("10.0.2.4",),
              ("contoso-kv.privatelink.vaultcore.azure.net",), 0.0040),
    DnsResult("gcs.prod.monitoring.core.windows.net", CUSTOM, DnsStatus.OK, "NOERROR",
              ("10.0.4.4",), (), 0.001),
    DnsResult("gcs.prod.monitoring.core.windows.net", AZURE, DnsStatus.TIMEOUT, None, (), (),
              2.0, "no answer within 2 s"),
)
FINDING = Finding("dns-custom-not-forwarding", Severity.CRITICAL, "contoso-kv.vault.azure.net",
                  "contoso-kv.vault.azure.net fails on custom DNS 10.0.0.4 (nxdomain)",
                  ("10.0.0.4: nxdomain (NXDOMAIN) (1.2 ms)", "168.63.129.16: 10.0.2.4 (4.0 ms)"),
                  "Add a conditional forwarder to Azure DNS 168.63.129.16.")
STARTED = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def round_of(tcp_rows: tuple[TcpResult, ...] = (GATEWAY, SQL, MONITOR, KV, V6),
             dns: tuple[DnsResult, ...] = DNS,
             findings: tuple[Finding, ...] = (FINDING,)) -> RoundResult:
    return RoundResult(STARTED, 0.5, (CUSTOM, AZURE), dns, tcp_rows, findings, method="syn")


def line_of(text: str, start: str) -> str:
    (line,) = [x for x in text.splitlines() if x.startswith(start)]
    return line
