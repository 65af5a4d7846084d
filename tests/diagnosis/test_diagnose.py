"""probe.diagnosis: diagnose() over every rule, and the context a config implies.

Hand-built rounds, no sockets."""

from __future__ import annotations

from probe.diagnosis import (
    DEFAULT_CONTEXT,
    RULES,
    Context,
    context_from,
    diagnose,
)
from probe.results import (
    DnsStatus,
    PortState,
    Severity,
)
from tests.helpers.rounds import (
    AZURE,
    CUSTOM,
    DNS_A,
    DNS_B,
    GW,
    LAB_CONTEXT,
    MGMT,
    SQL,
    dns,
    dns_round,
    fail,
    health,
    ids,
    ok,
    round_of,
    tcp,
)


def test_diagnose_orders_by_severity_then_id() -> None:
    rows = (tcp("monitor", "monitor", "m.test", "198.18.2.21", 1886, PortState.FILTERED,
                "no-response", required=False),
            tcp("orders", "backend", "o.test", "198.18.2.40", 8080, PortState.CLOSED, "reset"),
            tcp("management", "management", MGMT, "198.18.2.5", 3443, PortState.FILTERED,
                "no-response"))
    found = diagnose(round_of(tcp_results=rows))
    assert ids(found) == ["backend-refused", "management-unreachable", "outbound-dropped"]
    assert [f.severity for f in found] == [Severity.CRITICAL, Severity.CRITICAL,
                                           Severity.WARNING]


def test_diagnose_default_context_equals_explicit_default() -> None:
    row = tcp("sql", "sql", SQL, "198.18.2.20", 1433, PortState.FILTERED, "no-response")
    r = round_of(tcp_results=(row,))
    assert diagnose(r) == diagnose(r, DEFAULT_CONTEXT) == diagnose(r, None, RULES)


def test_a_healthy_round_has_no_findings() -> None:
    rows = (tcp("gateway", "gateway", "apim.azure-api.net", "198.18.2.5", 443, PortState.OPEN,
                "syn-ack"),
            tcp("sql", "sql", SQL, "198.18.2.20", 1433, PortState.OPEN, "syn-ack"))
    r = round_of(dns_results=(dns("apim.azure-api.net", CUSTOM, "198.18.2.5"),
                              dns("apim.azure-api.net", AZURE, "198.18.2.5")),
                 tcp_results=rows)
    assert diagnose(r, Context(mode="internal", instance_addresses=("198.18.2.5",))) == ()


def test_every_rule_is_pure_and_repeatable() -> None:
    row = tcp("sql", "sql", SQL, "198.18.2.20", 1433, PortState.FILTERED, "admin-prohibited",
              responder="198.18.1.1")
    r = round_of(tcp_results=(row,))
    assert diagnose(r, LAB_CONTEXT) == diagnose(r, LAB_CONTEXT)


def test_context_from_config() -> None:
    from probe.config import parse

    config = parse('[dns]\nresolvers = ["198.18.2.53"]\n[apim]\nname = "apimlab"\n'
                   'mode = "internal"\ninstance_address = "198.18.2.5"\n'
                   'azure_dns = ["198.18.2.53"]\nforbidden_hops = ["198.18.3.0/24"]\n')
    ctx = context_from(config)
    assert ctx == Context(mode="internal", instance="apimlab",
                          instance_addresses=("198.18.2.5",), reference_resolvers=(AZURE,),
                          forbidden_hops=("198.18.3.0/24",))
    bare = parse('[dns]\nresolvers = ["198.18.2.53"]\n')
    assert context_from(bare) == DEFAULT_CONTEXT


def test_context_from_carries_traces_and_health() -> None:
    from probe.config import parse

    check = health("200 OK", 200, True)
    ctx = context_from(parse('[dns]\nresolvers = ["198.18.2.53"]\n'), health=(check,))
    assert ctx.health == (check,) and ctx.traces == ()


def test_diagnose_puts_critical_findings_first() -> None:
    round_ = dns_round(
        ok("a.contoso.internal", DNS_A, "10.0.0.5"), ok("a.contoso.internal", DNS_B, "10.0.0.6"),
        ok("b.contoso.internal", DNS_A, "10.0.0.5"),
        fail("b.contoso.internal", DNS_B, DnsStatus.TIMEOUT),
        fail("z.contoso.internal", DNS_A, DnsStatus.NXDOMAIN, "NXDOMAIN"),
        ok("z.contoso.internal", DNS_B, "10.0.0.7"),
        fail("c.contoso.internal", DNS_A, DnsStatus.SERVFAIL, "SERVFAIL"),
        ok("c.contoso.internal", DNS_B, "10.0.0.8"),
    )
    assert [(f.severity, f.id, f.subject) for f in diagnose(round_)] == [
        (Severity.CRITICAL, "dns-resolver-fails", "c.contoso.internal"),
        (Severity.CRITICAL, "dns-resolver-fails", "z.contoso.internal"),
        (Severity.WARNING, "dns-answers-differ", "a.contoso.internal"),
        (Severity.WARNING, "dns-resolver-fails", "b.contoso.internal"),
    ]


def test_diagnose_of_a_healthy_round_is_empty() -> None:
    assert diagnose(dns_round(ok(GW, DNS_A, "10.0.0.5"), ok(GW, DNS_B, "10.0.0.5"))) == ()
    assert diagnose(dns_round()) == ()
