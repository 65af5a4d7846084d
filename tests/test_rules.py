"""Diagnosis rules, one story at a time, on hand-built rounds (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from probe.diagnosis import (
    DEFAULT_CONTEXT,
    RULES,
    Context,
    apim_addresses,
    configuration,
    context_from,
    describe_tcp,
    diagnose,
    dns_disagreement,
    forbidden_path,
    gateway_health,
    management,
    outbound_blocked,
    refused,
)
from probe.probers.http import HttpResult
from probe.probers.trace import Hop, TraceResult
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

CUSTOM = "198.18.2.54"
AZURE = "198.18.2.53"
LAB_CONTEXT = Context(reference_resolvers=(AZURE,))


def dns(name: str, resolver: str, *addresses: str, status: DnsStatus = DnsStatus.OK,
        ) -> DnsResult:
    rcode = {DnsStatus.OK: "NOERROR", DnsStatus.NXDOMAIN: "NXDOMAIN",
             DnsStatus.SERVFAIL: "SERVFAIL", DnsStatus.REFUSED: "REFUSED"}.get(status)
    return DnsResult(name, resolver, status, rcode, addresses if status is DnsStatus.OK else (),
                     (), 0.004)


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


def ids(findings: tuple[Finding, ...] | list[Finding]) -> list[str]:
    return [f.id for f in findings]


def only(findings: tuple[Finding, ...] | list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


# --------------------------------------------------------------------------
# DNS: custom DNS without a forwarder vs a generic resolver failure

BLOB = "apimst.blob.core.windows.net"


@pytest.mark.parametrize("status", [DnsStatus.REFUSED, DnsStatus.SERVFAIL, DnsStatus.NXDOMAIN,
                                    DnsStatus.TIMEOUT])
def test_custom_dns_not_forwarding_primary(status: DnsStatus) -> None:
    r = round_of(dns_results=(dns(BLOB, CUSTOM, status=status), dns(BLOB, AZURE, "198.18.2.10")))
    f = only(list(dns_disagreement(r, LAB_CONTEXT)))
    assert f.id == "dns-custom-not-forwarding"
    assert f.severity is Severity.CRITICAL  # the primary is the one failing
    assert f.subject == BLOB
    assert CUSTOM in f.summary and AZURE in f.summary and status.value in f.summary
    assert any(e.startswith(f"{CUSTOM}: {status.value}") for e in f.evidence)
    assert any(e.startswith(f"{AZURE}: 198.18.2.10") for e in f.evidence)
    assert "168.63.129.16" in f.remedy and "forwarder" in f.remedy


def test_custom_dns_not_forwarding_secondary_is_a_warning() -> None:
    r = round_of(dns_results=(dns(BLOB, AZURE, "198.18.2.10"),
                              dns(BLOB, CUSTOM, status=DnsStatus.SERVFAIL)),
                 resolvers=(AZURE, CUSTOM))
    f = only(list(dns_disagreement(r, LAB_CONTEXT)))
    assert (f.id, f.severity) == ("dns-custom-not-forwarding", Severity.WARNING)


def test_default_reference_is_azure_dns() -> None:
    r = round_of(dns_results=(dns(BLOB, "10.0.0.4", status=DnsStatus.REFUSED),
                              dns(BLOB, "168.63.129.16", "20.1.2.3")),
                 resolvers=("10.0.0.4", "168.63.129.16"))
    assert ids(diagnose(r)) == ["dns-custom-not-forwarding"]


def test_without_a_reference_resolver_the_finding_stays_generic() -> None:
    r = round_of(dns_results=(dns(BLOB, CUSTOM, status=DnsStatus.REFUSED),
                              dns(BLOB, AZURE, "198.18.2.10")))
    f = only(list(dns_disagreement(r)))  # default context: 168.63.129.16 is not in the round
    assert (f.id, f.severity) == ("dns-resolver-fails", Severity.CRITICAL)


def test_reference_failing_while_custom_answers_is_generic() -> None:
    r = round_of(dns_results=(dns(BLOB, CUSTOM, "198.18.2.10"),
                              dns(BLOB, AZURE, status=DnsStatus.TIMEOUT)))
    f = only(list(dns_disagreement(r, LAB_CONTEXT)))
    assert (f.id, f.severity) == ("dns-resolver-fails", Severity.WARNING)


def test_dns_agreement_and_single_resolver_give_nothing() -> None:
    agree = round_of(dns_results=(dns(BLOB, CUSTOM, "198.18.2.10"),
                                  dns(BLOB, AZURE, "198.18.2.10")))
    single = round_of(dns_results=(dns(BLOB, CUSTOM, status=DnsStatus.NXDOMAIN),),
                      resolvers=(CUSTOM,))
    both_fail = round_of(dns_results=(dns(BLOB, CUSTOM, status=DnsStatus.NXDOMAIN),
                                      dns(BLOB, AZURE, status=DnsStatus.NXDOMAIN)))
    for r in (agree, single, both_fail):
        assert list(dns_disagreement(r, LAB_CONTEXT)) == []


def test_dns_answers_differ() -> None:
    r = round_of(dns_results=(dns(BLOB, CUSTOM, "198.18.2.10"), dns(BLOB, AZURE, "198.18.2.11")))
    f = only(list(dns_disagreement(r, LAB_CONTEXT)))
    assert (f.id, f.severity) == ("dns-answers-differ", Severity.WARNING)


def test_dns_rule_callable_without_context() -> None:
    r = round_of(dns_results=(dns(BLOB, CUSTOM, status=DnsStatus.REFUSED),
                              dns(BLOB, AZURE, "198.18.2.10")))
    assert ids(list(dns_disagreement(r))) == ["dns-resolver-fails"]


# --------------------------------------------------------------------------
# outbound dependency dropped vs rejected

SQL = "apim-sql.database.windows.net"


def test_dropped_dependency_names_the_service_tag() -> None:
    row = tcp("sql", "sql", SQL, "198.18.2.20", 1433, PortState.FILTERED, "no-response")
    r = round_of(dns_results=(dns(SQL, CUSTOM, "198.18.2.20"),), tcp_results=(row,))
    f = only(list(outbound_blocked(r)))
    assert (f.id, f.severity) == ("outbound-dropped", Severity.CRITICAL)
    assert f.subject == f"sql {SQL}:1433"
    assert "Sql" in f.remedy and "1433" in f.remedy and "65500" in f.remedy
    assert "0/3 attempts answered" in f.evidence[0]
    assert f.evidence[1] == f"DNS {SQL} via {CUSTOM}: 198.18.2.20 (4.0 ms)"


@pytest.mark.parametrize(("dependency", "tag"), [
    ("storage", "Storage"), ("keyvault", "AzureKeyVault"), ("monitor", "AzureMonitor"),
    ("eventhub", "EventHub"), ("entra", "AzureActiveDirectory")])
def test_dropped_dependency_tags(dependency: str, tag: str) -> None:
    row = tcp(dependency, dependency, "x.test", "198.18.2.20", 443, PortState.FILTERED,
              "no-response")
    assert f"service tag {tag}" in only(list(outbound_blocked(round_of(tcp_results=(row,))))
                                        ).remedy


def test_optional_dependency_dropped_is_a_warning() -> None:
    row = tcp("monitor", "monitor", "m.test", "198.18.2.21", 1886, PortState.FILTERED,
              "no-response", required=False)
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("outbound-dropped", Severity.WARNING)


@pytest.mark.parametrize("reason", ["admin-prohibited", "host-unreach", "net-unreach",
                                    "host-prohibited", "net-prohibited", "time-exceeded"])
def test_rejected_by_a_device_in_the_path(reason: str) -> None:
    row = tcp("storage", "storage", BLOB, "198.18.2.10", 443, PortState.FILTERED, reason,
              responder="198.18.1.1")
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert f.id == "outbound-rejected-path"
    assert "198.18.1.1" in f.summary and reason in f.summary
    assert "in the path, not the target" in f.evidence[0]


@pytest.mark.parametrize("responder", ["198.18.2.10", None])
def test_rejected_by_the_target_itself(responder: str | None) -> None:
    row = tcp("storage", "storage", BLOB, "198.18.2.10", 443, PortState.FILTERED,
              "port-unreach", responder=responder)
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert f.id == "outbound-rejected-host"
    assert "target host itself" in f.summary


@pytest.mark.parametrize("reason", ["local-prohibited", "no-route"])
def test_blocked_locally(reason: str) -> None:
    row = tcp("kv", "keyvault", "kv.test", "198.18.2.30", 443, PortState.FILTERED, reason)
    assert ids(list(outbound_blocked(round_of(tcp_results=(row,))))) == [
        "outbound-blocked-locally"]


def test_outbound_rule_ignores_ok_expected_filtered_unresolved_and_own_rules() -> None:
    rows = (
        tcp("ok", "storage", "a.test", "198.18.2.10", 443, PortState.OPEN, "syn-ack"),
        tcp("meant", "storage", "b.test", "198.18.2.11", 443, PortState.FILTERED, "no-response",
            expected=PortState.FILTERED),
        tcp("nodns", "storage", "c.test", None, 443, PortState.UNRESOLVED, "nxdomain"),
        tcp("mgmt", "management", "d.test", "198.18.2.12", 3443, PortState.FILTERED,
            "no-response"),
        tcp("cfg", "configuration", "e.test", "198.18.2.13", 443, PortState.FILTERED,
            "no-response"),
        tcp("odd", "storage", "f.test", "198.18.2.14", 443, PortState.FILTERED, "error"),
    )
    assert list(outbound_blocked(round_of(tcp_results=rows))) == []


# --------------------------------------------------------------------------
# backend refusing vs an Azure dependency resetting


@pytest.mark.parametrize("reason", ["reset", "conn-refused"])
def test_backend_refused_is_transport_error_111(reason: str) -> None:
    row = tcp("orders", "backend", "orders.backend.test", "198.18.2.40", 8080, PortState.CLOSED,
              reason, responder="198.18.2.40")
    f = only(list(refused(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("backend-refused", Severity.CRITICAL)
    assert "transportErrorCode 111" in f.summary and "the host" in f.summary


def test_backend_reset_by_a_middlebox_names_it() -> None:
    row = tcp("orders", "other", "orders.test", "198.18.2.40", 8080, PortState.CLOSED, "reset",
              responder="198.18.1.1", required=False)
    f = only(list(refused(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("backend-refused", Severity.WARNING)
    assert "198.18.1.1 (in the path)" in f.summary


def test_azure_dependency_reset_is_not_a_backend() -> None:
    row = tcp("sql", "sql", SQL, "198.18.2.20", 1433, PortState.CLOSED, "reset")
    f = only(list(refused(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("outbound-refused", Severity.WARNING)


def test_refused_ignores_expected_closed_and_filtered() -> None:
    rows = (tcp("x", "backend", "x.test", "198.18.2.40", 81, PortState.CLOSED, "reset",
                expected=PortState.CLOSED),
            tcp("y", "backend", "y.test", "198.18.2.41", 81, PortState.FILTERED, "no-response"))
    assert list(refused(round_of(tcp_results=rows))) == []


# --------------------------------------------------------------------------
# management endpoint and APIM's own names

MGMT = "apim.management.azure-api.net"


@pytest.mark.parametrize(("state", "reason"), [
    (PortState.FILTERED, "no-response"), (PortState.CLOSED, "reset"),
    (PortState.FILTERED, "admin-prohibited")])
def test_management_unreachable(state: PortState, reason: str) -> None:
    row = tcp("management", "management", MGMT, "198.18.2.5", 3443, state, reason)
    f = only(list(management(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("management-unreachable", Severity.CRITICAL)
    assert "ApiManagement" in f.remedy and "3443" in f.remedy and "Internet" in f.remedy


def test_management_unresolved() -> None:
    row = tcp("management", "management", MGMT, None, 3443, PortState.UNRESOLVED, "nxdomain")
    r = round_of(dns_results=(dns(MGMT, CUSTOM, status=DnsStatus.NXDOMAIN),), tcp_results=(row,))
    f = only(list(management(r)))
    assert (f.id, f.severity) == ("management-unresolved", Severity.CRITICAL)
    assert any("nxdomain" in e for e in f.evidence)


def test_management_open_is_fine() -> None:
    row = tcp("management", "management", MGMT, "198.18.2.5", 3443, PortState.OPEN, "syn-ack")
    assert list(management(round_of(tcp_results=(row,)))) == []


def test_management_expected_closed_but_filtered_is_not_unreachable() -> None:
    row = tcp("management", "management", MGMT, "198.18.2.5", 3443, PortState.FILTERED,
              "no-response", expected=PortState.CLOSED)
    assert list(management(round_of(tcp_results=(row,)))) == []


def _mgmt_round(*addresses: str) -> RoundResult:
    rows = tuple(tcp("management", "management", MGMT, a, 3443, PortState.OPEN, "syn-ack")
                 for a in addresses)
    return round_of(dns_results=(dns(MGMT, CUSTOM, *addresses), dns(MGMT, AZURE, *addresses)),
                    tcp_results=rows)


def test_public_address_in_internal_mode() -> None:
    f = only(list(apim_addresses(_mgmt_round("20.50.1.2"), Context(mode="internal"))))
    assert (f.id, f.severity, f.subject) == ("apim-address-public", Severity.CRITICAL, MGMT)
    assert "20.50.1.2" in f.summary and "private DNS zone" in f.remedy
    assert f.evidence == (f"DNS {MGMT} via {CUSTOM}: 20.50.1.2 (4.0 ms)",)


def test_public_address_in_external_mode_is_expected() -> None:
    assert list(apim_addresses(_mgmt_round("20.50.1.2"), Context(mode="external"))) == []


def test_private_address_in_internal_mode_is_fine() -> None:
    ctx = Context(mode="internal", instance_addresses=("198.18.2.5",))
    assert list(apim_addresses(_mgmt_round("198.18.2.5"), ctx)) == []


def test_address_not_the_instance() -> None:
    ctx = Context(mode="internal", instance_addresses=("198.18.2.5",))
    f = only(list(apim_addresses(_mgmt_round("198.18.2.9"), ctx)))
    assert (f.id, f.severity) == ("apim-address-mismatch", Severity.CRITICAL)
    assert "198.18.2.9" in f.summary and "198.18.2.5" in f.summary


def test_address_rules_look_at_gateway_and_portal_once_per_name() -> None:
    gw = "apim.azure-api.net"
    rows = (tcp("gateway", "gateway", gw, "20.50.1.2", 443, PortState.OPEN, "syn-ack"),
            tcp("gateway-80", "gateway", gw, "20.50.1.2", 80, PortState.OPEN, "syn-ack"),
            tcp("storage", "storage", BLOB, "20.60.1.1", 443, PortState.OPEN, "syn-ack"))
    r = round_of(dns_results=(dns(gw, CUSTOM, "20.50.1.2"), dns(BLOB, CUSTOM, "20.60.1.1")),
                 tcp_results=rows)
    assert [f.subject for f in apim_addresses(r, Context(mode="internal"))] == [gw]


def test_address_rules_need_a_primary_answer_and_a_mode() -> None:
    row = tcp("management", "management", MGMT, None, 3443, PortState.UNRESOLVED, "nxdomain")
    r = round_of(dns_results=(dns(MGMT, CUSTOM, status=DnsStatus.NXDOMAIN),), tcp_results=(row,))
    assert list(apim_addresses(r, Context(mode="internal"))) == []
    assert list(apim_addresses(_mgmt_round("20.50.1.2"))) == []  # no mode, no address


# --------------------------------------------------------------------------
# self-hosted gateway

CFG = "apim.configuration.azure-api.net"


@pytest.mark.parametrize(("address", "state", "reason"), [
    ("198.18.2.6", PortState.FILTERED, "no-response"),
    ("198.18.2.6", PortState.CLOSED, "reset"),
    (None, PortState.UNRESOLVED, "servfail")])
def test_configuration_unreachable(address: str | None, state: PortState, reason: str) -> None:
    row = tcp("configuration", "configuration", CFG, address, 443, state, reason)
    f = only(list(configuration(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("configuration-unreachable", Severity.CRITICAL)
    assert reason in f.summary and "cached configuration" in f.summary
    assert "configuration.azure-api.net" in f.remedy


def test_configuration_open_is_fine() -> None:
    row = tcp("configuration", "configuration", CFG, "198.18.2.6", 443, PortState.OPEN,
              "syn-ack")
    assert list(configuration(round_of(tcp_results=(row,)))) == []


# --------------------------------------------------------------------------
# forced tunnelling


def _trace(*hops: tuple[int, str | None, str], dependency: str = "management") -> TraceResult:
    return TraceResult("management", dependency, "198.18.2.5", 3443, tuple(
        Hop(ttl, addr, None if addr is None else 0.002, reason) for ttl, addr, reason in hops))


def test_trace_through_a_forbidden_hop() -> None:
    trace = _trace((1, "198.18.1.1", "time-exceeded"), (2, "198.18.3.4", "time-exceeded"),
                   (3, "198.18.2.5", "syn-ack"))
    ctx = Context(forbidden_hops=("198.18.3.0/24",), traces=(trace,))
    f = only(list(forbidden_path(round_of(), ctx)))
    assert (f.id, f.severity) == ("path-forbidden-hop", Severity.CRITICAL)
    assert "198.18.3.4 (hop 2, forbidden: 198.18.3.0/24)" in f.summary
    assert f.evidence[1] == "trace ttl 2: 198.18.3.4 time-exceeded 2.0 ms"
    assert "ApiManagement" in f.remedy and "next hop Internet" in f.remedy


def test_trace_to_a_backend_through_a_forbidden_hop_is_a_warning() -> None:
    trace = _trace((1, "198.18.3.4", "time-exceeded"), (2, None, "no-response"),
                   dependency="backend")
    ctx = Context(forbidden_hops=("198.18.3.4",), traces=(trace,))
    assert only(list(forbidden_path(round_of(), ctx))).severity is Severity.WARNING


def test_clean_trace_and_no_forbidden_list_give_nothing() -> None:
    trace = _trace((1, "198.18.1.1", "time-exceeded"), (2, "198.18.2.5", "syn-ack"))
    assert list(forbidden_path(round_of(), Context(forbidden_hops=("198.18.3.0/24",),
                                                   traces=(trace,)))) == []
    assert list(forbidden_path(round_of(), Context(traces=(trace,)))) == []


def test_icmp_from_a_forbidden_device_proves_it_is_in_the_path() -> None:
    row = tcp("storage", "storage", BLOB, "198.18.2.10", 443, PortState.FILTERED,
              "admin-prohibited", responder="198.18.3.4")
    ctx = Context(forbidden_hops=("198.18.3.0/24",))
    found = diagnose(round_of(tcp_results=(row,)), ctx)
    assert sorted(ids(found)) == ["outbound-rejected-path", "path-forbidden-hop"]


# --------------------------------------------------------------------------
# diagnose(), context_from, evidence wording


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


def test_describe_tcp_unresolved_and_ipv6() -> None:
    unresolved = tcp("x", "sql", "x.test", None, 1433, PortState.UNRESOLVED, "nxdomain")
    assert describe_tcp(unresolved) == "x (x.test:1433): unresolved/nxdomain by syn"
    v6 = tcp("y", "sql", "y.test", "2001:db8::1", 1433, PortState.OPEN, "syn-ack",
             responder="2001:db8::1")
    assert "[2001:db8::1]:1433" in describe_tcp(v6)
    assert describe_tcp(v6).endswith("answered by 2001:db8::1 (the target itself)")


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


def test_custom_dns_failure_does_not_hide_a_disagreement() -> None:
    third = "198.18.2.55"
    r = round_of(dns_results=(dns(BLOB, CUSTOM, status=DnsStatus.REFUSED),
                              dns(BLOB, AZURE, "198.18.2.10"), dns(BLOB, third, "198.18.2.11")),
                 resolvers=(CUSTOM, AZURE, third))
    assert ids(list(dns_disagreement(r, LAB_CONTEXT))) == ["dns-custom-not-forwarding",
                                                           "dns-answers-differ"]


# --------------------------------------------------------------------------
# gateway health check


def _health(reason: str, status: int | None, ok: bool = False) -> HttpResult:
    return HttpResult("https://apim.azure-api.net/status-0123456789abcdef", "198.18.2.10",
                      status, ok, reason, 0.012, "TLSv1.3" if status else None)


def test_gateway_health_ok_gives_nothing() -> None:
    assert list(gateway_health(round_of(), Context(health=(_health("200 OK", 200, True),)))) == []


@pytest.mark.parametrize(("reason", "status"), [("503 Service Unavailable", 503),
                                                ("conn-refused", None),
                                                ("no-response", None),
                                                ("tls-error: WRONG_VERSION_NUMBER", None)])
def test_gateway_unhealthy(reason: str, status: int | None) -> None:
    f = only(list(gateway_health(round_of(), Context(health=(_health(reason, status),)))))
    assert (f.id, f.severity) == ("gateway-unhealthy", Severity.CRITICAL)
    assert reason in f.summary and "via 198.18.2.10" in f.summary
    assert f.evidence[0].startswith("GET https://apim.azure-api.net/status-0123456789abcdef "
                                    f"via 198.18.2.10: {reason} after 12 ms")


def test_gateway_certificate_untrusted() -> None:
    check = _health("certificate: self-signed certificate", None)
    f = only(list(gateway_health(round_of(), Context(health=(check,)))))
    assert (f.id, f.severity) == ("gateway-certificate-untrusted", Severity.WARNING)
    assert "self-signed certificate" in f.summary and "verify_tls" in f.remedy


def test_context_from_carries_traces_and_health() -> None:
    from probe.config import parse

    check = _health("200 OK", 200, True)
    ctx = context_from(parse('[dns]\nresolvers = ["198.18.2.53"]\n'), health=(check,))
    assert ctx.health == (check,) and ctx.traces == ()


def test_apim_own_endpoint_dropped_points_at_the_inbound_rule() -> None:
    row = tcp("gateway", "gateway", "apim.azure-api.net", "198.18.2.10", 443, PortState.FILTERED,
              "no-response")
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert f.id == "outbound-dropped" and "inbound NSG rule on the APIM subnet" in f.remedy


def test_backend_dropped_names_its_address_not_a_tag() -> None:
    row = tcp("orders", "backend", "orders.test", "198.18.2.14", 8443, PortState.FILTERED,
              "no-response")
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert "an outbound NSG rule to this address on port 8443" in f.remedy


def test_trace_and_responder_for_the_same_address_give_one_finding() -> None:
    trace = TraceResult("storage", "storage", "198.18.2.10", 443, (
        Hop(1, "198.18.3.4", 0.001, "time-exceeded"), Hop(2, "198.18.3.4", 0.001,
                                                          "admin-prohibited")))
    row = tcp("storage", "storage", BLOB, "198.18.2.10", 443, PortState.FILTERED,
              "admin-prohibited", responder="198.18.3.4")
    ctx = Context(forbidden_hops=("198.18.3.4",), traces=(trace,))
    found = list(forbidden_path(round_of(tcp_results=(row,)), ctx))
    assert len(found) == 1 and "hop 1" in found[0].summary


def test_the_destination_itself_is_not_a_forbidden_hop() -> None:
    trace = TraceResult("fw", "other", "198.18.3.4", 443, (
        Hop(1, "198.18.1.1", 0.001, "time-exceeded"), Hop(2, "198.18.3.4", 0.001, "syn-ack")))
    ctx = Context(forbidden_hops=("198.18.3.0/24",), traces=(trace,))
    assert list(forbidden_path(round_of(), ctx)) == []
