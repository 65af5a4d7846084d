"""Diagnosis: turn a round's raw answers into findings, in APIM terms.

Every rule is a pure function of the round and a small ``Context`` (what the
round alone cannot say: the instance's mode and address, the reference
resolvers, the hops traffic must not cross, path traces). No sockets, no
clock: each rule can be tested exhaustively with hand-built rounds.

    context.py    Context, the Rule signature
    evidence.py   evidence lines and subjects the rules share
    dns.py        dns-custom-not-forwarding, dns-resolver-fails, dns-answers-differ,
                  dns-addresses-capped, dns-answer-unusable, hosts-file-pin
    outbound.py   outbound-dropped, -rejected-path, -rejected-host, -blocked-locally,
                  outbound-refused, backend-refused
    azure.py      azure-*, apim-view-stale, nsg-denies-dependency, route-diverts-dependency,
                  agent-vantage-differs (the live Azure context) and its live lint
    apim.py       management-unresolved, management-unreachable, apim-address-public,
                  apim-address-mismatch, configuration-unreachable, gateway-unhealthy,
                  gateway-certificate-untrusted, apim-platform-retired
    path.py       path-forbidden-hop (forced tunnelling)
    profiles.py   profile-dns-unresolved, workspace-gateway-health-port (a mode's own
                  terms), captcha-endpoint-changed, trusted-service-connectivity (dated)
    apim_view.py  apim-view-*: APIM's own networkstatus beside the round

What each finding id means (severities, remedy, what to check) is in the
catalogue, ``probe.findings.FINDINGS`` (re-exported here); a rule module adds
its ids there and its function to ``RULES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from probe.apimmodel import SERVICE_TAGS
from probe.diagnosis.apim import (
    apim_addresses,
    configuration,
    gateway_health,
    management,
    platform_retired,
)
from probe.diagnosis.apim_view import apim_view
from probe.diagnosis.azure import azure_context, live_explains, vantage
from probe.diagnosis.context import DEFAULT_CONTEXT, Context, Rule
from probe.diagnosis.dns import (
    dns_addresses_capped,
    dns_answer_unusable,
    dns_disagreement,
    hosts_file_pin,
)
from probe.diagnosis.evidence import describe_dns, describe_tcp
from probe.diagnosis.outbound import AZURE_DEPENDENCIES, outbound_blocked, refused
from probe.diagnosis.path import forbidden_path
from probe.diagnosis.profiles import (
    captcha_endpoint,
    profile_dns,
    trusted_services,
    workspace_health_port,
)
from probe.findings import FINDINGS
from probe.results import Finding, HttpResult, RoundResult, TraceResult, by_name

if TYPE_CHECKING:
    from probe.azure.facts import Facts
    from probe.config import Config

__all__ = [
    "AZURE_DEPENDENCIES",
    "DEFAULT_CONTEXT",
    "FINDINGS",
    "RULES",
    "SERVICE_TAGS",
    "Context",
    "Rule",
    "apim_addresses",
    "apim_view",
    "by_name",
    "configuration",
    "context_from",
    "describe_dns",
    "describe_tcp",
    "diagnose",
    "dns_addresses_capped",
    "dns_answer_unusable",
    "dns_disagreement",
    "forbidden_path",
    "gateway_health",
    "hosts_file_pin",
    "management",
    "outbound_blocked",
    "platform_retired",
    "profile_dns",
    "refused",
    "workspace_health_port",
]

RULES: tuple[Rule, ...] = (dns_disagreement, dns_addresses_capped, dns_answer_unusable,
                           hosts_file_pin, outbound_blocked, refused, management, apim_addresses,
                           configuration, forbidden_path, gateway_health, apim_view,
                           platform_retired, profile_dns, workspace_health_port,
                           captcha_endpoint, trusted_services, azure_context, live_explains,
                           vantage)


def diagnose(round_: RoundResult, context: Context | None = None,
             rules: Sequence[Rule] = RULES, *,
             on_error: Callable[[Rule, Exception], None] | None = None) -> tuple[Finding, ...]:
    """Every rule's findings, most severe first; no context means a bare round.

    With ``on_error``, a rule that raises is reported there and the other
    rules' findings stand (the agent's rounds); without it, it propagates.
    """
    ctx = context if context is not None else DEFAULT_CONTEXT
    findings: list[Finding] = []
    for rule in rules:
        try:
            findings.extend(rule(round_, ctx))
        except Exception as exc:
            if on_error is None:
                raise
            on_error(rule, exc)
    return tuple(sorted(findings, key=lambda f: f.sort_key))


def context_from(config: Config, traces: Sequence[TraceResult] = (),
                 health: Sequence[HttpResult] = (), azure: Facts | None = None,
                 azure_age: float | None = None) -> Context:
    """The context a config implies (mode, addresses, references, forbidden hops),
    with the traces and health checks taken alongside the round, and the live
    Azure facts (``[azure] apim``) with their age."""
    apim = config.apim
    if apim is None:
        return Context(traces=tuple(traces), health=tuple(health), azure=azure,
                       azure_age=azure_age)
    return Context(mode=apim.mode, instance=apim.name,
                   instance_addresses=apim.instance_addresses,
                   reference_resolvers=apim.azure_dns, forbidden_hops=apim.forbidden_hops,
                   traces=tuple(traces), health=tuple(health), reports=apim.reports,
                   platform=apim.platform, trusted_services=apim.trusted_services,
                   resource=apim.from_resource, azure=azure, azure_age=azure_age)
