"""DNS: resolvers that fail where another answers, or answer differently;
names answering with more addresses than the agent probes, or with addresses
that cannot be the dependency."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from probe.apim import AZURE_DNS
from probe.diagnosis.context import DEFAULT_CONTEXT, Context
from probe.diagnosis.evidence import describe_dns
from probe.findings import finding
from probe.localnames import HOSTS
from probe.results import DnsResult, Finding, PortState, RoundResult, Severity, TcpResult, by_name


def dns_disagreement(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                     ) -> Iterable[Finding]:
    """Resolvers that fail where another answers, or answer differently.

    When the one that answers is a reference resolver (Azure DNS) and the one
    that fails is not, the story is a custom DNS server without a forwarder
    (dns-custom-not-forwarding); otherwise the generic dns-resolver-fails.
    """
    primary = round_.resolvers[0] if round_.resolvers else None
    references = set(context.reference_resolvers)
    for name, every in by_name(round_.dns).items():
        # the hosts file lists few names: its NXDOMAIN is no resolver failing
        # (what it pins is finding hosts-file-pin's business)
        answers = [a for a in every if a.resolver != HOSTS]
        if len(answers) < 2:
            continue
        good = [a for a in answers if a.ok]
        bad = [a for a in answers if not a.ok]
        evidence = tuple(describe_dns(a) for a in answers)
        if good and bad:
            yield _fails(name, good, bad, evidence, primary, references)
        if len(good) > 1 and len({frozenset(a.addresses) for a in good}) > 1:
            yield finding(
                id="dns-answers-differ",
                severity=Severity.WARNING,
                subject=name,
                summary=f"{name} resolves to different addresses on different resolvers",
                evidence=evidence,
            )


def _fails(name: str, good: Sequence[DnsResult], bad: Sequence[DnsResult],
           evidence: tuple[str, ...], primary: str | None, references: set[str]) -> Finding:
    """Some resolvers fail ``name``, others answer: which story is it?"""
    primary_fails = any(a.resolver == primary for a in bad)
    severity = Severity.CRITICAL if primary_fails else Severity.WARNING
    failing = ", ".join(f"{a.resolver} ({a.status.value})" for a in bad)
    answering = ", ".join(a.resolver for a in good)
    custom = [a for a in bad if a.resolver not in references]
    if custom and any(a.resolver in references for a in good):
        return finding(
            id="dns-custom-not-forwarding",
            severity=severity,
            subject=name,
            summary=(f"{name} fails on custom DNS {failing} but Azure DNS "
                     f"({answering}) resolves it: no forwarder to Azure DNS"),
            evidence=evidence,
            failing=", ".join(a.resolver for a in custom),
            azure_dns=AZURE_DNS,
        )
    return finding(
        id="dns-resolver-fails",
        severity=severity,
        subject=name,
        summary=f"{name} fails on {failing} but resolves on {answering}",
        evidence=evidence,
        azure_dns=AZURE_DNS,
    )


def dns_addresses_capped(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                         ) -> Iterable[Finding]:
    """Names whose answer held more addresses than ``[dns] max_addresses``: the
    addresses beyond the cap were not probed, which the user must know."""
    for name, answers in by_name(round_.dns).items():
        capped = [a for a in answers if a.addresses_dropped]
        if not capped:
            continue
        count = max(len(a.addresses) + a.addresses_dropped for a in capped)
        probed = max(len(a.addresses) for a in capped)
        on = ", ".join(a.resolver for a in capped)
        yield finding(
            id="dns-addresses-capped",
            severity=Severity.WARNING,
            subject=name,
            summary=f"{name} answers with {count} addresses on {on}; {probed} are probed",
            evidence=tuple(f"{a.resolver}: {a.detail}" for a in capped),
            name=name, count=count, probed=probed,
        )


def dns_answer_unusable(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                        ) -> Iterable[Finding]:
    """Names the primary resolver answers with addresses that cannot be the
    dependency (``unusable`` rows: 0.0.0.0, loopback, this host, multicast,
    broadcast, link-local). One finding per name and kind; critical when a
    required target depends on the name. The other resolvers' answers are the
    evidence: Azure DNS answering a real address there points at the sinkhole."""
    rows: dict[tuple[str, str], list[TcpResult]] = {}
    for row in round_.tcp:
        if row.state is PortState.UNUSABLE and row.address is not None:
            rows.setdefault((row.host.rstrip(".").lower(), row.reason), []).append(row)
    answers = by_name(round_.dns)
    primary = round_.resolvers[0] if round_.resolvers else "the primary resolver"
    for (name, kind), found in rows.items():
        addresses = ", ".join(dict.fromkeys(r.address for r in found if r.address))
        required = any(r.required for r in found)
        targets = ", ".join(dict.fromkeys(r.target for r in found))
        yield finding(
            id="dns-answer-unusable",
            severity=Severity.CRITICAL if required else Severity.WARNING,
            subject=name,
            summary=f"{name} resolves to {addresses} on {primary} ({kind}), which cannot be "
                    f"{targets}; not probed",
            evidence=tuple(describe_dns(a) for a in answers.get(name, ())),
            variant=None if kind == "sinkhole" else kind,
            resolver=primary, addresses=addresses, name=name, azure_dns=AZURE_DNS,
        )


def hosts_file_pin(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                   ) -> Iterable[Finding]:
    """Names this host's hosts file pins (``HostInfo.pinned``) to other
    addresses than the first DNS server answers, or that DNS cannot resolve:
    tools on this host see the pin, APIM sees DNS. The round probes what DNS
    answers; a pin DNS agrees with says nothing."""
    if round_.host is None or not round_.host.pinned:
        return
    servers = [r for r in round_.resolvers if r != HOSTS]
    if not servers:
        return  # resolvers = ["hosts"]: the user chose the pins
    answers = by_name(round_.dns)
    for name, pins in round_.host.pinned:
        dns = next((a for a in answers.get(name, ()) if a.resolver == servers[0]), None)
        if dns is None:
            continue
        ipv6 = any(":" in a for a in dns.addresses)
        compared = tuple(p for p in pins if ipv6 or ":" not in p)
        if not compared or (dns.ok and set(compared) == set(dns.addresses)):
            continue
        answer = ", ".join(dns.addresses) if dns.ok else dns.status.value
        yield finding(
            id="hosts-file-pin",
            severity=Severity.WARNING,
            subject=name,
            summary=(f"{name} is pinned to {', '.join(compared)} in this host's hosts file; "
                     f"DNS {servers[0]} answers {answer}"),
            evidence=(f"hosts file: {name} -> {', '.join(pins)}", describe_dns(dns)),
            variant=None if dns.ok else "unresolved",
            name=name, pinned=", ".join(compared), resolver=servers[0], answer=answer,
        )
