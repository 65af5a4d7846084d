"""Routes: which one wins for an address, and which next hops break APIM (pure).

The longest prefix wins (``ipaddress``); in effective routes only ``Active``
ones count. A next hop VirtualAppliance or VirtualNetworkGateway for APIM's
control plane breaks it: the replies to management traffic that arrived
directly are dropped by a stateful firewall (asymmetric routing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from probe.addresses import is_prefix
from probe.findings import finding
from probe.results import Finding, Severity

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

BREAKING_HOPS = frozenset({"virtualappliance", "virtualapplianceecmp",
                           "virtualnetworkgateway"})
# Next hop types this lint knows; one Azure adds later is judged as not Internet
# (it breaks APIM's control plane if 0.0.0.0/0 goes there) and said so.
KNOWN_HOPS = frozenset({*BREAKING_HOPS, "internet", "vnetlocal", "none", "vnetpeering",
                        "vnetglobalpeering", "virtualnetworkserviceendpoint"})


@dataclass(frozen=True, slots=True)
class RouteEntry:
    name: str
    prefixes: tuple[str, ...]  # CIDR prefixes or service tags (route tables accept tags)
    next_hop: str  # as Azure spells it: Internet, VirtualAppliance, ...
    next_hop_ip: tuple[str, ...]
    source: str = "User"
    active: bool = True

    @property
    def unknown(self) -> bool:
        return self.next_hop.lower() not in KNOWN_HOPS

    def describe(self) -> str:
        hop = f" {','.join(self.next_hop_ip)}" if self.next_hop_ip else ""
        state = "" if self.active else ", Invalid"
        unknown = ("; unknown next hop type, judged as not Internet" if self.unknown else "")
        return (f"route {self.name or '-'} {','.join(self.prefixes)} -> {self.next_hop}{hop} "
                f"(source {self.source}{state}{unknown})")

    @property
    def breaks(self) -> bool:
        return self.next_hop.lower() in BREAKING_HOPS or self.unknown


def _networks(route: RouteEntry) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for prefix in route.prefixes:
        try:
            out.append(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            continue  # a service tag: its ranges are not in the export
    return out


def _tags(route: RouteEntry) -> list[str]:
    return [p for p in route.prefixes if not is_prefix(p)]


def longest_match(routes: Sequence[RouteEntry], destination: str,
                  ) -> tuple[RouteEntry, ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """The active route whose prefix holds ``destination`` most precisely.

    Equal prefixes: a user route beats BGP (VirtualNetworkGateway) beats the
    system's (Default), as Azure decides.
    """
    address = ipaddress.ip_address(destination)
    rank = {"user": 0, "virtualnetworkgateway": 1, "default": 2}
    best: tuple[int, int, RouteEntry, ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None
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


def _default_routes(routes: Sequence[RouteEntry]) -> list[RouteEntry]:
    return [r for r in routes if r.active and any(n.prefixlen == 0 for n in _networks(r))]


def lint_routes(routes: Sequence[RouteEntry], mode: str, source: str, label: str,
                destinations: Sequence[str] = (),
                control_plane: Sequence[str] = ()) -> list[Finding]:
    """Findings of one route table or effective route list.

    ``control_plane``: APIM's management addresses, which must not pass a
    virtual appliance or gateway. ``destinations``: any other address, reported
    with its winning route (critical only when it is dropped).
    """
    findings = _apim_tag_findings(routes, label, source)
    findings += _default_route_findings(routes, mode, source, label)
    findings += [_destination_finding(routes, d, source, label) for d in control_plane]
    findings += [_plain_destination(routes, d, source, label)
                 for d in destinations if d not in control_plane]
    return findings


def _apim_tag_findings(routes: Sequence[RouteEntry], label: str, source: str) -> list[Finding]:
    return [finding(
        "route-control-plane-via-appliance" if route.breaks else
        "route-control-plane-not-internet",
        Severity.CRITICAL, f"{label}: {route.name or 'ApiManagement'}",
        (f"service tag ApiManagement is routed to {route.next_hop}: the "
         "control plane's traffic must go to Internet"),
        (f"{source}: {route.describe()}",),
    ) for route in _apim_routes(routes) if route.next_hop.lower() != "internet"]


def _apim_routes(routes: Sequence[RouteEntry]) -> list[RouteEntry]:
    return [r for r in routes if r.active and any(t.lower() == "apimanagement" for t in _tags(r))]


def _default_route_findings(routes: Sequence[RouteEntry], mode: str, source: str,
                            label: str) -> list[Finding]:
    apim_to_internet = [r for r in _apim_routes(routes) if r.next_hop.lower() == "internet"]
    specific_internet = [r for r in routes if r.active and r.next_hop.lower() == "internet"
                         and r.source.lower() == "user"
                         and any(n.prefixlen > 0 for n in _networks(r))]
    findings = []
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
        findings.append(finding(
            "route-default-via-appliance" if route.breaks else "route-default-none",
            severity, f"{label}: {','.join(route.prefixes)}", summary, tuple(evidence)))
    return findings


def _no_route(routes: Sequence[RouteEntry], destination: str, source: str,
              label: str) -> Finding:
    return finding(
        "route-destination", Severity.INFO, f"{label}: {destination}",
        (f"{destination}: no route in this export matches: Azure's system routes "
         "decide (Internet for public addresses)"),
        (f"{source}: {len(routes)} route(s), none holds {destination}",))


def _win_evidence(routes: Sequence[RouteEntry], destination: str, source: str, route: RouteEntry,
                  network: Network) -> list[str]:
    evidence = [f"{source}: {route.describe()} wins with /{network.prefixlen} ({network})"]
    losers = [r for r in routes if r is not route and r.active
              and any(ipaddress.ip_address(destination) in n for n in _networks(r)
                      if n.version == network.version)]
    evidence.extend(f"{source}: {r.describe()} loses (shorter prefix)" for r in losers)
    return evidence


def _plain_destination(routes: Sequence[RouteEntry], destination: str, source: str,
                       label: str) -> Finding:
    """A backend or on-premises address: a gateway or appliance may well be its way."""
    hit = longest_match(routes, destination)
    if hit is None:
        return _no_route(routes, destination, source, label)
    route, network = hit
    evidence = tuple(_win_evidence(routes, destination, source, route, network))
    if route.next_hop.lower() == "none":
        return finding(
            "route-destination-none", Severity.CRITICAL, f"{label}: {destination}",
            (f"traffic to {destination} is dropped (next hop None) by route "
             f"{route.name or '-'} ({network})"),
            evidence, variant="backend", destination=destination)
    hop = f"{route.next_hop} {','.join(route.next_hop_ip)}".rstrip()
    return finding(
        "route-destination", Severity.INFO, f"{label}: {destination}",
        f"traffic to {destination} goes to {hop} via {network}", evidence, variant="backend")


def _destination_finding(routes: Sequence[RouteEntry], destination: str, source: str,
                         label: str) -> Finding:
    """A control-plane address: it must not pass a virtual appliance or gateway."""
    tag_routes = [r for r in routes if r.active and _tags(r)]
    hit = longest_match(routes, destination)
    if hit is None:
        return _no_route(routes, destination, source, label)
    route, network = hit
    evidence = _win_evidence(routes, destination, source, route, network)
    if not (route.breaks or route.next_hop.lower() == "none"):
        return finding(
            "route-destination", Severity.INFO, f"{label}: {destination}",
            f"traffic to {destination} goes to {route.next_hop} via {network}", tuple(evidence))
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
    return finding(
        "route-destination-via-appliance" if route.breaks else "route-destination-none",
        severity, f"{label}: {destination}",
        (f"traffic to {destination} is {verb} by route {route.name or '-'} "
         f"({network}){caveat}: APIM's control plane and Azure dependencies must "
         "not pass a virtual appliance or gateway"),
        tuple(evidence), destination=destination)
