"""Saved exports -> the NSG and route models; every problem is an ExportError
naming the file and the path inside the JSON document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probe.addresses import is_prefix
from probe.errors import ExportError
from probe.lint.nsg import DEFAULT_RULES, Nsg, SecurityRule
from probe.lint.routes import RouteEntry


class _Doc:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ExportError:
        return ExportError(message, source=self.source, key=where or None)

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


def parse_route_table(raw: Mapping[str, Any], source: str) -> tuple[str, list[RouteEntry]]:
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
        routes.append(RouteEntry(str(route.get("name") or ""), (prefix,), hop,
                            (ip,) if ip else ()))
    name = table.get("name") if isinstance(table.get("name"), str) else Path(source).stem
    return str(name), routes


def parse_effective_routes(raw: Mapping[str, Any], source: str) -> list[RouteEntry]:
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
        routes.append(RouteEntry(str(entry.get("name") or ""), checked, hop, tuple(ips),
                            source_kind, state.lower() == "active"))
    return routes

