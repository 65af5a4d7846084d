"""What the rules need beyond the round, and the shape every rule has."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from probe.apim import AZURE_DNS
from probe.apimmodel import Mode
from probe.azure.facts import Facts
from probe.results import ApimCheck, Finding, HttpResult, RoundResult, TraceResult


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules need beyond the round; the defaults suit a bare round.

    ``mode``: a profile of ``probe.apimmodel`` or None (unknown: no mode-specific rule).
    ``instance_addresses``: the addresses APIM's own names must resolve to.
    ``reference_resolvers``: resolvers taken as Azure DNS (answers there and
    failure elsewhere means a custom DNS server does not forward).
    ``forbidden_hops``: addresses or CIDR prefixes traffic to Azure must not
    cross (a firewall, an on-premises gateway).
    ``traces``: path traces taken alongside the round.
    ``health``: gateway health checks (GET /status-0123456789abcdef) of the round.
    ``reports``: APIM's own networkstatus checks, from an ``[apim] import``.
    ``platform``: the instance's platformVersion (stv1, stv2...), from an imported
    APIM resource.
    """

    mode: Mode | None = None
    instance: str | None = None
    instance_addresses: tuple[str, ...] = ()
    reference_resolvers: tuple[str, ...] = (AZURE_DNS,)
    forbidden_hops: tuple[str, ...] = ()
    traces: tuple[TraceResult, ...] = ()
    health: tuple[HttpResult, ...] = ()
    reports: tuple[ApimCheck, ...] = ()  # APIM's own networkstatus checks (apim_view)
    platform: str | None = None  # platformVersion, from an imported APIM resource
    # trusted service connectivity per the imported resource: "enabled", "disabled",
    # None; ``resource``: an APIM resource was imported at all
    trusted_services: str | None = None
    resource: bool = False
    # The live Azure context (probe.azure.facts, per refresh) and its age at this
    # round in seconds (None: no live context yet)
    azure: Facts | None = None
    azure_age: float | None = None


DEFAULT_CONTEXT = Context()

# Every rule: a pure function of the round and the context.
Rule = Callable[[RoundResult, Context], Iterable[Finding]]
