"""The APIM model: every fact about API Management's network that apim-probe
uses, in one place, each with the source it comes from and that source's date.

    Mode          the profiles: classic internal and external (stv2), Standard v2 /
                  Premium v2 outbound integration, Premium v2 injection, workspace
                  gateways (integration, injection), the self-hosted gateway
    Dependency    one flow APIM needs: group, direction, service tag, ports,
                  hostname patterns, and per mode: required, optional, informational
                  or not needed
    Profile       what a mode is: its endpoints, whether its gateway is private,
                  its subnet rules, the names a custom DNS must resolve, what must
                  not be expected of it

Readers: ``probe.apim`` (the ``[apim]`` keys), ``probe.targets`` (what a round
probes), ``probe.config`` (a hostname's dependency group), ``probe.diagnosis``
(the mode's own terms, service tags), ``probe.lint`` (NSG requirements). The
agent and lint judge one record with one severity: a dependency required by
the mode is a required target and a critical lint finding, an optional one a
warning in both. A new mode is one ``Profile`` plus its needs in the records.

``probe.apimmodel.reports`` holds the words of APIM's own reports: a
networkstatus ``resourceType`` and an outbound-dependencies ``category`` ->
the dependency group, required or optional.

This is a bottom layer: it imports only ``probe.results`` (Severity).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from probe.results import Severity


class Mode(enum.StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"
    V2_INTEGRATION = "v2-integration"
    V2_INJECTION = "v2-injection"
    WORKSPACE_GATEWAY_INTEGRATION = "workspace-gateway-integration"
    WORKSPACE_GATEWAY_INJECTION = "workspace-gateway-injection"
    SELF_HOSTED_GATEWAY = "self-hosted-gateway"


MODES: tuple[str, ...] = tuple(m.value for m in Mode)
CLASSIC = frozenset({Mode.INTERNAL, Mode.EXTERNAL})


class Need(enum.StrEnum):
    """How much a mode needs a dependency; the severity agent and lint give it."""

    REQUIRED = "required"
    OPTIONAL = "optional"          # one feature needs it
    INFORMATIONAL = "informational"  # worth knowing, never an outage
    NOT_NEEDED = "not-needed"

    @property
    def severity(self) -> Severity | None:
        return {Need.REQUIRED: Severity.CRITICAL, Need.OPTIONAL: Severity.WARNING,
                Need.INFORMATIONAL: Severity.INFO}.get(self)


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    where: str
    date: str  # the revision read (ms.date of a Learn page, a spec's api-version)


VNET_REFERENCE = Source(
    "Virtual network configuration reference: API Management",
    "learn.microsoft.com/azure/api-management/virtual-network-reference "
    "(MicrosoftDocs/azure-docs articles/api-management/virtual-network-reference.md)",
    "2024-10")
INTEGRATE_V2 = Source(
    "Integrate an Azure API Management instance with a private virtual network for "
    "outbound connections", "learn.microsoft.com/azure/api-management/integrate-vnet-outbound",
    "2025-12-04")
INJECT_V2 = Source(
    "Inject an Azure API Management instance in a private virtual network - Premium v2 tier",
    "learn.microsoft.com/azure/api-management/inject-vnet-v2", "2025-06")
WORKSPACES = Source(
    "Network resource requirements to integrate or inject a workspace gateway resource",
    "learn.microsoft.com/azure/api-management/virtual-network-workspaces-resources", "2025-06")
SELF_HOSTED = Source(
    "Self-hosted gateway overview: connectivity to Azure",
    "learn.microsoft.com/azure/api-management/self-hosted-gateway-overview", "2024-08")
CAPTCHA_CHANGE = Source(
    "CAPTCHA endpoint update (30 September 2025): the developer portal's CAPTCHA moves to "
    "partner.prod.repmap.microsoft.com",
    "learn.microsoft.com/azure/api-management/breaking-changes/captcha-endpoint-change-sep-2025",
    "2025-09-30")
TRUSTED_RETIREMENT = Source(
    "Trusted service connectivity retirement (15 March 2026)",
    "learn.microsoft.com/azure/api-management/breaking-changes/"
    "trusted-service-connectivity-retirement-march-2026", "2026-03-15")
CAPTCHA_HOST = "partner.prod.repmap.microsoft.com"
OLD_CAPTCHA_SUFFIX = ".hip.live.com"  # client.hip.live.com, partner.hip.live.com
# The custom property that turns trusted service connectivity off ("True")
DISABLE_OVER_PRIVILEGED = ("Microsoft.WindowsAzure.ApiManagement.Gateway.ManagedIdentity."
                           "DisableOverPrivilegedAccess")
STV1_RETIREMENT = Source(
    "stv1 platform retirement (31 August 2024)",
    "learn.microsoft.com/azure/api-management/breaking-changes/"
    "stv1-platform-retirement-august-2024", "2024-08-31")


REQ, OPT, INF, NOT = Need.REQUIRED, Need.OPTIONAL, Need.INFORMATIONAL, Need.NOT_NEEDED
_ALL = tuple(Mode)


def _needs(default: Need = NOT, **by_mode: Need) -> Mapping[Mode, Need]:
    """Per-mode needs; keyword names are Mode member names, lower case."""
    needs = dict.fromkeys(_ALL, default)
    for name, need in by_mode.items():
        needs[Mode[name.upper()]] = need
    return MappingProxyType(needs)


def _classic(need: Need, **more: Need) -> Mapping[Mode, Need]:
    return _needs(internal=need, external=need, **more)


@dataclass(frozen=True, slots=True)
class Dependency:
    """One flow an APIM mode may need, as an NSG rule would name it."""

    group: str                # the dependency label targets and findings use
    direction: str            # "inbound" (to the APIM subnet) | "outbound"
    peer: str                 # the service tag on the far side (source or destination)
    ports: tuple[int, ...]
    purpose: str
    needs: Mapping[Mode, Need]
    source: Source
    protocol: str = "tcp"
    local: str = "VirtualNetwork"  # the APIM side, as an NSG rule names it
    lint: bool = True         # judged by probe lint (a feature's flow lint cannot know of: no)

    def need(self, mode: Mode | str) -> Need:
        return self.needs[Mode(mode)]


DEPENDENCIES: tuple[Dependency, ...] = (
    # ---- inbound to the APIM (or workspace gateway) subnet --------------------------
    Dependency("management", "inbound", "ApiManagement", (3443,),
               "management endpoint: the portal and ARM configure the instance through it",
               _classic(REQ), VNET_REFERENCE),
    Dependency("load-balancer", "inbound", "AzureLoadBalancer", (6390,),
               "the infrastructure load balancer's health probe", _classic(REQ), VNET_REFERENCE),
    Dependency("gateway", "inbound", "Internet", (443,),
               "client traffic to the gateway in external mode", _needs(external=REQ),
               VNET_REFERENCE),
    Dependency("gateway-http", "inbound", "Internet", (80,),
               "plain-HTTP client traffic in external mode (optional)", _needs(external=INF),
               VNET_REFERENCE),
    Dependency("health-ping", "inbound", "AzureLoadBalancer", (80,),
               "the load balancer's health ping of an injected workspace gateway",
               _needs(workspace_gateway_injection=REQ), WORKSPACES),
    Dependency("gateway", "inbound", "VirtualNetwork", (80, 443),
               "client traffic to an injected workspace gateway",
               _needs(workspace_gateway_injection=REQ), WORKSPACES),
    # ---- outbound from it ---------------------------------------------------------
    Dependency("storage", "outbound", "Storage", (443,),
               "service deployment, configuration and logs (Azure Storage); with v2 "
               "integration only what the VNet's routes send through it (a forced tunnel)",
               _classic(REQ, v2_injection=REQ, workspace_gateway_injection=REQ,
                        v2_integration=OPT),
               VNET_REFERENCE),
    Dependency("sql", "outbound", "Sql", (1433,), "the configuration database (Azure SQL)",
               _classic(REQ), VNET_REFERENCE),
    Dependency("keyvault", "outbound", "AzureKeyVault", (443,),
               "certificates kept in Key Vault",
               _classic(REQ, v2_injection=OPT, workspace_gateway_injection=REQ), VNET_REFERENCE),
    Dependency("monitor", "outbound", "AzureMonitor", (1886, 443),
               "diagnostics logs and metrics, Resource Health (Azure Monitor)", _classic(REQ),
               VNET_REFERENCE),
    Dependency("certificates", "outbound", "Internet", (80,),
               "certificate and CRL validation", _classic(REQ), VNET_REFERENCE),
    Dependency("configuration", "outbound", "ApiManagement", (443,),
               "the configuration API v2 a self-hosted gateway polls",
               _needs(self_hosted_gateway=REQ), SELF_HOSTED, local="the gateway's network",
               lint=False),
    Dependency("entra", "outbound", "AzureActiveDirectory", (443,),
               "Entra ID sign-in for the portal and policies", _classic(OPT), VNET_REFERENCE,
               lint=False),
    Dependency("eventhub", "outbound", "EventHub", (5671, 5672, 443),
               "the log-to-eventhub policy", _classic(OPT), VNET_REFERENCE, lint=False),
    Dependency("cache", "outbound", "VirtualNetwork", (6380, 6381, 6382, 6383),
               "an external or internal cache", _classic(OPT), VNET_REFERENCE, lint=False),
)


@dataclass(frozen=True, slots=True)
class SubnetRules:
    delegation: str | None        # the service the subnet must be delegated to (None: none)
    min_prefix: int               # the smallest subnet (longest prefix length) allowed
    recommended_prefix: int
    dedicated: bool = True
    nsg_required: bool = True
    single_prefix: bool = False   # addressPrefix (one CIDR), not addressPrefixes


@dataclass(frozen=True, slots=True)
class Profile:
    mode: Mode
    title: str
    tiers: str
    gateway_private: bool         # the gateway's names resolve to a private address
    management_endpoint: bool     # <name>.management.<domain>:3443 is there to probe
    gateway_from_vnet: Need       # the gateway, as reached from the VNet
    subnet: SubnetRules | None
    sources: tuple[Source, ...]
    dns_must_resolve: tuple[str, ...] = ()
    not_expected: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()

    def needs(self, *, linted: bool = False) -> tuple[Dependency, ...]:
        """The dependencies this mode needs at all (``linted``: those lint judges)."""
        return tuple(d for d in DEPENDENCIES if d.need(self.mode) is not Need.NOT_NEEDED
                     and (d.lint or not linted))


_CLASSIC_SUBNET = SubnetRules(None, 29, 27)
_V2_NOT = ("no inbound ApiManagement -> 3443", "no AzureLoadBalancer -> 6390",
           "no Azure SQL 1433", "no Azure Monitor 1886", "no public IP address resource")

PROFILES: Mapping[Mode, Profile] = MappingProxyType({p.mode: p for p in (
    Profile(Mode.INTERNAL, "classic, internal (stv2)", "Developer, Premium", True, True, REQ,
            _CLASSIC_SUBNET, (VNET_REFERENCE, STV1_RETIREMENT),
            skus=("Developer", "Premium")),
    Profile(Mode.EXTERNAL, "classic, external (stv2)", "Developer, Premium", False, True, REQ,
            _CLASSIC_SUBNET, (VNET_REFERENCE, STV1_RETIREMENT),
            skus=("Developer", "Premium")),
    Profile(Mode.V2_INTEGRATION, "v2, outbound VNet integration (gateway public)",
            "Standard v2, Premium v2", False, False, INF,
            SubnetRules("Microsoft.Web/serverFarms", 27, 24), (INTEGRATE_V2,),
            not_expected=_V2_NOT, skus=("StandardV2", "PremiumV2")),
    Profile(Mode.V2_INJECTION, "Premium v2, VNet injection (gateway private)", "Premium v2",
            True, False, REQ,
            SubnetRules("Microsoft.Web/hostingEnvironments", 27, 24, single_prefix=True),
            (INJECT_V2,), dns_must_resolve=("*.vault.azure.net",), not_expected=_V2_NOT,
            skus=("PremiumV2",)),
    Profile(Mode.WORKSPACE_GATEWAY_INTEGRATION,
            "workspace gateway, VNet integration (gateway public)",
            "Standard v2, Premium, Premium v2", False, False, INF,
            SubnetRules("Microsoft.Web/serverFarms", 27, 24), (WORKSPACES,),
            not_expected=_V2_NOT),
    Profile(Mode.WORKSPACE_GATEWAY_INJECTION,
            "workspace gateway, VNet injection (gateway private)",
            "Standard v2, Premium, Premium v2", True, False, REQ,
            SubnetRules("Microsoft.Web/hostingEnvironments", 27, 24), (WORKSPACES,),
            not_expected=_V2_NOT),
    Profile(Mode.SELF_HOSTED_GATEWAY, "self-hosted gateway (your own cluster or host)",
            "Developer, Premium (and v2 where offered)", False, False, NOT, None,
            (SELF_HOSTED,), not_expected=("no NSG rules of APIM's own",
                                          "nothing inbound from Azure")),
)})


def profile(mode: Mode | str) -> Profile:
    return PROFILES[Mode(mode)]


def for_sku(mode: Mode, sku: str | None) -> Mode:
    """The profile ``mode`` means on ``sku``: an ARM resource of a Standard v2 or
    Premium v2 instance says External exactly as classic external does, and only
    the sku tells them apart (Premium v2 injected says Internal)."""
    if sku is None or not sku.lower().endswith("v2"):
        return mode
    return {Mode.EXTERNAL: Mode.V2_INTEGRATION, Mode.INTERNAL: Mode.V2_INJECTION}.get(mode, mode)


def sku_conflict(mode: Mode, sku: str) -> str | None:
    """Why ``sku`` cannot run ``mode`` (None when it can)."""
    skus = profile(mode).skus
    if not skus or sku.lower() in (s.lower() for s in skus):
        return None
    return f"mode {mode.value} is for sku {' or '.join(skus)}, not {sku}"


def ports_of(group: str, mode: Mode | str | None = None) -> tuple[int, ...]:
    """The documented ports of an outbound dependency group (all modes when None)."""
    ports: dict[int, None] = {}
    for d in DEPENDENCIES:
        if d.group == group and d.direction == "outbound" and (
                mode is None or d.need(mode) is not Need.NOT_NEEDED):
            ports.update(dict.fromkeys(d.ports))
    return tuple(ports)


# The port a dependency is reached on when its name says none (a networkstatus
# entry without a port); 443 for every other.
_NAMELESS_PORTS: Mapping[str, int] = MappingProxyType({"sql": 1433, "cache": 6380,
                                                      "email": 25})


def default_port(group: str) -> int:
    return _NAMELESS_PORTS.get(group, 443)


def outbound_need(group: str, mode: Mode | str) -> Need:
    """How much ``mode`` needs the outbound dependency ``group``."""
    needs = [d.need(mode) for d in DEPENDENCIES if d.group == group and d.direction == "outbound"]
    order = (Need.REQUIRED, Need.OPTIONAL, Need.INFORMATIONAL, Need.NOT_NEEDED)
    return min(needs, key=order.index) if needs else Need.NOT_NEEDED


# ---- names --------------------------------------------------------------------------

# A hostname's dependency group, by the first suffix it contains (the instance's
# own endpoints first: <n>.management.azure-api.net is management, not gateway).
HOSTNAME_GROUPS: tuple[tuple[str, str], ...] = (
    (".management.azure-api.", "management"),
    (".configuration.azure-api.", "configuration"),
    (".developer.azure-api.", "portal"),
    (".portal.azure-api.", "portal"),
    (".scm.azure-api.", "scm"),
    (".regional.azure-api.", "gateway"),
    # and a workspace gateway's <gw>-<hash>.gateway.<region>-NN.azure-api.net
    (".azure-api.", "gateway"),
    (".blob.core.", "storage"),
    (".table.core.", "storage"),
    (".queue.core.", "storage"),
    (".file.core.", "storage"),
    (".database.", "sql"),
    (".vault.", "keyvault"),
    (".monitoring.", "monitor"),
    (".monitor.", "monitor"),
    (".servicebus.", "eventhub"),
    ("login.microsoftonline.", "entra"),
)

# A port's dependency group, for a host no suffix names.
PORT_GROUPS: Mapping[int, str] = MappingProxyType({
    3443: "management", 1433: "sql", 1886: "monitor", 5671: "eventhub", 5672: "eventhub",
    6380: "cache", 6381: "cache", 6382: "cache", 6383: "cache", 53: "dns",
})


def group_of(host: str, port: int) -> str:
    """The dependency group of ``host:port`` by hostname, then port ("other")."""
    lowered = "." + host.lower().rstrip(".") + "."
    for suffix, group in HOSTNAME_GROUPS:
        if suffix in lowered:
            return group
    return PORT_GROUPS.get(port, "other")


# Dependency group -> (the NSG service tag that allows it, its documented ports), for
# the advice of outbound findings.
SERVICE_TAGS: Mapping[str, tuple[str, str]] = MappingProxyType({
    **{d.group: (d.peer, ", ".join(map(str, ports_of(d.group))))
       for d in DEPENDENCIES if d.direction == "outbound" and d.peer != "Internet"
       and d.group not in ("configuration", "cache")},
    "cache": ("VirtualNetwork", "6380, 6381-6383"),
    "dns": ("the DNS server's address", "53"),
})


# ---- the README's tables ----------------------------------------------------------


def markdown_profiles() -> str:
    """One table per profile: what is probed, what lint checks, what is not expected
    (README.md, "APIM modes"; ``tests.helpers.readme_keys`` writes it)."""
    out: list[str] = []
    for p in PROFILES.values():
        out += [f"**`{p.mode.value}`**: {p.title}; tiers: {p.tiers}.", "",
                "| flow | ports | need | probed by the agent | judged by lint | why |",
                "|---|---|---|---|---|---|"]
        for d in p.needs():
            flow = (f"inbound {d.peer} -> {d.local}" if d.direction == "inbound"
                    else f"outbound -> {d.peer}")
            probed = _probed(p, d)
            out.append(f"| {flow} | {', '.join(map(str, d.ports))} | {d.need(p.mode).value} "
                       f"| {probed} | {'yes' if d.lint else 'no'} | {d.purpose} |")
        if not p.needs():
            out.append("| none of APIM's own | | | the gateway (optional); your backends as "
                       "`[[target]]`s | | the platform needs no flow through this subnet |")
        notes = []
        if p.subnet is not None:
            s = p.subnet
            delegation = f"delegated to {s.delegation}" if s.delegation else "no delegation"
            notes.append(f"subnet: {delegation}, /{s.min_prefix} at least "
                         f"(/{s.recommended_prefix} recommended)"
                         + (", dedicated" if s.dedicated else "")
                         + (", an NSG attached" if s.nsg_required else "")
                         + (", one CIDR in `addressPrefix`" if s.single_prefix else ""))
        if p.dns_must_resolve:
            notes.append("a custom DNS must resolve " + ", ".join(f"`{n}`"
                                                                   for n in p.dns_must_resolve))
        if p.not_expected:
            notes.append("not expected: " + "; ".join(p.not_expected))
        notes.append("sources: " + "; ".join(f"{s.title} ({s.date})" for s in p.sources))
        out += ["", *(f"- {n}" for n in notes), ""]
    return "\n".join(out)


def _probed(p: Profile, d: Dependency) -> str:
    if d.direction == "outbound":
        return "listed hosts" if d.group in ("storage", "sql", "keyvault", "monitor") else (
            "yes" if d.group == "configuration" else "as a `[[target]]`")
    if d.group == "management" and p.management_endpoint:
        return "`<name>.management.<domain>`"
    if d.group == "gateway" and d.peer == "VirtualNetwork":
        return "the gateway, " + ", ".join(map(str, d.ports))
    return "no (from Azure or the Internet)"
