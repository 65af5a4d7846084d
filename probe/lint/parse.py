"""Saved exports -> the NSG and route models.

Every problem is an ExportError naming the file and the path inside the JSON
document (``value[0].properties.securityRules[3].destinationPortRange``).
Keys are looked up flattened (az), nested under ``properties`` (REST) and in
PascalCase (PowerShell), see ``probe.lint.node``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probe.addresses import is_prefix
from probe.boundary import ascii_int
from probe.errors import ErrorSite, ExportError
from probe.lint.node import Node, join
from probe.lint.nsg import DEFAULT_RULES, Nsg, SecurityRule
from probe.lint.routes import RouteEntry
from probe.lint.subnet import Subnet

# Effective security rules name their origin: "securityRules/x", "defaultSecurityRules/y".
_DEFAULT_PREFIX = "defaultsecurityrules/"


def parse_ports(doc: ErrorSite, where: str, values: Sequence[Any]) -> tuple[tuple[int, int], ...]:
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
        # ASCII digits only: '²' and '٣' are digits to str.isdigit() and int(), and no port.
        a, b = ascii_int(low, 0, 1 << 32), ascii_int(high if dash else low, 0, 1 << 32)
        if a is None or b is None:
            raise doc.fail(where, f"expected a port, a range 'a-b' or '*', got {value!r}")
        if not (0 <= a <= b <= 65535):
            raise doc.fail(where, f"expected ports from 0 to 65535 with a <= b, got {value!r}")
        ranges.append((a, b))
    return tuple(ranges)


def _plural(node: Node, singular: str, plural: str) -> list[Any]:
    """``x`` and ``xs`` together; PowerShell writes lists under the singular key."""
    one = node.get(singular)
    many = node.get(plural)
    if many is not None and not isinstance(many, list):
        raise node.fail(plural, f"expected a list, got {many!r}")
    values: list[Any] = [*(many or [])]
    if isinstance(one, list):
        values[:0] = one
    elif one not in (None, ""):
        values.insert(0, one)
    return values


def _asg_names(node: Node, key: str) -> tuple[str, ...]:
    groups = node.get(key) or []
    if not isinstance(groups, list):
        raise node.fail(key, f"expected a list of application security groups, got {groups!r}")
    names = []
    for group in groups:
        ident = group.get("id") or group.get("Id") if isinstance(group, Mapping) else None
        names.append(str(ident).rstrip("/").rsplit("/", 1)[-1] if ident else "?")
    return tuple(names)


def _choice(node: Node, key: str, allowed: Sequence[str], expected: str) -> str:
    value = str(node.field(key, str))
    if value.lower() not in allowed:
        raise node.fail(key, f"expected {expected}, got {value!r}")
    return value.lower()


_DEFAULT_NAMES = frozenset(r.name.lower() for r in DEFAULT_RULES)


def _is_default(node: Node, name: str, priority: int) -> bool:
    """Azure's default rules, in whatever list they come: ``defaultSecurityRules``,
    ``az network nsg rule list --include-default`` (their ids say
    ``/defaultSecurityRules/``), an effective rule's ``defaultSecurityRules/`` name,
    or a default name at a default priority (65000 to 65500)."""
    ident = str(node.get("id") or "").lower()
    return (name.lower().startswith(_DEFAULT_PREFIX) or "/defaultsecurityrules/" in ident
            or (name.lower() in _DEFAULT_NAMES and 65000 <= priority <= 65500))


def security_rule(node: Node, default: bool) -> SecurityRule:
    name = str(node.field("name", str))
    priority = node.field("priority", int)
    default = default or _is_default(node, name, priority)
    low, high = (65000, 65500) if default else (100, 4096)
    if not low <= priority <= high:
        raise node.fail("priority", f"expected {low} to {high}, got {priority}")
    direction = _choice(node, "direction", ("inbound", "outbound"), "Inbound or Outbound")
    access = _choice(node, "access", ("allow", "deny"), "Allow or Deny")
    # a protocol Azure adds later is read as it is; the lint cannot tell whether it
    # carries TCP and says so (probe.lint.nsg.matches: None)
    protocol = str(node.field("protocol", str)).lower()
    ports_raw = _plural(node, "destinationPortRange", "destinationPortRanges")
    if not ports_raw:
        raise node.fail("destinationPortRange",
                        "missing; expected destinationPortRange or destinationPortRanges")
    sides = []
    for key in ("sourceAddressPrefix", "destinationAddressPrefix"):
        values = _plural(node, key, key + "es")
        if not all(isinstance(v, str) for v in values):
            raise node.fail(key, f"expected prefixes or service tags, got {values!r}")
        sides.append(tuple(values))
    ports = parse_ports(ErrorSite(node.source, ExportError), node.at("destinationPortRange"),
                        ports_raw)
    return SecurityRule(name, priority, direction, access, "*" if protocol == "all" else protocol,
                        sides[0], sides[1], ports, default,
                        _asg_names(node, "sourceApplicationSecurityGroups"),
                        _asg_names(node, "destinationApplicationSecurityGroups"))


def _with_defaults(rules: list[SecurityRule]) -> tuple[tuple[SecurityRule, ...], bool]:
    """Azure's default rules that the export lacks, added; True when none was lacking."""
    have = {r.name.lower().removeprefix(_DEFAULT_PREFIX) for r in rules if r.default}
    missing = [d for d in DEFAULT_RULES if d.name.lower() not in have]
    return (*rules, *missing), not missing


