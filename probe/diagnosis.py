"""Diagnosis: turn a round's raw answers into findings, in APIM terms.

Every rule is a pure function of the round (no sockets, no clock): it takes
the results and returns findings with their evidence and remedy, so each can
be tested exhaustively.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from probe.results import DnsResult, Finding, RoundResult, Severity

AZURE_DNS = "168.63.129.16"

Rule = Callable[[RoundResult], Iterable[Finding]]


def describe_dns(result: DnsResult) -> str:
    """One line of evidence for a DNS answer."""
    timing = f"{result.duration_seconds * 1000:.1f} ms"
    if result.ok:
        return f"{result.resolver}: {', '.join(result.addresses)} ({timing})"
    rcode = f" ({result.rcode})" if result.rcode and result.rcode != "NOERROR" else ""
    detail = f": {result.detail}" if result.detail else ""
    return f"{result.resolver}: {result.status.value}{rcode}{detail} ({timing})"


def by_name(results: Sequence[DnsResult]) -> dict[str, list[DnsResult]]:
    grouped: dict[str, list[DnsResult]] = defaultdict(list)
    for result in results:
        grouped[result.name].append(result)
    return grouped


def dns_disagreement(round_: RoundResult) -> Iterable[Finding]:
    """Resolvers that fail where another answers, or answer differently."""
    primary = round_.resolvers[0] if round_.resolvers else None
    for name, answers in by_name(round_.dns).items():
        if len(answers) < 2:
            continue
        good = [a for a in answers if a.ok]
        bad = [a for a in answers if not a.ok]
        evidence = tuple(describe_dns(a) for a in answers)
        if good and bad:
            primary_fails = any(a.resolver == primary for a in bad)
            failing = ", ".join(f"{a.resolver} ({a.status.value})" for a in bad)
            answering = ", ".join(a.resolver for a in good)
            yield Finding(
                id="dns-resolver-fails",
                severity=Severity.CRITICAL if primary_fails else Severity.WARNING,
                subject=name,
                summary=f"{name} fails on {failing} but resolves on {answering}",
                evidence=evidence,
                remedy=(
                    "The failing DNS server does not resolve this name while another one does. "
                    "If it is the VNet's custom DNS server, add a conditional forwarder for the "
                    f"zone (or a default forwarder) to Azure DNS {AZURE_DNS} or an Azure DNS "
                    "Private Resolver; APIM uses the VNet's DNS for every dependency, so a name "
                    "it cannot resolve is a dependency it cannot reach."
                ),
            )
        elif len(good) > 1 and len({frozenset(a.addresses) for a in good}) > 1:
            yield Finding(
                id="dns-answers-differ",
                severity=Severity.WARNING,
                subject=name,
                summary=f"{name} resolves to different addresses on different resolvers",
                evidence=evidence,
                remedy=(
                    "Resolvers disagree on this name: a stale A record or a private DNS zone "
                    "linked to one resolver's network only. Traffic follows the primary "
                    "resolver's answer; make the records agree (in internal mode APIM names must "
                    "resolve to the instance's private address)."
                ),
            )


RULES: tuple[Rule, ...] = (dns_disagreement,)

_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def diagnose(round_: RoundResult, rules: Sequence[Rule] = RULES) -> tuple[Finding, ...]:
    findings = [f for rule in rules for f in rule(round_)]
    return tuple(sorted(findings, key=lambda f: (_SEVERITY_ORDER[f.severity], f.id, f.subject)))
