"""What a saved export is, from its content (never its name).

A file holds one of these, each possibly in a list body ``{"value": [...]}``
(REST, ``az rest``) or a bare list (``az ... list``, PowerShell):

    kind              one document is                       written by
    nsg               securityRules / defaultSecurityRules  az network nsg show, REST GET,
                                                            Get-AzNetworkSecurityGroup
    nsg-rules         rules without their NSG               az network nsg rule list / show
    effective-nsg     effectiveSecurityRules (per NIC or    az network nic list-effective-nsg
                      subnet association)
    route-table       routes                                az network route-table show,
                                                            REST GET, Get-AzRouteTable
    route-list        routes without their table            az network route-table route list
    subnet            addressPrefix(es), delegations,       az network vnet subnet show,
                      its NSG and route table references    REST GET, Get-AzVirtualNetwork...
    effective-routes  routes with state and source          az network nic
                                                            show-effective-route-table,
                                                            Get-AzEffectiveRouteTable

Anything else, and a list with nothing in it, is refused (ExportError) with
what it looked like and the command that writes what lint reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probe.errors import ExportError
from probe.lint.node import Node, child, join, keys_of

NSG = "nsg"
NSG_RULES = "nsg-rules"
EFFECTIVE_NSG = "effective-nsg"
ROUTE_TABLE = "route-table"
ROUTE_LIST = "route-list"
EFFECTIVE_ROUTES = "effective-routes"
SUBNET = "subnet"

# Kinds whose documents are lists of entries (one document for the whole list).
_LISTS = {"rule": NSG_RULES, "route": ROUTE_LIST, "effective-route": EFFECTIVE_ROUTES}

EXPECTED = ("expected the JSON of 'az network nsg show' (securityRules), 'az network "
            "route-table show' (routes) or 'az network nic show-effective-route-table' "
            "(value[] with nextHopType); also read: 'az network nsg rule list', 'az network "
            "nic list-effective-nsg', their REST bodies and PowerShell's ConvertTo-Json")


@dataclass(frozen=True, slots=True)
class Document:
    kind: str
    nodes: tuple[Node, ...]  # one object, or the entries of a list kind

    @property
    def label_source(self) -> str:
        """The file, with where in it when the document is part of a list."""
        node = self.nodes[0]
        path = node.path
        if not path or self.kind in _LISTS.values():
            return node.source
        return f"{node.source}{path}" if path.startswith("[") else f"{node.source} {path}"


def one_kind(data: Mapping[str, Any]) -> str | None:
    """The kind of one object: a document kind, an entry kind, "reference" or None."""
    keys = keys_of(data)
    kind = str(data.get("type") or data.get("Type") or "").lower()
    if {"securityrules", "defaultsecurityrules"} & keys or \
            kind == "microsoft.network/networksecuritygroups":
        return NSG
    if "effectivesecurityrules" in keys:
        return EFFECTIVE_NSG
    ident = str(data.get("id") or data.get("Id") or "").lower()
    if kind == "microsoft.network/virtualnetworks/subnets" or "delegations" in keys or (
            "/virtualnetworks/" in ident and "/subnets/" in ident
            and {"addressprefix", "addressprefixes"} & keys) or (
            {"addressprefix", "addressprefixes"} & keys
            and {"networksecuritygroup", "routetable", "ipconfigurations"} & keys):
        return SUBNET
    if "routes" in keys and not _reference(data) and Node(data, "", "").get("routes") \
            is not None:
        return ROUTE_TABLE
    if {"access", "direction", "priority"} <= keys:
        return "rule"
    if "nexthoptype" in keys:
        addr = Node(data, "", "").get("addressPrefix")
        return "route" if isinstance(addr, str) and not {"state", "source"} & keys \
            else "effective-route"
    if kind == "microsoft.network/routetables":
        return ROUTE_TABLE
    return "reference" if _reference(data) else None


def _reference(data: Mapping[str, Any]) -> str | None:
    """The command that fetches what a bare reference ``{"id": ...}`` points at."""
    ident = data.get("id") or data.get("Id")
    # a reference printed with all its other fields null (az's table of a subnet's
    # routeTable) is still a reference
    present = keys_of({k: v for k, v in data.items() if v is not None})
    if not isinstance(ident, str) or present - {"id", "resourcegroup", "routes"}:
        return None
    if "/routeTables/" in ident:
        return f"az network route-table show --ids {ident}"
    if "/networkSecurityGroups/" in ident:
        return f"az network nsg show --ids {ident}"
    return None


def _looked_like(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value)
        more = f" and {len(keys) - 8} more" if len(keys) > 8 else ""
        return f"an object with keys {', '.join(keys[:8]) or '(none)'}{more}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return f"a JSON {type(value).__name__}: {str(value)[:40]!r}"


def _watcher(value: Mapping[str, Any]) -> str | None:
    """What to save instead of a Network Watcher result, which lint does not judge."""
    keys = keys_of(value)
    if {"nexthoptype", "routetableid"} <= keys:
        table = value.get("routeTableId") or value.get("RouteTableId")
        save = (f"az network route-table show --ids {table}" if isinstance(table, str)
                and "/routeTables/" in table else
                "az network nic show-effective-route-table -g RESOURCE_GROUP -n NIC")
        return ("a Network Watcher next-hop result ('az network watcher show-next-hop': one "
                "destination's next hop, not the routes); lint judges the route table it "
                f"names: save it with: {save}")
    if "networkinterfaces" in keys or "securityruleassociations" in keys:
        return ("a Network Watcher security group view (retired; it nests the rules per "
                "NIC); save the NIC's effective rules instead: az network nic "
                "list-effective-nsg -g RESOURCE_GROUP -n NIC")
    if {"access", "rulename"} <= keys and "priority" not in keys:
        return ("a Network Watcher IP flow verify result ('az network watcher test-ip-flow': "
                "one flow's verdict); lint judges whole NSGs: save the NSG with: az network "
                "nsg show -g RESOURCE_GROUP -n NSG")
    return None


def _refuse(value: Any, source: str, path: str) -> ExportError:
    if isinstance(value, Mapping):
        watcher = _watcher(value)
        if watcher:
            return ExportError(watcher, source=source, key=path or None)
        command = _reference(value)
        if command:
            return ExportError(
                "a reference to the resource, not the resource (e.g. 'az network vnet subnet "
                f"show --query routeTable'); save its JSON with: {command}",
                source=source, key=path or None)
        subnet = [value[k]["id"] for k in ("routeTable", "networkSecurityGroup")
                  if isinstance(value.get(k), Mapping) and isinstance(value[k].get("id"), str)]
        if subnet:
            return ExportError(
                "a subnet ('az network vnet subnet show'), not its NSG or route table; save "
                "them with: " + "; ".join(
                    f"az network {'route-table' if '/routeTables/' in i else 'nsg'} show "
                    f"--ids {i}" for i in subnet), source=source, key=path or None)
    return ExportError(f"{EXPECTED}; got {_looked_like(value)}{_apim_hint(value)}",
                       source=source, key=path or None)


def _apim_hint(value: Any) -> str:
    """API Management's own reports are read by the config, not by lint."""
    keys = keys_of(value) if isinstance(value, Mapping) else set()
    if {"networkstatus", "connectivitystatus", "dnsservers"} & keys or {"category",
                                                                          "endpoints"} <= keys:
        return ("; this looks like API Management's networkstatus or outbound dependencies "
                "report: name it in the config's [apim] import instead")
    return ""


