"""probe/diagnosis/dns.py: custom DNS without a forwarder, a resolver failing, answers differing.

Hand-built rounds, no sockets."""

from __future__ import annotations

import pytest

from probe.diagnosis import (
    Context,
    diagnose,
    dns_addresses_capped,
    dns_disagreement,
)
from probe.results import (
    DnsResult,
    DnsStatus,
    Finding,
    Severity,
)
from tests.helpers.rounds import (
    AZURE,
    AZURE_DNS,
    BLOB,
    CUSTOM,
    DNS_A,
    DNS_B,
    DNS_C,
    GW,
    LAB_CONTEXT,
    NXDOMAIN,
    dns,
    dns_round,
    fail,
    ids,
    ok,
    only,
    round_of,
)


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


def test_custom_dns_failure_does_not_hide_a_disagreement() -> None:
    third = "198.18.2.55"
    r = round_of(dns_results=(dns(BLOB, CUSTOM, status=DnsStatus.REFUSED),
                              dns(BLOB, AZURE, "198.18.2.10"), dns(BLOB, third, "198.18.2.11")),
                 resolvers=(CUSTOM, AZURE, third))
    assert ids(list(dns_disagreement(r, LAB_CONTEXT))) == ["dns-custom-not-forwarding",
                                                           "dns-answers-differ"]


# --------------------------------------------------------------------------
# the same rule, story by story (several custom resolvers, Azure DNS by its address)






SQL_NAME = "contoso-sql.database.windows.net"




def findings(*dns: DnsResult, resolvers: tuple[str, ...] = (DNS_A, DNS_B),
             context: Context | None = None) -> list[Finding]:
    round_ = dns_round(*dns, resolvers=resolvers)
    return list(dns_disagreement(round_) if context is None else dns_disagreement(round_, context))


@pytest.mark.parametrize(("answers", "expected"), [
    # the primary fails where another resolver answers: traffic follows the primary
    ([fail(GW, DNS_A, DnsStatus.NXDOMAIN, "NXDOMAIN"), ok(GW, DNS_B, "10.0.0.5")],
     [("dns-resolver-fails", Severity.CRITICAL)]),
    ([fail(GW, DNS_A, DnsStatus.TIMEOUT), ok(GW, DNS_B, "10.0.0.5")],
     [("dns-resolver-fails", Severity.CRITICAL)]),
    ([fail(GW, DNS_A, DnsStatus.SERVFAIL, "SERVFAIL"), ok(GW, DNS_B, "10.0.0.5")],
     [("dns-resolver-fails", Severity.CRITICAL)]),
    ([fail(GW, DNS_A, DnsStatus.NODATA, "NOERROR"), ok(GW, DNS_B, "10.0.0.5")],
     [("dns-resolver-fails", Severity.CRITICAL)]),
    # only a non-primary fails: traffic is fine, the comparison is not
    ([ok(GW, DNS_A, "10.0.0.5"), fail(GW, DNS_B, DnsStatus.REFUSED, "REFUSED")],
     [("dns-resolver-fails", Severity.WARNING)]),
    # both answer, differently
    ([ok(GW, DNS_A, "10.0.0.5"), ok(GW, DNS_B, "20.1.2.3")],
     [("dns-answers-differ", Severity.WARNING)]),
    ([ok(GW, DNS_A, "10.0.0.5"), ok(GW, DNS_B, "10.0.0.5", "10.0.0.6")],
     [("dns-answers-differ", Severity.WARNING)]),
    # agreement (in any order): nothing to say
    ([ok(GW, DNS_A, "10.0.0.5"), ok(GW, DNS_B, "10.0.0.5")], []),
    ([ok(GW, DNS_A, "10.0.0.5", "10.0.0.6"), ok(GW, DNS_B, "10.0.0.6", "10.0.0.5")], []),
    # all fail: no resolver answers where another does
    ([fail(GW, DNS_A, NXDOMAIN, "NXDOMAIN"), fail(GW, DNS_B, NXDOMAIN, "NXDOMAIN")], []),
    ([fail(GW, DNS_A, DnsStatus.NXDOMAIN, "NXDOMAIN"), fail(GW, DNS_B, DnsStatus.TIMEOUT)], []),
])
def test_two_custom_resolvers(answers: list[DnsResult],
                              expected: list[tuple[str, Severity]]) -> None:
    assert [(f.id, f.severity) for f in findings(*answers)] == expected


@pytest.mark.parametrize(("answers", "expected"), [
    # Azure DNS answers, the VNet's DNS does not: a missing forwarder
    ([fail(GW, DNS_A, DnsStatus.NXDOMAIN, "NXDOMAIN"), ok(GW, AZURE_DNS, "10.0.0.5")],
     [("dns-custom-not-forwarding", Severity.CRITICAL)]),
    # Azure DNS itself failing while the custom one answers is the generic story
    ([ok(GW, DNS_A, "10.0.0.5"), fail(GW, AZURE_DNS, DnsStatus.TIMEOUT)],
     [("dns-resolver-fails", Severity.WARNING)]),
    ([ok(GW, DNS_A, "10.0.0.5"), ok(GW, AZURE_DNS, "20.1.2.3")],
     [("dns-answers-differ", Severity.WARNING)]),
])
def test_custom_resolver_against_azure_dns(answers: list[DnsResult],
                                           expected: list[tuple[str, Severity]]) -> None:
    got = findings(*answers, resolvers=(DNS_A, AZURE_DNS))
    assert [(f.id, f.severity) for f in got] == expected


@pytest.mark.parametrize("answer", [ok(GW, DNS_A, "10.0.0.5"),
                                    fail(GW, DNS_A, DnsStatus.NXDOMAIN, "NXDOMAIN")])
