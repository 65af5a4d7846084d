"""What the diagnosis needs from one refresh of the live reads (pure).

``facts_from`` turns a ``Live`` (raw ARM JSON) into parsed facts, once per
refresh, never per round: the APIM subnet's prefix, its NSG and route table
(through ``probe lint``'s readers, and linted with the same engine), the
agent NIC's effective NSGs and user routes, and how old APIM's own
networkstatus was when it was read. A document the readers refuse becomes a
note; the rest stands.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from probe.apimmodel import Mode
from probe.azure.live import Live
from probe.errors import InputError
from probe.lint import shapes
from probe.lint.exports import check, nsg_of, routes_of
from probe.lint.nsg import Nsg
from probe.lint.parse import parse_subnet
from probe.lint.routes import RouteEntry
from probe.results import AzureReadError, Finding

__all__ = ["STALE_AFTER", "Facts", "facts_from", "newest_update"]

STALE_AFTER = 1800.0  # seconds: APIM refreshes networkstatus every 15 minutes

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RouteKey = tuple[tuple[str, ...], str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Facts:
    """Parsed live facts; every part empty or None when it was not read."""

    errors: tuple[AzureReadError, ...] = ()
    notes: tuple[str, ...] = ()  # documents not read, config contradictions
    subnet: Network | None = None  # the APIM subnet's first prefix
    nsg: Nsg | None = None
    nsg_source: str = ""
    routes: tuple[RouteEntry, ...] = ()
    route_table: str = ""  # its name ("" when the subnet has none or it was not read)
    lint: tuple[Finding, ...] = ()  # the live subnet, NSG and route table, linted
    # The agent NIC's effective view (None: not read): the NSGs applied to it,
    # by ID, and its user routes; the APIM subnet's NSG ID and user routes.
    agent_nsgs: tuple[str, ...] | None = None
    agent_routes: frozenset[RouteKey] | None = None
    apim_nsg: str = ""
    apim_routes: frozenset[RouteKey] = frozenset()
    status_updated: datetime | None = None  # newest lastUpdated of APIM's networkstatus
    status_age: float | None = None  # seconds between it and the read
    arm: str = ""


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def newest_update(doc: Any) -> datetime | None:
    """The newest ``lastUpdated`` of a networkstatus answer (list, or one location)."""
    locations = doc if isinstance(doc, list) else [doc]
    found: list[datetime] = []
    for location in locations:
        status = location.get("networkStatus", location) if isinstance(location, Mapping) \
            else None
        checks = status.get("connectivityStatus") if isinstance(status, Mapping) else None
        for entry in checks if isinstance(checks, list) else ():
            when = _when(entry.get("lastUpdated")) if isinstance(entry, Mapping) else None
            if when is not None:
                found.append(when)
    return max(found, default=None)


def _key(route: RouteEntry) -> RouteKey:
    return (tuple(sorted(p.lower() for p in route.prefixes)), route.next_hop.lower(),
            tuple(sorted(route.next_hop_ip)))


def _documents(live: Live, call: str, notes: list[str]) -> list[shapes.Document]:
    doc = live.doc(call)
    if doc is None:
        return []
    try:
        return shapes.documents(doc, f"ARM {call} {live.path(call)}")
    except InputError as exc:
        notes.append(f"ARM {call} {live.path(call)}: {exc.message}")
        return []


def _subnet(live: Live, mode: Mode | None, notes: list[str],
            lint: list[Finding]) -> Network | None:
    for doc in _documents(live, "subnet", notes):
        try:
            subnet = parse_subnet(doc.nodes[0])
            if mode is not None:
                lint.extend(check(doc, mode.value).findings)
            return ipaddress.ip_network(subnet.prefixes[0], strict=False) \
                if subnet.prefixes else None
        except (InputError, ValueError) as exc:
            notes.append(f"ARM subnet {live.path('subnet')}: {exc}")
    return None


def _agent_view(live: Live, notes: list[str],
                ) -> tuple[tuple[str, ...] | None, frozenset[RouteKey] | None]:
    nsgs: tuple[str, ...] | None = None
    answer = live.doc("effective_nsg")
    if isinstance(answer, Mapping) and isinstance(answer.get("value"), list):
        nsgs = tuple(sorted({str(entry["networkSecurityGroup"]["id"]).lower()
                             for entry in answer["value"]
                             if isinstance(entry, Mapping)
                             and isinstance(entry.get("networkSecurityGroup"), Mapping)
                             and entry["networkSecurityGroup"].get("id")}))
    routes: frozenset[RouteKey] | None = None
    for doc in _documents(live, "effective_routes", notes):
        try:
            _, entries = routes_of(doc)
        except InputError as exc:
            notes.append(f"ARM effective_routes: {exc.message}")
            continue
        routes = frozenset(_key(r) for r in entries if r.source.lower() == "user" and r.active)
    return nsgs, routes


def facts_from(live: Live, mode: Mode | None, arm: str = "",
               extra_notes: Sequence[str] = ()) -> Facts:
    """Pure: the facts of one refresh (see the module docstring)."""
    notes = list(extra_notes)
    lint: list[Finding] = []
    subnet = _subnet(live, mode, notes, lint)
    nsg: Nsg | None = None
    for doc in _documents(live, "nsg", notes):
        nsg = nsg_of(doc)
        if mode is not None:
            lint.extend(check(doc, mode.value, subnet=subnet).findings)
    routes: list[RouteEntry] = []
    table = ""
    for doc in _documents(live, "route_table", notes):
        label, routes = routes_of(doc)
        table = label.removeprefix("route table ")
        if mode is not None:
            lint.extend(check(doc, mode.value).findings)
    agent_nsgs, agent_routes = _agent_view(live, notes)
    updated = newest_update(live.doc("networkstatus"))
    return Facts(
        errors=live.errors, notes=tuple(notes), subnet=subnet, nsg=nsg,
        nsg_source=f"ARM nsg {live.path('nsg')}" if nsg else "", routes=tuple(routes),
        route_table=table, lint=tuple(lint), agent_nsgs=agent_nsgs, agent_routes=agent_routes,
        apim_nsg=live.ids.get("nsg", "").lower(),
        apim_routes=frozenset(_key(r) for r in routes if r.active),
        status_updated=updated,
        status_age=(live.read_at - updated).total_seconds() if updated else None, arm=arm)
