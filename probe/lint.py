"""Offline lint of saved ``az`` exports against APIM's network requirements.

    probe lint FILE... [--mode internal|external] [--format table|json]
                       [--subnet PREFIX] [--destination IP ...]

Each FILE is the JSON of one of (recognised from its content, not its name):

* ``az network nsg show``                        securityRules[] + defaultSecurityRules[]
* ``az network route-table show``                routes[] (addressPrefix, nextHopType, ...)
* ``az network nic show-effective-route-table``  value[] (addressPrefix[], source, state, ...)

An NSG is evaluated as Azure does: rules of one direction in priority order,
the first that matches a flow decides. Each APIM requirement of the mode is
one flow (e.g. inbound ApiManagement -> VirtualNetwork TCP 3443); it is
*missing* when a deny decides and no allow would, *shadowed* when an allow
exists below a deny that wins. Service tags are compared by name, with the
containment that matters (Internet and AzureCloud hold the Azure service
tags; a regional tag such as Storage.EastUS allows its service). A rule
naming IP prefixes on the Azure side cannot be matched offline (the service
ranges are not in the export) and is treated as not matching.

Routes: the longest prefix wins (``ipaddress``); in effective routes only
``Active`` ones count. A next hop VirtualAppliance or VirtualNetworkGateway
for APIM's control plane breaks it: the replies to management traffic that
arrived directly are dropped by a stateful firewall (asymmetric routing).

Exit status: 0 no finding above info, 1 a critical or warning finding,
2 unreadable or malformed input (the message names the file and what was
expected).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe.addresses import is_prefix
from probe.errors import ProbeError
from probe.results import Finding, Severity

MODES = ("internal", "external")
FORMATS = ("table", "json")

NSG = "nsg"
ROUTE_TABLE = "route-table"
EFFECTIVE_ROUTES = "effective-routes"

BREAKING_HOPS = frozenset({"virtualappliance", "virtualnetworkgateway"})


class LintInputError(ProbeError):
    """A saved export that cannot be read or is not what it should be."""

    exit_status = 2

    def __init__(self, source: str, message: str, where: str = "") -> None:
        self.source = source
        self.where = where
        self.message = message
        super().__init__(f"{source}: {where + ': ' if where else ''}{message}")


# --------------------------------------------------------------------------
# NSG model


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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


# --------------------------------------------------------------------------
# routes


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    prefixes: tuple[str, ...]  # CIDR prefixes or service tags (route tables accept tags)
    next_hop: str  # as Azure spells it: Internet, VirtualAppliance, ...
    next_hop_ip: tuple[str, ...]
    source: str = "User"
    active: bool = True

    def describe(self) -> str:
        hop = f" {','.join(self.next_hop_ip)}" if self.next_hop_ip else ""
        state = "" if self.active else ", Invalid"
        return (f"route {self.name or '-'} {','.join(self.prefixes)} -> {self.next_hop}{hop} "
                f"(source {self.source}{state})")

    @property
    def breaks(self) -> bool:
        return self.next_hop.lower() in BREAKING_HOPS


def _networks(route: Route) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for prefix in route.prefixes:
        try:
            out.append(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            continue  # a service tag: its ranges are not in the export
    return out


def _tags(route: Route) -> list[str]:
    return [p for p in route.prefixes if not is_prefix(p)]


def longest_match(routes: Sequence[Route], destination: str,
                  ) -> tuple[Route, ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """The active route whose prefix holds ``destination`` most precisely.

    Equal prefixes: a user route beats BGP (VirtualNetworkGateway) beats the
    system's (Default), as Azure decides.
    """
    address = ipaddress.ip_address(destination)
    rank = {"user": 0, "virtualnetworkgateway": 1, "default": 2}
    best: tuple[int, int, Route, ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None
    for route in routes:
        if not route.active:
            continue
        for network in _networks(route):
            if network.version != address.version or address not in network:
                continue
            key = (-network.prefixlen, rank.get(route.source.lower(), 1))
            if best is None or key < best[:2]:
                best = (*key, route, network)
    return None if best is None else (best[2], best[3])


def _default_routes(routes: Sequence[Route]) -> list[Route]:
    return [r for r in routes if r.active and any(n.prefixlen == 0 for n in _networks(r))]


def _tunnel_remedy() -> str:
    return ("Add a route for service tag ApiManagement with next hop Internet to the APIM "
            "subnet's route table (control-plane replies must not go through the firewall), "
            "and route or allow Storage, Sql, AzureKeyVault and AzureMonitor (service tag "
            "routes to Internet or service endpoints). If the default route is learnt over BGP "
            "or from a peered hub, set disableBgpRoutePropagation or override 0.0.0.0/0 here.")


def lint_routes(routes: Sequence[Route], mode: str, source: str, label: str,
                destinations: Sequence[str]) -> list[Finding]:
    findings: list[Finding] = []
    active = [r for r in routes if r.active]
    apim_routes = [r for r in active if any(t.lower() == "apimanagement" for t in _tags(r))]
    for route in apim_routes:
        if route.next_hop.lower() != "internet":
            findings.append(Finding(
                id="route-control-plane-via-appliance" if route.breaks else
                "route-control-plane-not-internet",
                severity=Severity.CRITICAL,
                subject=f"{label}: {route.name or 'ApiManagement'}",
                summary=(f"service tag ApiManagement is routed to {route.next_hop}: the "
                         "control plane's traffic must go to Internet"),
                evidence=(f"{source}: {route.describe()}",),
                remedy="Set the ApiManagement route's next hop type to Internet.",
            ))
    apim_to_internet = [r for r in apim_routes if r.next_hop.lower() == "internet"]
    specific_internet = [r for r in active if r.next_hop.lower() == "internet"
                         and r.source.lower() == "user"
                         and any(n.prefixlen > 0 for n in _networks(r))]
    for route in _default_routes(routes):
        if not route.breaks and route.next_hop.lower() != "none":
            continue
        evidence = [f"{source}: {route.describe()}"]
        if route.next_hop.lower() == "none":
            severity = Severity.CRITICAL
            summary = "0.0.0.0/0 is routed to None: every dependency outside the VNet is dropped"
        elif mode == "external":
            severity = Severity.CRITICAL
            summary = (f"0.0.0.0/0 goes to {route.next_hop} in external mode: replies to "
                       "clients and to the control plane leave through it and a stateful "
                       "firewall drops them (asymmetric routing)")
        elif apim_to_internet or specific_internet:
            severity = Severity.WARNING
            evidence.extend(f"{source}: {r.describe()}"
                            for r in (apim_to_internet or specific_internet))
            summary = (f"0.0.0.0/0 goes to {route.next_hop} (forced tunnelling); more specific "
                       "routes send some traffic to Internet, but every dependency not covered "
                       "by them must be allowed on the appliance")
        else:
            severity = Severity.CRITICAL
            summary = (f"0.0.0.0/0 goes to {route.next_hop} (forced tunnelling) and no route "
                       "sends ApiManagement to Internet: management traffic's replies are "
                       "dropped, 'APIs keep loading'")
        if route.source.lower() == "virtualnetworkgateway":
            summary += " (learnt over BGP from the VPN / ExpressRoute gateway)"
        findings.append(Finding(
            id="route-default-via-appliance" if route.breaks else "route-default-none",
            severity=severity,
            subject=f"{label}: {','.join(route.prefixes)}",
            summary=summary,
            evidence=tuple(evidence),
            remedy=_tunnel_remedy(),
        ))
    for destination in destinations:
        findings.append(_destination_finding(routes, destination, source, label))
    return findings


def _destination_finding(routes: Sequence[Route], destination: str, source: str,
                         label: str) -> Finding:
    tag_routes = [r for r in routes if r.active and _tags(r)]
    hit = longest_match(routes, destination)
    subject = f"{label}: {destination}"
    if hit is None:
        return Finding(
            id="route-destination", severity=Severity.INFO, subject=subject,
            summary=(f"{destination}: no route in this export matches: Azure's system routes "
                     "decide (Internet for public addresses)"),
            evidence=(f"{source}: {len(routes)} route(s), none holds {destination}",),
            remedy="Nothing to change for APIM.")
    route, network = hit
    evidence = [f"{source}: {route.describe()} wins with /{network.prefixlen} ({network})"]
    losers = [r for r in routes if r is not route and r.active
              and any(ipaddress.ip_address(destination) in n for n in _networks(r)
                      if n.version == network.version)]
    evidence.extend(f"{source}: {r.describe()} loses (shorter prefix)" for r in losers)
    if route.breaks or route.next_hop.lower() == "none":
        severity = Severity.CRITICAL
        caveat = ""
        if tag_routes:
            severity = Severity.WARNING
            caveat = (" unless it belongs to a service tag route ("
                      + ", ".join(f"{','.join(_tags(r))} -> {r.next_hop}" for r in tag_routes)
                      + "), whose ranges are not in the export")
            evidence.append(f"{source}: service tag routes present: "
                            + "; ".join(r.describe() for r in tag_routes))
        verb = "dropped (next hop None)" if route.next_hop.lower() == "none" else \
            f"sent to {route.next_hop} {','.join(route.next_hop_ip)}".rstrip()
        return Finding(
            id="route-destination-via-appliance" if route.breaks else "route-destination-none",
            severity=severity, subject=subject,
            summary=(f"traffic to {destination} is {verb} by route {route.name or '-'} "
                     f"({network}){caveat}: APIM's control plane and Azure dependencies must "
                     "not pass a virtual appliance or gateway"),
            evidence=tuple(evidence),
            remedy=(f"Add a route for {destination}/32 (or service tag ApiManagement) with next "
                    "hop Internet to the APIM subnet's route table; the longest prefix wins."),
        )
    return Finding(
        id="route-destination", severity=Severity.INFO, subject=subject,
        summary=f"traffic to {destination} goes to {route.next_hop} via {network}",
        evidence=tuple(evidence), remedy="Nothing to change for APIM.")


# --------------------------------------------------------------------------
# reading the exports (content -> model); every problem is a LintInputError


class _Doc:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> LintInputError:
        return LintInputError(self.source, message, where)

    def field(self, obj: Mapping[str, Any], where: str, key: str, kind: type,
              required: bool = True) -> Any:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.fail(f"{where}.{key}", f"missing; expected {_kind(kind)}")
            return None
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise self.fail(f"{where}.{key}", f"expected {_kind(kind)}, got {value!r}")
        return value


def _kind(kind: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", dict: "an object",
            bool: "true or false"}.get(kind, kind.__name__)


def _flatten(obj: Mapping[str, Any]) -> dict[str, Any]:
    """az prints properties flattened; ARM's REST shape nests them: accept both."""
    out = dict(obj)
    props = obj.get("properties")
    if isinstance(props, Mapping):
        out.update(props)
    return out


