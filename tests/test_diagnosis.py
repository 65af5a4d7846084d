"""DNS disagreement on hand-built rounds: what a user is told, and how loudly.

(The other rules are held by tests/test_rules.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from probe.diagnosis import Context, describe_dns, diagnose, dns_disagreement
from probe.results import DnsResult, DnsStatus, Finding, RoundResult, Severity

# Custom DNS servers (none of them a reference resolver), and Azure DNS.
CUSTOM, OTHER, THIRD, AZURE = "10.1.0.4", "10.1.0.5", "10.1.0.6:5353", "168.63.129.16"
GW = "contoso.azure-api.net"
SQL = "contoso-sql.database.windows.net"
NXDOMAIN = DnsStatus.NXDOMAIN


def ok(name: str, resolver: str, *addresses: str) -> DnsResult:
    return DnsResult(name, resolver, DnsStatus.OK, "NOERROR", addresses, (), 0.0123)


def fail(name: str, resolver: str, status: DnsStatus, rcode: str | None = None,
         detail: str = "") -> DnsResult:
    return DnsResult(name, resolver, status, rcode, (), (), 2.0, detail)


def round_of(*dns: DnsResult, resolvers: tuple[str, ...] = (CUSTOM, OTHER)) -> RoundResult:
    return RoundResult(datetime(2026, 1, 1, tzinfo=UTC), 0.5, resolvers, dns, ())


def findings(*dns: DnsResult, resolvers: tuple[str, ...] = (CUSTOM, OTHER),
             context: Context | None = None) -> list[Finding]:
    round_ = round_of(*dns, resolvers=resolvers)
    return list(dns_disagreement(round_) if context is None else dns_disagreement(round_, context))


@pytest.mark.parametrize(("answers", "expected"), [
    # the primary fails where another resolver answers: traffic follows the primary
    ([fail(GW, CUSTOM, NXDOMAIN, "NXDOMAIN"), ok(GW, OTHER, "10.0.0.5")],
     [("dns-resolver-fails", Severity.CRITICAL)]),
    ([fail(GW, CUSTOM, DnsStatus.TIMEOUT), ok(GW, OTHER, "10.0.0.5")],
     [("dns-resolver-fails", Severity.CRITICAL)]),
    ([fail(GW, CUSTOM, DnsStatus.SERVFAIL, "SERVFAIL"), ok(GW, OTHER, "10.0.0.5")],
     [("dns-resolver-fails", Severity.CRITICAL)]),
    ([fail(GW, CUSTOM, DnsStatus.NODATA, "NOERROR"), ok(GW, OTHER, "10.0.0.5")],
     [("dns-resolver-fails", Severity.CRITICAL)]),
    # only a non-primary fails: traffic is fine, the comparison is not
    ([ok(GW, CUSTOM, "10.0.0.5"), fail(GW, OTHER, DnsStatus.REFUSED, "REFUSED")],
     [("dns-resolver-fails", Severity.WARNING)]),
    # both answer, differently
    ([ok(GW, CUSTOM, "10.0.0.5"), ok(GW, OTHER, "20.1.2.3")],
     [("dns-answers-differ", Severity.WARNING)]),
    ([ok(GW, CUSTOM, "10.0.0.5"), ok(GW, OTHER, "10.0.0.5", "10.0.0.6")],
     [("dns-answers-differ", Severity.WARNING)]),
    # agreement (in any order): nothing to say
    ([ok(GW, CUSTOM, "10.0.0.5"), ok(GW, OTHER, "10.0.0.5")], []),
    ([ok(GW, CUSTOM, "10.0.0.5", "10.0.0.6"), ok(GW, OTHER, "10.0.0.6", "10.0.0.5")], []),
    # all fail: no resolver answers where another does
    ([fail(GW, CUSTOM, NXDOMAIN, "NXDOMAIN"), fail(GW, OTHER, NXDOMAIN, "NXDOMAIN")], []),
    ([fail(GW, CUSTOM, NXDOMAIN, "NXDOMAIN"), fail(GW, OTHER, DnsStatus.TIMEOUT)], []),
])
def test_two_custom_resolvers(answers: list[DnsResult],
                              expected: list[tuple[str, Severity]]) -> None:
    assert [(f.id, f.severity) for f in findings(*answers)] == expected


@pytest.mark.parametrize(("answers", "expected"), [
    # Azure DNS answers, the VNet's DNS does not: a missing forwarder
    ([fail(GW, CUSTOM, NXDOMAIN, "NXDOMAIN"), ok(GW, AZURE, "10.0.0.5")],
     [("dns-custom-not-forwarding", Severity.CRITICAL)]),
    # Azure DNS itself failing while the custom one answers is the generic story
    ([ok(GW, CUSTOM, "10.0.0.5"), fail(GW, AZURE, DnsStatus.TIMEOUT)],
     [("dns-resolver-fails", Severity.WARNING)]),
    ([ok(GW, CUSTOM, "10.0.0.5"), ok(GW, AZURE, "20.1.2.3")],
     [("dns-answers-differ", Severity.WARNING)]),
])
def test_custom_resolver_against_azure_dns(answers: list[DnsResult],
                                           expected: list[tuple[str, Severity]]) -> None:
    got = findings(*answers, resolvers=(CUSTOM, AZURE))
    assert [(f.id, f.severity) for f in got] == expected


@pytest.mark.parametrize("answer", [ok(GW, CUSTOM, "10.0.0.5"),
                                    fail(GW, CUSTOM, NXDOMAIN, "NXDOMAIN")])
def test_one_resolver_has_nobody_to_disagree_with(answer: DnsResult) -> None:
    assert findings(answer, resolvers=(CUSTOM,)) == []


def test_primary_failure_names_the_failing_and_the_answering_resolver() -> None:
    (finding,) = findings(fail(GW, CUSTOM, NXDOMAIN, "NXDOMAIN"), ok(GW, OTHER, "10.0.0.5"))
    assert finding.subject == GW
    assert finding.summary == f"{GW} fails on 10.1.0.4 (nxdomain) but resolves on 10.1.0.5"
    assert finding.evidence == ("10.1.0.4: nxdomain (NXDOMAIN) (2000.0 ms)",
                                "10.1.0.5: 10.0.0.5 (12.3 ms)")
    # the remedy says what to do: forward to Azure DNS
    assert "forwarder" in finding.remedy
    assert "168.63.129.16" in finding.remedy


def test_differing_answers_show_both_answers() -> None:
    (finding,) = findings(ok(GW, CUSTOM, "10.0.0.5"), ok(GW, OTHER, "20.1.2.3"))
    assert finding.subject == GW
    assert finding.evidence == ("10.1.0.4: 10.0.0.5 (12.3 ms)", "10.1.0.5: 20.1.2.3 (12.3 ms)")


def test_a_failing_third_resolver_does_not_hide_differing_answers() -> None:
    got = findings(ok(GW, CUSTOM, "10.0.0.5"), ok(GW, OTHER, "20.1.2.3"),
                   fail(GW, THIRD, DnsStatus.TIMEOUT), resolvers=(CUSTOM, OTHER, THIRD))
    assert sorted((f.id, f.severity) for f in got) == [
        ("dns-answers-differ", Severity.WARNING), ("dns-resolver-fails", Severity.WARNING)]


def test_a_missing_forwarder_does_not_hide_differing_answers() -> None:
    got = findings(fail(GW, CUSTOM, NXDOMAIN, "NXDOMAIN"), ok(GW, AZURE, "10.0.0.5"),
                   ok(GW, OTHER, "20.1.2.3"), resolvers=(CUSTOM, AZURE, OTHER))
    assert sorted((f.id, f.severity) for f in got) == [
        ("dns-answers-differ", Severity.WARNING),
        ("dns-custom-not-forwarding", Severity.CRITICAL)]


def test_several_failing_resolvers_are_all_named() -> None:
    (finding,) = findings(ok(GW, CUSTOM, "10.0.0.5"), fail(GW, OTHER, DnsStatus.TIMEOUT),
                          fail(GW, THIRD, DnsStatus.REFUSED, "REFUSED"),
                          resolvers=(CUSTOM, OTHER, THIRD))
    assert finding.severity is Severity.WARNING
    assert "10.1.0.5 (timeout)" in finding.summary
    assert "10.1.0.6:5353 (refused)" in finding.summary


def test_each_name_is_judged_on_its_own() -> None:
    got = findings(ok(GW, CUSTOM, "10.0.0.5"), ok(GW, OTHER, "10.0.0.5"),
                   fail(SQL, CUSTOM, NXDOMAIN, "NXDOMAIN"), ok(SQL, OTHER, "10.0.3.4"))
    assert [(f.id, f.subject) for f in got] == [("dns-resolver-fails", SQL)]


def test_diagnose_puts_critical_findings_first() -> None:
    round_ = round_of(
        ok("a.contoso.internal", CUSTOM, "10.0.0.5"), ok("a.contoso.internal", OTHER, "10.0.0.6"),
        ok("b.contoso.internal", CUSTOM, "10.0.0.5"),
        fail("b.contoso.internal", OTHER, DnsStatus.TIMEOUT),
        fail("z.contoso.internal", CUSTOM, NXDOMAIN, "NXDOMAIN"),
        ok("z.contoso.internal", OTHER, "10.0.0.7"),
        fail("c.contoso.internal", CUSTOM, DnsStatus.SERVFAIL, "SERVFAIL"),
        ok("c.contoso.internal", OTHER, "10.0.0.8"),
    )
    assert [(f.severity, f.id, f.subject) for f in diagnose(round_)] == [
        (Severity.CRITICAL, "dns-resolver-fails", "c.contoso.internal"),
        (Severity.CRITICAL, "dns-resolver-fails", "z.contoso.internal"),
        (Severity.WARNING, "dns-answers-differ", "a.contoso.internal"),
        (Severity.WARNING, "dns-resolver-fails", "b.contoso.internal"),
    ]


def test_diagnose_of_a_healthy_round_is_empty() -> None:
    assert diagnose(round_of(ok(GW, CUSTOM, "10.0.0.5"), ok(GW, OTHER, "10.0.0.5"))) == ()
    assert diagnose(round_of()) == ()


@pytest.mark.parametrize(("result", "line"), [
    (ok(GW, CUSTOM, "10.0.0.5", "10.0.0.6"), "10.1.0.4: 10.0.0.5, 10.0.0.6 (12.3 ms)"),
    (fail(GW, CUSTOM, NXDOMAIN, "NXDOMAIN"), "10.1.0.4: nxdomain (NXDOMAIN) (2000.0 ms)"),
    (fail(GW, CUSTOM, DnsStatus.NODATA, "NOERROR"), "10.1.0.4: nodata (2000.0 ms)"),
    (fail(GW, CUSTOM, DnsStatus.TIMEOUT, None, "no answer within 2 s"),
     "10.1.0.4: timeout: no answer within 2 s (2000.0 ms)"),
])
def test_describe_dns(result: DnsResult, line: str) -> None:
    assert describe_dns(result) == line
