"""NSGs as Azure evaluates them, against APIM's requirements (pure, no I/O).

Rules of one direction in priority order; the first that matches a flow
decides. Each APIM requirement of the mode is one flow (e.g. inbound
ApiManagement -> VirtualNetwork TCP 3443); it is *missing* when a deny
decides and no allow would, *shadowed* when an allow exists below a deny that
wins. Service tags are compared by name, with the containment that matters
(Internet and AzureCloud hold the Azure service tags; a regional tag such as
Storage.EastUS allows its service).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from probe.results import Finding, Severity

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SecurityRule:
    name: str
    priority: int
    direction: str  # "inbound" | "outbound"
    access: str  # "allow" | "deny"
    protocol: str  # lower case: "*", "tcp", "udp", "icmp", ...
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[tuple[int, int], ...]
    default: bool = False

    def describe(self) -> str:
        ports = ",".join("*" if (a, b) == (0, 65535) else str(a) if a == b else f"{a}-{b}"
                         for a, b in self.ports)
        kind = ", default" if self.default else ""
        return (f"rule {self.name!r} (priority {self.priority}{kind}): {self.access} "
                f"{self.direction} {self.protocol} {','.join(self.sources) or '-'} -> "
                f"{','.join(self.destinations) or '-'} port {ports or '-'}")


@dataclass(frozen=True, slots=True)
class Requirement:
    direction: str
    source: str
    destination: str
    port: int
    severity: Severity
    why: str

    @property
    def remote(self) -> str:
        return self.source if self.direction == "inbound" else self.destination

    def describe(self) -> str:
        return f"{self.direction} {self.source} -> {self.destination} TCP {self.port}"


def requirements(mode: str) -> tuple[Requirement, ...]:
    """APIM's NSG requirements for the mode (APIM-REFERENCE.md)."""
    crit, warn, info = Severity.CRITICAL, Severity.WARNING, Severity.INFO
    rules = [
        Requirement("inbound", "ApiManagement", "VirtualNetwork", 3443, crit,
                    "management endpoint: the portal and ARM configure the instance through it"),
        Requirement("inbound", "AzureLoadBalancer", "VirtualNetwork", 6390, crit,
                    "the infrastructure load balancer's health probe"),
    ]
    if mode == "external":
        rules += [
            Requirement("inbound", "Internet", "VirtualNetwork", 443, crit,
                        "client traffic to the gateway in external mode"),
            Requirement("inbound", "Internet", "VirtualNetwork", 80, info,
                        "plain-HTTP client traffic in external mode (optional)"),
        ]
    rules += [
        Requirement("outbound", "VirtualNetwork", "Storage", 443, crit,
                    "service deployment, configuration and logs (Azure Storage)"),
        Requirement("outbound", "VirtualNetwork", "Sql", 1433, crit,
                    "the configuration database (Azure SQL)"),
        Requirement("outbound", "VirtualNetwork", "AzureKeyVault", 443, crit,
                    "certificates kept in Key Vault"),
        Requirement("outbound", "VirtualNetwork", "AzureMonitor", 1886, warn,
                    "diagnostics logs and metrics (Azure Monitor)"),
        Requirement("outbound", "VirtualNetwork", "AzureMonitor", 443, warn,
                    "diagnostics logs and metrics (Azure Monitor)"),
        Requirement("outbound", "VirtualNetwork", "Internet", 80, warn,
                    "certificate and CRL validation"),
    ]
    return tuple(rules)


# Tags whose addresses are public Azure addresses: inside "Internet" and
# "AzureCloud" as far as an NSG is concerned.
_AZURE_TAGS = frozenset({"apimanagement", "storage", "sql", "azurekeyvault", "azuremonitor",
                         "azuretrafficmanager", "azureactivedirectory", "eventhub"})
_ANY = frozenset({"*", "any", "0.0.0.0/0", "::/0"})


def _private_prefix(text: str) -> bool:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return not network.is_global and network.prefixlen > 0




def _vnet_side(prefix: str, subnet: Network | None, deny: bool) -> bool:
    """Does a rule's IP prefix stand for the APIM subnet's side of a flow?

    With the subnet known: an allow must hold all of it, a deny needs only to
    touch it. Without: the NSG sits on the APIM subnet, so a private prefix
    is taken to be that subnet (or its VNet).
    """
    try:
        network = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False
    if subnet is None:
        return _private_prefix(prefix)
    if network.version != subnet.version:
        return False
    if deny:
        return subnet.network_address in network or network.network_address in subnet
    return subnet.network_address in network and subnet.broadcast_address in network


def covers(rule_prefix: str, tag: str, subnet: Network | None = None, *,
           deny: bool = False) -> bool:
    """Does an NSG rule's address prefix hold every address of ``tag``?

    ``tag`` "VirtualNetwork" stands for the APIM subnet (``subnet`` when known).
    """
    r = rule_prefix.strip().lower()
    t = tag.lower()
    if r in _ANY or r == t:
        return True
    if t == "virtualnetwork":
        return _vnet_side(r, subnet, deny)
    if t == "azureloadbalancer":
        return r in ("168.63.129.16", "168.63.129.16/32")
    base = r.split(".", 1)[0] if "." in r and not r[0].isdigit() else r
    if base == t:
        return True  # a regional tag, e.g. Storage.EastUS, for its service
    return t in _AZURE_TAGS and base in ("internet", "azurecloud")


