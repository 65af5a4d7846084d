"""Findings in a mode's own terms, from its profile in the APIM model: the names
a custom DNS must resolve for it, a workspace gateway's health-ping port; and
the model's dated changes where the evidence supports them (the CAPTCHA host of
30 September 2025, trusted service connectivity retired on 15 March 2026)."""

from __future__ import annotations

from collections.abc import Iterable

from probe.apimmodel import (
    CAPTCHA_CHANGE,
    CAPTCHA_HOST,
    DISABLE_OVER_PRIVILEGED,
    OLD_CAPTCHA_SUFFIX,
    TRUSTED_RETIREMENT,
    WORKSPACES,
    Mode,
    group_of,
    profile,
)
from probe.diagnosis.context import DEFAULT_CONTEXT, Context
from probe.diagnosis.evidence import DnsAnswers, describe_dns, subject, where
from probe.findings import finding
from probe.results import Finding, PortState, RoundResult, Severity


def profile_dns(round_: RoundResult, context: Context = DEFAULT_CONTEXT) -> Iterable[Finding]:
    """A name of a kind the mode's profile says the VNet's DNS must resolve
    (Premium v2 injection: ``*.vault.azure.net``) that the primary resolver fails."""
    if context.mode is None or not round_.resolvers:
        return
    mode = profile(context.mode)
    patterns = {group_of(p.removeprefix("*."), 443): p for p in mode.dns_must_resolve}
    primary = round_.resolvers[0]
    answers = DnsAnswers(round_)
    for answer in round_.dns:
        pattern = patterns.get(group_of(answer.name, 443))
        if answer.resolver != primary or answer.ok or pattern is None:
            continue
        yield finding(
            id="profile-dns-unresolved",
            severity=Severity.CRITICAL,
            subject=answer.name,
            summary=(f"{answer.name} does not resolve on {primary} ({answer.status.value}): "
                     f"{mode.title} needs the VNet's DNS to resolve {pattern}"),
            evidence=tuple(f"{describe_dns(d)}" for d in answers.of(answer.name)),
            name=answer.name, resolver=primary, pattern=pattern, mode=mode.mode.value,
            source=f"{mode.sources[0].title} ({mode.sources[0].date})",
        )


def workspace_health_port(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                          ) -> Iterable[Finding]:
    """An injected workspace gateway that does not take port 80 from the VNet: the
    load balancer's health ping (AzureLoadBalancer -> 80) needs the same port."""
    if context.mode is not Mode.WORKSPACE_GATEWAY_INJECTION:
        return
    answers = DnsAnswers(round_)
    for result in round_.tcp:
        if (result.dependency != "gateway" or result.port != 80 or result.ok
                or result.address is None or result.state is PortState.UNUSABLE):
            continue
        yield finding(
            id="workspace-gateway-health-port",
            severity=Severity.CRITICAL,
            subject=subject(result),
            summary=(f"the workspace gateway's port 80 ({where(result)}) is "
                     f"{result.state.value} ({result.reason}) from the VNet: the load "
                     "balancer's health ping on port 80 fails too, and the gateway is "
                     "taken out of rotation"),
            evidence=answers.tcp_evidence(result),
            address=where(result), source=f"{WORKSPACES.title} ({WORKSPACES.date})",
        )


def captcha_endpoint(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                     ) -> Iterable[Finding]:
    """APIM's own reports (or the targets) still name the developer portal's old
    CAPTCHA host (*.hip.live.com), which the 30 September 2025 update replaced."""
    old = sorted({*(c.host for c in context.reports if c.host), *(r.host for r in round_.tcp)}
                 - {None}, key=str)
    named = [h for h in old if h and h.lower().rstrip(".").endswith(OLD_CAPTCHA_SUFFIX)]
    if not named:
        return
    yield finding(
        id="captcha-endpoint-changed",
        severity=Severity.WARNING,
        subject=", ".join(named),
        summary=(f"{', '.join(named)} is the developer portal's CAPTCHA host before the "
                 f"30 September 2025 update; it is {CAPTCHA_HOST} now"),
        evidence=tuple(f"named: {h}" for h in named),
        new=CAPTCHA_HOST, old=", ".join(named), source=CAPTCHA_CHANGE.where,
    )


def trusted_services(round_: RoundResult, context: Context = DEFAULT_CONTEXT,
                     ) -> Iterable[Finding]:
    """The imported APIM resource leaves trusted service connectivity on (or does not
    say): since 15 March 2026 a gateway relying on it to reach Storage or Key Vault
    fails."""
    del round_
    if not context.resource or context.trusted_services == "disabled":
        return
    instance = context.instance or "the instance"
    state = ("not set" if context.trusted_services is None else "False")
    yield finding(
        id="trusted-service-connectivity",
        severity=Severity.WARNING,
        subject=instance,
        summary=(f"{instance} does not turn trusted service connectivity off "
                 f"({DISABLE_OVER_PRIVILEGED} is {state}): retired on 15 March 2026"),
        evidence=(f"customProperties: {DISABLE_OVER_PRIVILEGED} {state}",),
        instance=instance, source=TRUSTED_RETIREMENT.where, property=DISABLE_OVER_PRIVILEGED,
    )