def test_one_resolver_has_nobody_to_disagree_with(answer: DnsResult) -> None:
    assert findings(answer, resolvers=(DNS_A,)) == []


def test_primary_failure_names_the_failing_and_the_answering_resolver() -> None:
    (finding,) = findings(fail(GW, DNS_A, NXDOMAIN, "NXDOMAIN"), ok(GW, DNS_B, "10.0.0.5"))
    assert finding.subject == GW
    assert finding.summary == f"{GW} fails on 10.1.0.4 (nxdomain) but resolves on 10.1.0.5"
    assert finding.evidence == ("10.1.0.4: nxdomain (NXDOMAIN) (2000.0 ms)",
                                "10.1.0.5: 10.0.0.5 (12.3 ms)")
    # the remedy says what to do: forward to Azure DNS
    assert "forwarder" in finding.remedy
    assert "168.63.129.16" in finding.remedy


def test_differing_answers_show_both_answers() -> None:
    (finding,) = findings(ok(GW, DNS_A, "10.0.0.5"), ok(GW, DNS_B, "20.1.2.3"))
    assert finding.subject == GW
    assert finding.evidence == ("10.1.0.4: 10.0.0.5 (12.3 ms)", "10.1.0.5: 20.1.2.3 (12.3 ms)")


def test_a_failing_third_resolver_does_not_hide_differing_answers() -> None:
    got = findings(ok(GW, DNS_A, "10.0.0.5"), ok(GW, DNS_B, "20.1.2.3"),
                   fail(GW, DNS_C, DnsStatus.TIMEOUT), resolvers=(DNS_A, DNS_B, DNS_C))
    assert sorted((f.id, f.severity) for f in got) == [
        ("dns-answers-differ", Severity.WARNING), ("dns-resolver-fails", Severity.WARNING)]


def test_a_missing_forwarder_does_not_hide_differing_answers() -> None:
    got = findings(fail(GW, DNS_A, DnsStatus.NXDOMAIN, "NXDOMAIN"), ok(GW, AZURE_DNS, "10.0.0.5"),
                   ok(GW, DNS_B, "20.1.2.3"), resolvers=(DNS_A, AZURE_DNS, DNS_B))
    assert sorted((f.id, f.severity) for f in got) == [
        ("dns-answers-differ", Severity.WARNING),
        ("dns-custom-not-forwarding", Severity.CRITICAL)]


def test_several_failing_resolvers_are_all_named() -> None:
    (finding,) = findings(ok(GW, DNS_A, "10.0.0.5"), fail(GW, DNS_B, DnsStatus.TIMEOUT),
                          fail(GW, DNS_C, DnsStatus.REFUSED, "REFUSED"),
                          resolvers=(DNS_A, DNS_B, DNS_C))
    assert finding.severity is Severity.WARNING
    assert "10.1.0.5 (timeout)" in finding.summary
    assert "10.1.0.6:5353 (refused)" in finding.summary


def test_each_name_is_judged_on_its_own() -> None:
    got = findings(ok(GW, DNS_A, "10.0.0.5"), ok(GW, DNS_B, "10.0.0.5"),
                   fail(SQL_NAME, DNS_A, NXDOMAIN, "NXDOMAIN"), ok(SQL_NAME, DNS_B, "10.0.3.4"))
    assert [(f.id, f.subject) for f in got] == [("dns-resolver-fails", SQL_NAME)]


# --------------------------------------------------------------------------
# dns-addresses-capped: more addresses in the answer than [dns] max_addresses


def capped(name: str, resolver: str, kept: int, dropped: int) -> DnsResult:
    addresses = tuple(f"198.18.3.{i}" for i in range(kept))
    detail = (f"the answer holds {kept + dropped} addresses; probing the first {kept} in "
              "address order ([dns] max_addresses)")
    return DnsResult(name, resolver, DnsStatus.OK, "NOERROR", addresses, (), 0.1, detail,
                     addresses_dropped=dropped)


def test_a_capped_name_is_a_warning_with_the_count() -> None:
    found = list(dns_addresses_capped(dns_round(capped("many.test", DNS_A, 16, 4074),
                                                ok("many.test", DNS_B, "198.18.3.1"))))
    finding = only(found)
    assert (finding.id, finding.severity, finding.subject) == (
        "dns-addresses-capped", Severity.WARNING, "many.test")
    assert finding.summary == f"many.test answers with 4090 addresses on {DNS_A}; 16 are probed"
    assert finding.evidence == (f"{DNS_A}: the answer holds 4090 addresses; probing the first 16 "
                                "in address order ([dns] max_addresses)",)
    assert "answers with 4090 addresses; the agent probes the lowest 16" in finding.remedy


def test_capped_on_every_resolver_is_one_finding_per_name() -> None:
    found = list(dns_addresses_capped(dns_round(capped("many.test", DNS_A, 16, 100),
                                                capped("many.test", DNS_B, 16, 200),
                                                capped("other.test", DNS_A, 16, 1))))
    assert [(f.subject, f.summary.split(";")[0]) for f in found] == [
        ("many.test", f"many.test answers with 216 addresses on {DNS_A}, {DNS_B}"),
        ("other.test", f"other.test answers with 17 addresses on {DNS_A}"),
    ]


def test_no_cap_no_finding() -> None:
    assert "dns-addresses-capped" not in ids(diagnose(dns_round(
        ok("few.test", DNS_A, "198.18.3.1", "198.18.3.2"), ok("few.test", DNS_B, "198.18.3.1",
                                                              "198.18.3.2"))))