def _envelope(raw: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``az ... create`` prints ``{"NewNSG": {...}}`` (and the like): one key whose
    value is the resource. The key and the resource, when ``raw`` is one."""
    if len(raw) != 1:
        return None
    ((key, value),) = raw.items()
    if isinstance(value, Mapping) and one_kind(value) in (NSG, EFFECTIVE_NSG, ROUTE_TABLE,
                                                          SUBNET):
        return str(key), value
    return None


def documents(raw: Any, source: str) -> list[Document]:
    """Every document a file holds, or an ExportError saying why none."""
    if isinstance(raw, Mapping) and (watcher := _watcher(raw)) is not None:
        raise ExportError(watcher, source=source)
    if isinstance(raw, Mapping) and (wrapped := _envelope(raw)) is not None:
        key, value = wrapped
        kind = one_kind(value)
        return [Document(str(kind), (Node(value, key, source),))]
    if isinstance(raw, Mapping):
        entries = raw.get("value", raw.get("Value"))
        kind = one_kind(raw)
        if isinstance(entries, list) and kind in (None, "reference"):
            key = "value" if "value" in raw else "Value"
            return _from_list(entries, source, key, raw)
        if kind in _LISTS:
            return [Document(_LISTS[kind], (Node(raw, "", source),))]
        if kind in (NSG, EFFECTIVE_NSG, ROUTE_TABLE, SUBNET):
            return [Document(kind, (Node(raw, "", source),))]
        raise _refuse(raw, source, "")
    if isinstance(raw, list):
        return _from_list(raw, source, "", raw)
    raise _refuse(raw, source, "")


def _from_list(entries: Sequence[Any], source: str, path: str, whole: Any) -> list[Document]:
    if not entries:
        raise ExportError(
            f"nothing to check: the list is empty ({_looked_like(whole)}"
            "); an NSG, route table or NIC always has rules or routes, so the command that "
            "wrote this found nothing (wrong name, resource group or subscription?)",
            source=source, key=path or None)
    nodes = [child(e, join(path, i), source, "NSG, route table or route") if
             isinstance(e, Mapping) else None for i, e in enumerate(entries)]
    kinds = [one_kind(n.data) if n else None for n in nodes]
    for i, (node, kind) in enumerate(zip(nodes, kinds, strict=True)):
        if node is None or kind in (None, "reference"):
            raise _refuse(entries[i], source, join(path, i))
    entry_kinds = {k for k in kinds if k in _LISTS}
    if entry_kinds:
        if len(entry_kinds) > 1 or len(entry_kinds) != len(set(kinds)):
            raise ExportError(f"a list mixing {', '.join(sorted(set(map(str, kinds))))}; "
                              f"{EXPECTED}", source=source, key=path or None)
        kind = _LISTS[entry_kinds.pop()]
        return [Document(kind, tuple(n for n in nodes if n is not None))]
    return [Document(str(k), (n,)) for n, k in zip(nodes, kinds, strict=True) if n is not None]
