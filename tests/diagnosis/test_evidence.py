"""probe/diagnosis/evidence.py: the evidence lines a user reads.

Hand-built rounds, no sockets."""

from __future__ import annotations

import pytest

from probe.diagnosis import (
    describe_dns,
    describe_tcp,
)
from probe.results import (
    DnsResult,
    DnsStatus,
    PortState,
)
from tests.helpers.rounds import (
    DNS_A,
    GW,
    NXDOMAIN,
    fail,
    ok,
    tcp,
)


def test_describe_tcp_unresolved_and_ipv6() -> None:
    unresolved = tcp("x", "sql", "x.test", None, 1433, PortState.UNRESOLVED, "nxdomain")
    assert describe_tcp(unresolved) == "x (x.test:1433): unresolved/nxdomain by syn"
    v6 = tcp("y", "sql", "y.test", "2001:db8::1", 1433, PortState.OPEN, "syn-ack",
             responder="2001:db8::1")
    assert "[2001:db8::1]:1433" in describe_tcp(v6)
    assert describe_tcp(v6).endswith("answered by 2001:db8::1 (the target itself)")


@pytest.mark.parametrize(("result", "line"), [
    (ok(GW, DNS_A, "10.0.0.5", "10.0.0.6"), "10.1.0.4: 10.0.0.5, 10.0.0.6 (12.3 ms)"),
    (fail(GW, DNS_A, NXDOMAIN, "NXDOMAIN"), "10.1.0.4: nxdomain (NXDOMAIN) (2000.0 ms)"),
    (fail(GW, DNS_A, DnsStatus.NODATA, "NOERROR"), "10.1.0.4: nodata (2000.0 ms)"),
    (fail(GW, DNS_A, DnsStatus.TIMEOUT, None, "no answer within 2 s"),
     "10.1.0.4: timeout: no answer within 2 s (2000.0 ms)"),
])
def test_describe_dns(result: DnsResult, line: str) -> None:
    assert describe_dns(result) == line
