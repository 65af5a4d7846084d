"""NSGs as Azure evaluates them, against APIM's requirements (pure, no I/O).

Rules of one direction in priority order; the first that matches a flow
decides. Each APIM requirement of the mode is one flow (e.g. inbound
ApiManagement -> VirtualNetwork TCP 3443); it is *missing* when a deny
decides and no allow would, *shadowed* when an allow exists below a deny that
wins. Service tags are compared by name, with the containment that matters
(Internet and AzureCloud hold the Azure service tags; a regional tag such as
Storage.EastUS allows its service). ``matches`` is three-valued: what offline
lint cannot expand (application security groups, unknown tags, public
prefixes where an Azure service is expected) gives None, never a guess.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from probe.apimmodel import Mode, profile
from probe.results import Severity

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
    source_asgs: tuple[str, ...] = ()  # application security groups, by name
    destination_asgs: tuple[str, ...] = ()

    def describe(self) -> str:
        ports = ",".join("*" if (a, b) == (0, 65535) else str(a) if a == b else f"{a}-{b}"
                         for a, b in self.ports)
        kind = ", default" if self.default else ""
        sources = [*self.sources, *(f"asg {a}" for a in self.source_asgs)]
        destinations = [*self.destinations, *(f"asg {a}" for a in self.destination_asgs)]
        return (f"rule {self.name!r} (priority {self.priority}{kind}): {self.access} "
                f"{self.direction} {self.protocol} {','.join(sources) or '-'} -> "
                f"{','.join(destinations) or '-'} port {ports or '-'}")


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


def requirements(mode: Mode | str) -> tuple[Requirement, ...]:
    """APIM's NSG requirements for the mode, one per dependency record and port of
    the APIM model (``probe.apimmodel``) that lint judges, with the record's
    severity for the mode: the one the agent gives the same dependency."""
    rules: list[Requirement] = []
    for dep in profile(mode).needs(linted=True):
        severity = dep.need(mode).severity
        assert severity is not None  # needs() leaves out what the mode does not need
        for port in dep.ports:
            if dep.direction == "inbound":
                rules.append(Requirement("inbound", dep.peer, dep.local, port, severity,
                                         dep.purpose))
            else:
                rules.append(Requirement("outbound", dep.local, dep.peer, port, severity,
                                         dep.purpose))
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


# Service tags whose relation to APIM's requirements is known by name: the
# requirement tags themselves, the containers (Internet, AzureCloud) and other
# services, disjoint from them. A tag not listed cannot be expanded offline.
_KNOWN_TAGS = _AZURE_TAGS | frozenset({
    "virtualnetwork", "azureloadbalancer", "internet", "azurecloud", "gatewaymanager",
    "appservice", "appservicemanagement", "azurefrontdoor", "azurebackup", "azurecosmosdb",
    "azurecontainerregistry", "microsoftcontainerregistry", "servicebus", "azuresiterecovery",
    "batchnodemanagement", "azuredevops", "azureresourcemanager", "azureconnectors",
    "datafactory", "hdinsight", "logicapps", "powerbi", "azuremachinelearning", "azurebotservice",
    "azuredatalake", "azurecognitivesearch", "azureplatformdns", "azureplatformimds",
    "azureplatformlkm", "azureupdatedelivery", "guestandhybridmanagement", "windowsadmincenter"})


def unknowable(prefix: str, tag: str) -> str | None:
    """Why a rule's prefix cannot be compared with ``tag`` offline, or None.

    Only the Azure side can be unknown: the APIM subnet is in no service tag,
    and no service tag holds all of Internet.
    """
    if tag.lower() not in _AZURE_TAGS:
        return None
    text = prefix.strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        base = text.lower().split(".", 1)[0]
        return None if base in _KNOWN_TAGS else f"service tag {text}"
    return f"address prefix {text}" if network.is_global and network.prefixlen > 0 else None


def _side(prefixes: tuple[str, ...], asgs: tuple[str, ...], tag: str, subnet: Network | None,
          deny: bool) -> bool | None:
    """True: the rule's side holds ``tag``; False: it does not; None: cannot tell."""
    if any((_denies(p, tag, subnet) if deny else covers(p, tag, subnet)) for p in prefixes):
        return True
    if asgs or any(unknowable(p, tag) for p in prefixes):
        return None
    return False


def matches(rule: SecurityRule, req: Requirement, subnet: Network | None = None) -> bool | None:
    """Does ``rule`` decide the flow ``req``? None: it depends on what offline
    lint cannot see (application security groups, tags it cannot expand)."""
    if rule.direction != req.direction or rule.protocol in KNOWN_NOT_TCP:
        return False
    if not any(low <= req.port <= high for low, high in rule.ports):
        return False
    deny = rule.access == "deny"
    sides = (_side(rule.sources, rule.source_asgs, req.source, subnet, deny),
             _side(rule.destinations, rule.destination_asgs, req.destination, subnet, deny))
    if False in sides:
        return False
    # a protocol Azure added after this lint: it may or may not carry TCP
    unknown = rule.protocol not in ("*", "any", "all", "tcp")
    return None if None in sides or unknown else True


def opaque_parts(rule: SecurityRule, req: Requirement) -> list[str]:
    """What of ``rule`` offline lint cannot judge, for the evidence."""
    parts = [f"application security group {a}" for a in (*rule.source_asgs,
                                                          *rule.destination_asgs)]
    if rule.protocol not in ("*", "any", "all", "tcp", *KNOWN_NOT_TCP):
        parts.append(f"unknown protocol {rule.protocol!r} (added by Azure after this lint: it "
                     "may or may not carry TCP)")
    for prefix, tag in ([(p, req.source) for p in rule.sources]
                        + [(p, req.destination) for p in rule.destinations]):
        why = unknowable(prefix, tag)
        if why:
            parts.append(why)
    return parts


# Protocols an NSG rule names that are not TCP (a rule with one never decides a TCP flow).
KNOWN_NOT_TCP = frozenset({"udp", "icmp", "esp", "ah"})

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
    rule_list: bool = False  # rules without their NSG (az network nsg rule list)