def parse_ports(doc: _Doc, where: str, values: Sequence[Any]) -> tuple[tuple[int, int], ...]:
    """'*', '443', '6381-6383' (also as lists) -> inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for value in values:
        text = str(value).strip() if isinstance(value, (str, int)) and \
            not isinstance(value, bool) else None
        if text is None:
            raise doc.fail(where, f"expected a port, a range 'a-b' or '*', got {value!r}")
        if text in ("*", "Any", "any"):
            ranges.append((0, 65535))
            continue
        low, dash, high = text.partition("-")
        if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
            raise doc.fail(where, f"expected a port, a range 'a-b' or '*', got {value!r}")
        a, b = int(low), int(high) if high else int(low)
        if not (0 <= a <= b <= 65535):
            raise doc.fail(where, f"expected ports from 0 to 65535 with a <= b, got {value!r}")
        ranges.append((a, b))
    return tuple(ranges)


def _plural(doc: _Doc, rule: Mapping[str, Any], where: str, singular: str,
            plural: str) -> list[Any]:
    one = rule.get(singular)
    many = rule.get(plural)
    if many is not None and not isinstance(many, list):
        raise doc.fail(f"{where}.{plural}", f"expected a list, got {many!r}")
    values: list[Any] = [*(many or [])]
    if one not in (None, ""):
        values.insert(0, one)
    return values


def _security_rule(doc: _Doc, raw: Any, where: str, default: bool) -> SecurityRule:
    if not isinstance(raw, Mapping):
        raise doc.fail(where, "expected a security rule object")
    rule = _flatten(raw)
    name = doc.field(rule, where, "name", str)
    priority = doc.field(rule, where, "priority", int)
    low, high = (65000, 65500) if default else (100, 4096)
    if not low <= priority <= high:
        raise doc.fail(f"{where}.priority", f"expected {low} to {high}, got {priority}")
    direction = doc.field(rule, where, "direction", str).lower()
    if direction not in ("inbound", "outbound"):
        raise doc.fail(f"{where}.direction", f"expected Inbound or Outbound, got {direction!r}")
    access = doc.field(rule, where, "access", str).lower()
    if access not in ("allow", "deny"):
        raise doc.fail(f"{where}.access", f"expected Allow or Deny, got {access!r}")
    protocol = doc.field(rule, where, "protocol", str).lower()
    ports_raw = _plural(doc, rule, where, "destinationPortRange", "destinationPortRanges")
    if not ports_raw:
        raise doc.fail(f"{where}.destinationPortRange",
                       "missing; expected destinationPortRange or destinationPortRanges")
    sources = _plural(doc, rule, where, "sourceAddressPrefix", "sourceAddressPrefixes")
    destinations = _plural(doc, rule, where, "destinationAddressPrefix",
                           "destinationAddressPrefixes")
    for key, values in (("sourceAddressPrefix", sources),
                        ("destinationAddressPrefix", destinations)):
        if not all(isinstance(v, str) for v in values):
            raise doc.fail(f"{where}.{key}", f"expected prefixes or service tags, got {values!r}")
    return SecurityRule(name, priority, direction, access, protocol, tuple(sources),
                        tuple(destinations),
                        parse_ports(doc, f"{where}.destinationPortRange", ports_raw), default)


def parse_nsg(raw: Mapping[str, Any], source: str) -> Nsg:
    doc = _Doc(source)
    nsg = _flatten(raw)
    rules: list[SecurityRule] = []
    for key, default in (("securityRules", False), ("defaultSecurityRules", True)):
        entries = nsg.get(key, [])
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise doc.fail(key, f"expected a list of rules, got {type(entries).__name__}")
        rules.extend(_security_rule(doc, e, f"{key}[{i}]", default)
                     for i, e in enumerate(entries))
    has_defaults = bool(nsg.get("defaultSecurityRules"))
    if not has_defaults:
        rules.extend(DEFAULT_RULES)
    name = nsg.get("name") if isinstance(nsg.get("name"), str) else Path(source).stem
    return Nsg(str(name), tuple(rules), has_defaults)


def _next_hop(doc: _Doc, route: Mapping[str, Any], where: str) -> str:
    hop = doc.field(route, where, "nextHopType", str)
    known = {"internet", "virtualappliance", "virtualnetworkgateway", "vnetlocal", "none",
             "vnetpeering", "vnetglobalpeering", "virtualnetworkserviceendpoint"}
    if hop.lower() not in known:
        raise doc.fail(f"{where}.nextHopType", f"expected one of Internet, VirtualAppliance, "
                                               f"VirtualNetworkGateway, VnetLocal, None, got "
                                               f"{hop!r}")
    return str(hop)


def _check_prefix(doc: _Doc, where: str, prefix: Any, tags_allowed: bool) -> str:
    if not isinstance(prefix, str) or not prefix.strip():
        raise doc.fail(where, f"expected an address prefix, got {prefix!r}")
    if is_prefix(prefix):
        return prefix
    if tags_allowed and prefix.replace(".", "").isalnum() and prefix[0].isalpha():
        return prefix  # a service tag (route tables accept them)
    raise doc.fail(where, f"expected a CIDR prefix{' or a service tag' if tags_allowed else ''}"
                          f", got {prefix!r}")


def parse_route_table(raw: Mapping[str, Any], source: str) -> tuple[str, list[Route]]:
    doc = _Doc(source)
    table = _flatten(raw)
    entries = table.get("routes")
    if not isinstance(entries, list):
        raise doc.fail("routes", "expected a list of routes")
    routes = []
    for i, entry in enumerate(entries):
        where = f"routes[{i}]"
        if not isinstance(entry, Mapping):
            raise doc.fail(where, "expected a route object")
        route = _flatten(entry)
        prefix = _check_prefix(doc, f"{where}.addressPrefix",
                               doc.field(route, where, "addressPrefix", str), True)
        hop = _next_hop(doc, route, where)
        ip = route.get("nextHopIpAddress")
        if hop.lower() == "virtualappliance" and not ip:
            raise doc.fail(f"{where}.nextHopIpAddress", "missing; a VirtualAppliance next hop "
                                                        "needs the appliance's address")
        if ip is not None and not (isinstance(ip, str) and (not ip or is_prefix(ip))):
            raise doc.fail(f"{where}.nextHopIpAddress", f"expected an IP address, got {ip!r}")
        routes.append(Route(str(route.get("name") or ""), (prefix,), hop,
                            (ip,) if ip else ()))
    name = table.get("name") if isinstance(table.get("name"), str) else Path(source).stem
    return str(name), routes


def parse_effective_routes(raw: Mapping[str, Any], source: str) -> list[Route]:
    doc = _Doc(source)
    entries = raw.get("value")
    if not isinstance(entries, list):
        raise doc.fail("value", "expected a list of effective routes")
    routes = []
    for i, entry in enumerate(entries):
        where = f"value[{i}]"
        if not isinstance(entry, Mapping):
            raise doc.fail(where, "expected an effective route object")
        prefixes = doc.field(entry, where, "addressPrefix", list)
        checked = tuple(_check_prefix(doc, f"{where}.addressPrefix[{j}]", p, False)
                        for j, p in enumerate(prefixes))
        hop = _next_hop(doc, entry, where)
        ips = entry.get("nextHopIpAddress") or []
        if not isinstance(ips, list) or not all(isinstance(a, str) for a in ips):
            raise doc.fail(f"{where}.nextHopIpAddress", f"expected a list of addresses, got "
                                                        f"{ips!r}")
        state = doc.field(entry, where, "state", str)
        if state.lower() not in ("active", "invalid"):
            raise doc.fail(f"{where}.state", f"expected Active or Invalid, got {state!r}")
        source_kind = doc.field(entry, where, "source", str)
        routes.append(Route(str(entry.get("name") or ""), checked, hop, tuple(ips),
                            source_kind, state.lower() == "active"))
    return routes


def kind_of(raw: Any) -> str | None:
    """NSG, route table or effective routes, from the content."""
    if not isinstance(raw, Mapping):
        return None
    flat = _flatten(raw)
    if "securityRules" in flat or "defaultSecurityRules" in flat:
        return NSG
    if "routes" in flat:
        return ROUTE_TABLE
    value = raw.get("value")
    if isinstance(value, list) and all(isinstance(v, Mapping) and "nextHopType" in v
                                       for v in value):
        return EFFECTIVE_ROUTES
    kind = str(raw.get("type", "")).lower()
    if kind == "microsoft.network/networksecuritygroups":
        return NSG
    if kind == "microsoft.network/routetables":
        return ROUTE_TABLE
    return None


@dataclass(frozen=True, slots=True)
class Checked:
    source: str
    kind: str
    label: str
    findings: tuple[Finding, ...]


def lint_document(raw: Any, source: str, mode: str, destinations: Sequence[str] = (),
                  subnet: Network | None = None) -> Checked:
    """Pure: one parsed export -> its findings."""
    kind = kind_of(raw)
    if kind == NSG:
        nsg = parse_nsg(raw, source)
        return Checked(source, kind, f"nsg {nsg.name}", tuple(lint_nsg(nsg, mode, source, subnet)))
    if kind == ROUTE_TABLE:
        name, routes = parse_route_table(raw, source)
        label = f"route table {name}"
        return Checked(source, kind, label,
                       tuple(lint_routes(routes, mode, source, label, destinations)))
    if kind == EFFECTIVE_ROUTES:
        routes = parse_effective_routes(raw, source)
        label = f"effective routes {Path(source).stem}"
        return Checked(source, kind, label,
                       tuple(lint_routes(routes, mode, source, label, destinations)))
    raise LintInputError(source, "expected the JSON of 'az network nsg show' (securityRules), "
                                 "'az network route-table show' (routes) or 'az network nic "
                                 "show-effective-route-table' (value[] with nextHopType)")


def lint_any(raw: Any, source: str, mode: str, destinations: Sequence[str] = (),
             subnet: Network | None = None) -> list[Checked]:
    """One document, or a list of them (``az network nsg list``, ``route-table list``)."""
    if isinstance(raw, list) and raw and all(isinstance(d, Mapping) and kind_of(d)
                                             for d in raw):
        return [lint_document(d, f"{source}[{i}]", mode, destinations, subnet)
                for i, d in enumerate(raw)]
    return [lint_document(raw, source, mode, destinations, subnet)]


def read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LintInputError(str(path), f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LintInputError(str(path), "not UTF-8 text; expected az's JSON output") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LintInputError(str(path), f"not valid JSON at line {exc.lineno} column "
                                        f"{exc.colno}: {exc.msg}; expected az's JSON output"
                             ) from None


# --------------------------------------------------------------------------
# output and the command


_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def exit_status(findings: Iterable[Finding]) -> int:
    return 1 if any(f.severity is not Severity.INFO for f in findings) else 0


def render_table(checked: Sequence[Checked], mode: str) -> str:
    out = [f"LINT (mode {mode})"]
    out.extend(f"  {c.source}: {c.label} ({c.kind})" for c in checked)
    findings = sorted((f for c in checked for f in c.findings),
                      key=lambda f: (_ORDER[f.severity], f.id, f.subject))
    if findings:
        out.append("")
        out.append("FINDINGS")
    for f in findings:
        out.append(f"{f.severity.value.upper()} {f.id}: {f.subject}")
        out.append(f"    {f.summary}")
        out.extend(f"    {line}" for line in f.evidence)
        out.append(f"    remedy: {f.remedy}")
    counts = {s: sum(f.severity is s for f in findings) for s in Severity}
    out.append("")
    out.append(f"{len(findings)} finding(s): {counts[Severity.CRITICAL]} critical, "
               f"{counts[Severity.WARNING]} warning, {counts[Severity.INFO]} info; exit "
               f"{exit_status(findings)}")
    return "\n".join(out) + "\n"


def render_json(checked: Sequence[Checked], mode: str) -> str:
    findings = sorted((f for c in checked for f in c.findings),
                      key=lambda f: (_ORDER[f.severity], f.id, f.subject))
    doc = {
        "mode": mode,
        "files": [{"file": c.source, "kind": c.kind, "label": c.label} for c in checked],
        "findings": [{"id": f.id, "severity": f.severity.value, "subject": f.subject,
                      "summary": f.summary, "evidence": list(f.evidence), "remedy": f.remedy}
                     for f in findings],
        "exit_status": exit_status(findings),
    }
    return json.dumps(doc, indent=2) + "\n"


def _destination(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address, got {text!r}") from None


def _subnet(text: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a CIDR prefix, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe lint",
        description="Check saved 'az' JSON exports (NSG, route table, NIC effective routes) "
                    "against API Management's network requirements. Offline: nothing is sent.",
        epilog="Exit status: 0 clean (info only), 1 critical or warning findings, 2 unreadable "
               "or malformed input.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="JSON from az network nsg show / route-table show / "
                             "nic show-effective-route-table")
    parser.add_argument("--mode", choices=MODES, default="internal",
                        help="the instance's VNet mode (default internal)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--subnet", type=_subnet, metavar="PREFIX",
                        help="the APIM subnet: rules naming IP prefixes on the VNet side are "
                             "matched against it (default: any private prefix is taken as it)")
    parser.add_argument("--destination", action="append", type=_destination, default=[],
                        metavar="IP", help="an address (e.g. a control-plane IP) whose winning "
                                           "route to check (repeatable)")
    return parser


def run(argv: list[str]) -> int:
    """``probe lint ...``: argv is what follows 'lint'."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        checked = [c for path in args.files
                   for c in lint_any(read(path), str(path), args.mode, args.destination,
                                     args.subnet)]
    except LintInputError as exc:
        print(f"probe lint: error: {exc}", file=sys.stderr)
        return exc.exit_status
    render = render_json if args.format == "json" else render_table
    sys.stdout.write(render(checked, args.mode))
    return exit_status(f for c in checked for f in c.findings)