def _denies(rule_prefix: str, tag: str, subnet: Network | None = None) -> bool:
    """A deny takes effect for a tag when its prefix holds the whole tag; a
    regional deny (Storage.WestUS) is not assumed to hit the instance's region."""
    r = rule_prefix.strip().lower()
    if "." in r and not r[0].isdigit() and r.split(".", 1)[0] == tag.lower():
        return False
    return covers(rule_prefix, tag, subnet, deny=True)


def _matches(rule: SecurityRule, req: Requirement, subnet: Network | None = None) -> bool:
    if rule.direction != req.direction or rule.protocol not in ("*", "any", "tcp"):
        return False
    if not any(low <= req.port <= high for low, high in rule.ports):
        return False
    if rule.access == "allow":
        return (any(covers(p, req.source, subnet) for p in rule.sources)
                and any(covers(p, req.destination, subnet) for p in rule.destinations))
    return (any(_denies(p, req.source, subnet) for p in rule.sources)
            and any(_denies(p, req.destination, subnet) for p in rule.destinations))


# The rules Azure adds to every NSG; used when an export lacks them.
DEFAULT_RULES: tuple[SecurityRule, ...] = (
    SecurityRule("AllowVnetInBound", 65000, "inbound", "allow", "*", ("VirtualNetwork",),
                 ("VirtualNetwork",), ((0, 65535),), True),
    SecurityRule("AllowAzureLoadBalancerInBound", 65001, "inbound", "allow", "*",
                 ("AzureLoadBalancer",), ("*",), ((0, 65535),), True),
    SecurityRule("DenyAllInBound", 65500, "inbound", "deny", "*", ("*",), ("*",),
                 ((0, 65535),), True),
    SecurityRule("AllowVnetOutBound", 65000, "outbound", "allow", "*", ("VirtualNetwork",),
                 ("VirtualNetwork",), ((0, 65535),), True),
    SecurityRule("AllowInternetOutBound", 65001, "outbound", "allow", "*", ("*",),
                 ("Internet",), ((0, 65535),), True),
    SecurityRule("DenyAllOutBound", 65500, "outbound", "deny", "*", ("*",), ("*",),
                 ((0, 65535),), True),
)


@dataclass(frozen=True, slots=True)
class Nsg:
    name: str
    rules: tuple[SecurityRule, ...]
    defaults_from_export: bool


def lint_nsg(nsg: Nsg, mode: str, source: str, subnet: Network | None = None) -> list[Finding]:
    findings: list[Finding] = []
    ordered = sorted(nsg.rules, key=lambda r: (r.default, r.priority))
    for req in requirements(mode):
        applicable = [r for r in ordered if _matches(r, req, subnet)]
        decider = applicable[0] if applicable else None
        if decider is not None and decider.access == "allow":
            continue
        # Azure's default rules cannot be re-prioritised: only a custom allow is "shadowed".
        allows = [r for r in applicable if r.access == "allow" and not r.default]
        subject = f"nsg {nsg.name}: {req.describe()}"
        evidence = [f"{source}: {decider.describe()}" if decider else
                    f"{source}: no rule matches (Azure would deny)"]
        direction = "Inbound" if req.direction == "inbound" else "Outbound"
        remedy_rule = (f"an {req.direction} Allow rule: source "
                       f"{'service tag ' if req.direction == 'inbound' else ''}{req.source}, "
                       f"destination {'service tag ' if req.direction == 'outbound' else ''}"
                       f"{req.destination}, TCP, destination port {req.port}")
        if decider is not None and decider.default and not nsg.defaults_from_export:
            evidence.append(f"{source}: {decider.name} is Azure's default rule (not in the "
                            "export, added as Azure adds it)")
        if allows and decider is not None:
            allow = allows[0]
            evidence.append(f"{source}: {allow.describe()} (never reached)")
            findings.append(Finding(
                id="nsg-rule-shadowed",
                severity=req.severity,
                subject=subject,
                summary=(f"{req.describe()} ({req.why}) is allowed by {allow.name!r} "
                         f"(priority {allow.priority}) but {decider.name!r} (priority "
                         f"{decider.priority}) denies it first"),
                evidence=tuple(evidence),
                remedy=(f"Give {allow.name!r} a priority number lower than {decider.priority} "
                        f"or narrow {decider.name!r} so it does not hold {req.remote} "
                        f"({direction} rules are evaluated lowest number first)."),
            ))
        else:
            findings.append(Finding(
                id="nsg-rule-missing",
                severity=req.severity,
                subject=subject,
                summary=(f"{req.describe()} ({req.why}) is denied"
                         + (f" by {decider.name!r} (priority {decider.priority})"
                            if decider else "") + ": no rule allows it"),
                evidence=tuple(evidence),
                remedy=(f"Add {remedy_rule}, with a priority number lower than "
                        f"{decider.priority if decider else 65500}."),
            ))
    return findings

