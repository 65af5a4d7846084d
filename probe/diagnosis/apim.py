"""APIM's own endpoints: management (3443), its names' addresses, the
self-hosted gateway's configuration endpoint, the gateway's health check."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from probe.apimmodel import STV1_RETIREMENT, profile
from probe.diagnosis.context import DEFAULT_CONTEXT, Context
from probe.diagnosis.evidence import DnsAnswers, describe_dns, subject, where
from probe.findings import finding
from probe.results import Finding, PortState, RoundResult, Severity

_APIM_OWN = frozenset({"management", "gateway", "portal", "scm"})


def _is_public(address: str) -> bool:
    return ipaddress.ip_address(address).is_global


def management(round_: RoundResult, context: Context = DEFAULT_CONTEXT) -> Iterable[Finding]:
    """Management endpoint (3443) unresolved or unreachable."""
    del context
    answers = DnsAnswers(round_)
    for result in round_.tcp:
        # an unusable answer (0.0.0.0, loopback...) is dns-answer-unusable's, critical too
        if result.dependency != "management" or result.ok or result.state is PortState.UNUSABLE:
            continue
        evidence = answers.tcp_evidence(result)
        if result.state is PortState.UNRESOLVED:
            yield finding(
                id="management-unresolved",
                severity=Severity.CRITICAL,
                subject=subject(result),
                summary=(f"management endpoint {result.host} does not resolve on the primary "
                         f"resolver ({result.reason}): the portal shows 'APIs keep loading'"),
                evidence=evidence,
            )
            continue
        if result.expected is not PortState.OPEN:
            continue
        yield finding(
            id="management-unreachable",
            severity=Severity.CRITICAL,
            subject=subject(result),
            summary=(f"management endpoint {where(result)} is {result.state.value} "
                     f"({result.reason}): 'Failed to connect to Management endpoint', the APIs "
                     "blade keeps loading"),
            evidence=evidence,
        )


def apim_addresses(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                   ) -> Iterable[Finding]:
    """APIM's own names resolving to the wrong kind of address for the mode."""
    seen: set[str] = set()
    expected = set(context.instance_addresses)
    answers = DnsAnswers(round_)
    for result in round_.tcp:
        if result.dependency not in _APIM_OWN or result.host in seen:
            continue
        answer = answers.primary(result.host)
        if answer is None or not answer.ok:
            continue
        seen.add(result.host)
        evidence = (f"DNS {answer.name} via {describe_dns(answer)}",)
        public = [a for a in answer.addresses if _is_public(a)]
        if context.mode is not None and profile(context.mode).gateway_private and public:
            yield finding(
                id="apim-address-public",
                severity=Severity.CRITICAL,
                subject=answer.name,
                summary=(f"{answer.name} ({result.dependency}) resolves to public "
                         f"{', '.join(public)} in {context.mode} mode: traffic leaves the VNet"),
                evidence=evidence,
            )
        elif expected and not set(answer.addresses) <= expected:
            wrong = sorted(set(answer.addresses) - expected)
            yield finding(
                id="apim-address-mismatch",
                severity=Severity.CRITICAL,
                subject=answer.name,
                summary=(f"{answer.name} ({result.dependency}) resolves to {', '.join(wrong)}, "
                         f"not the instance's address {', '.join(sorted(expected))}"),
                evidence=evidence,
            )


def configuration(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                  ) -> Iterable[Finding]:
    """A self-hosted gateway cut off from its configuration endpoint."""
    del context
    answers = DnsAnswers(round_)
    for result in round_.tcp:
        if result.dependency != "configuration" or result.ok or \
                result.state is PortState.UNUSABLE:
            continue
        if result.state is not PortState.UNRESOLVED and result.expected is not PortState.OPEN:
            continue
        yield finding(
            id="configuration-unreachable",
            severity=Severity.CRITICAL,
            subject=subject(result),
            summary=(f"self-hosted gateway configuration endpoint {where(result)} is "
                     f"{result.state.value} ({result.reason}): the gateway runs on its last "
                     "cached configuration and stops receiving changes"),
            evidence=answers.tcp_evidence(result),
        )


def gateway_health(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                   ) -> Iterable[Finding]:
    """The gateway's own health check: TCP 443 open is not the gateway serving."""
    del round_
    for check in context.health:
        if check.ok:
            continue
        via = f" via {check.address}" if check.address else ""
        evidence = (f"GET {check.url}{via}: {check.reason} after "
                    f"{check.duration_seconds * 1000:.0f} ms"
                    + (f" ({check.tls})" if check.tls else ""),)
        if check.reason.startswith("certificate:"):
            yield finding(
                id="gateway-certificate-untrusted",
                severity=Severity.WARNING,
                subject=check.url,
                summary=(f"the gateway's certificate is not trusted from here{via} "
                         f"({check.reason.removeprefix('certificate: ')})"),
                evidence=evidence,
            )
            continue
        yield finding(
            id="gateway-unhealthy",
            severity=Severity.CRITICAL,
            subject=check.url,
            summary=f"gateway health check failed{via}: {check.reason}",
            evidence=evidence,
        )


def platform_retired(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                     ) -> Iterable[Finding]:
    """An imported APIM resource says the instance runs on stv1, retired on
    31 August 2024 (the APIM model's STV1_RETIREMENT)."""
    del round_  # what the resource says, whatever the round found
    if context.platform != "stv1":
        return
    instance = context.instance or "the instance"
    yield finding(
        id="apim-platform-retired",
        severity=Severity.CRITICAL,
        subject=instance,
        summary=f"{instance} runs on platformVersion stv1, retired on 31 August 2024",
        evidence=(f"platformVersion: {context.platform} (the imported APIM resource)",),
        instance=instance, platform=context.platform, retired="31 August 2024",
        source=f"{STV1_RETIREMENT.title}, {STV1_RETIREMENT.where}",
    )