def _name(node: Node, fallback: str) -> str:
    name = node.get("name")
    return name if isinstance(name, str) and name else fallback


def parse_nsg(node: Node) -> Nsg:
    """``az network nsg show``, its REST body, or ``Get-AzNetworkSecurityGroup``."""
    source = node.source
    rules = [security_rule(n, False) for n in node.children("securityRules", "security rule",
                                                            "rules")]
    defaults = [security_rule(n, True) for n in node.children(
        "defaultSecurityRules", "security rule", "rules")]
    if defaults:
        return Nsg(_name(node, Path(source).stem), (*rules, *defaults), True)
    return Nsg(_name(node, Path(source).stem), (*rules, *DEFAULT_RULES), False)


def parse_rule_list(nodes: Sequence[Node]) -> Nsg:
    """``az network nsg rule list`` / ``rule show``: rules without their NSG."""
    rules = [security_rule(n, False) for n in nodes]
    ident = str(nodes[0].get("id") or "")
    parts = ident.split("/")
    name = (parts[parts.index("networkSecurityGroups") + 1]
            if "networkSecurityGroups" in parts[:-1] else Path(nodes[0].source).stem)
    with_defaults, complete = _with_defaults(rules)
    return Nsg(name, with_defaults, complete, rule_list=True)


def parse_effective_nsg(node: Node) -> Nsg:
    """One association of ``az network nic list-effective-nsg``."""
    rules = [security_rule(n, False) for n in node.children(
        "effectiveSecurityRules", "security rule", "rules")]
    with_defaults, complete = _with_defaults(rules)
    return Nsg(_association(node, Path(node.source).stem), with_defaults, complete)


def _association(node: Node, fallback: str) -> str:
    """'nsg-a (subnet default)' from the ids an effective NSG entry carries."""
    def last(obj: Any) -> str:
        ident = obj.get("id") or obj.get("Id") if isinstance(obj, Mapping) else None
        return str(ident).rstrip("/").rsplit("/", 1)[-1] if ident else ""

    nsg = last(node.get("networkSecurityGroup")) or fallback
    association = node.get("association")
    where = []
    if isinstance(association, Mapping):
        for key in ("subnet", "networkInterface"):
            name = last(association.get(key) or association.get(key[:1].upper() + key[1:]))
            if name:
                where.append(f"{'subnet' if key == 'subnet' else 'nic'} {name}")
    return f"{nsg} ({', '.join(where)})" if where else nsg


def _next_hop(node: Node) -> str:
    """The next hop type as Azure spells it; one it adds later is kept as it is and
    judged as not Internet (``probe.lint.routes.RouteEntry.unknown``)."""
    hop = str(node.field("nextHopType", str)).strip()
    if not hop:
        raise node.fail("nextHopType", "expected a next hop type (Internet, VirtualAppliance, "
                                       "VirtualNetworkGateway, VnetLocal, None...), got ''")
    return hop


def _hop_addresses(node: Node) -> list[Any]:
    """``nextHopIpAddress`` (one), or an ECMP group's ``nextHopIpAddresses`` (API
    2025-07-01), flat or under ``nextHop``."""
    nested = node.get("nextHop")
    many = node.get("nextHopIpAddresses")
    if many is None and isinstance(nested, Mapping):
        many = nested.get("nextHopIpAddresses") or nested.get("NextHopIpAddresses")
    if many is not None:
        if not isinstance(many, list):
            raise node.fail("nextHopIpAddresses", f"expected a list of addresses, got {many!r}")
        return many
    one = node.get("nextHopIpAddress")
    if isinstance(one, list):  # effective routes list theirs
        return one
    return [one] if one else []


def _check_prefix(node: Node, where: str, prefix: Any, tags_allowed: bool) -> str:
    if not isinstance(prefix, str) or not prefix.strip():
        raise ExportError(f"expected an address prefix, got {prefix!r}", source=node.source,
                          key=where)
    if is_prefix(prefix):
        return prefix
    if tags_allowed and prefix.replace(".", "").isalnum() and prefix[0].isalpha():
        return prefix  # a service tag (route tables accept them)
    raise ExportError(f"expected a CIDR prefix{' or a service tag' if tags_allowed else ''}, "
                      f"got {prefix!r}", source=node.source, key=where)


def user_route(node: Node) -> RouteEntry:
    prefix = _check_prefix(node, node.at("addressPrefix"), node.field("addressPrefix", str), True)
    hop = _next_hop(node)
    ips = _hop_addresses(node)
    if hop.lower() in ("virtualappliance", "virtualapplianceecmp") and not ips:
        raise node.fail("nextHopIpAddress",
                        f"missing; a {hop} next hop needs the appliance's address(es)")
    for ip in ips:
        if not (isinstance(ip, str) and is_prefix(ip)):
            raise node.fail("nextHopIpAddress", f"expected an IP address, got {ip!r}")
    return RouteEntry(str(node.get("name") or ""), (prefix,), hop, tuple(ips))


def parse_route_table(node: Node) -> tuple[str, list[RouteEntry]]:
    """``az network route-table show``, its REST body, or ``Get-AzRouteTable``."""
    if not isinstance(node.get("routes"), list):
        raise node.fail("routes", "expected a list of routes")
    routes = [user_route(n) for n in node.children("routes", "route", "routes")]
    return _name(node, Path(node.source).stem), routes


def effective_route(node: Node) -> RouteEntry:
    prefixes = node.field("addressPrefix", list)
    base = node.at("addressPrefix")
    checked = tuple(_check_prefix(node, join(base, j), p, False) for j, p in enumerate(prefixes))
    hop = _next_hop(node)
    ips = _hop_addresses(node)
    if not all(isinstance(a, str) for a in ips):
        raise node.fail("nextHopIpAddress", f"expected a list of addresses, got {ips!r}")
    state = _choice(node, "state", ("active", "invalid"), "Active or Invalid")
    source_kind = node.field("source", str)
    return RouteEntry(str(node.get("name") or ""), checked, hop, tuple(ips), source_kind,
                      state == "active")


def parse_effective_routes(nodes: Sequence[Node]) -> list[RouteEntry]:
    """``az network nic show-effective-route-table`` (value[]) or
    ``Get-AzEffectiveRouteTable`` (a bare list)."""
    return [effective_route(n) for n in nodes]


def _ref_id(node: Node, key: str) -> str | None:
    ref = node.get(key)
    ident = (ref.get("id") or ref.get("Id")) if isinstance(ref, Mapping) else None
    return ident if isinstance(ident, str) and ident else None


def parse_subnet(node: Node) -> Subnet:
    """``az network vnet subnet show``, its REST body, or PowerShell's subnet config."""
    single = node.get("addressPrefix")
    many = node.get("addressPrefixes") or []
    if not isinstance(many, list):
        raise node.fail("addressPrefixes", f"expected a list of prefixes, got {many!r}")
    # PowerShell writes the singular key as a list of one
    singles = single if isinstance(single, list) else [single] if single else []
    prefixes = [p for p in (*singles, *many) if p]
    for p in prefixes:
        if not (isinstance(p, str) and is_prefix(p)):
            raise node.fail("addressPrefix", f"expected a CIDR prefix, got {p!r}")
    delegations: list[str] = []
    raw = node.get("delegations") or []
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, Mapping):
            service = Node(entry, "", node.source).get("serviceName")
            if isinstance(service, str) and service:
                delegations.append(service)
    return Subnet(_name(node, Path(node.source).stem), tuple(dict.fromkeys(prefixes)),
                  len(singles) == 1 and not many, tuple(delegations),
                  _ref_id(node, "networkSecurityGroup"), _ref_id(node, "routeTable"))
