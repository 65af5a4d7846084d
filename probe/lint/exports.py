"""What a saved export is (recognised from its content, not its name), and
one document -> its findings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe.errors import ExportError
from probe.lint.nsg import Network, lint_nsg
from probe.lint.parse import _flatten, parse_effective_routes, parse_nsg, parse_route_table
from probe.lint.routes import lint_routes
from probe.results import Finding

NSG = "nsg"
ROUTE_TABLE = "route-table"
EFFECTIVE_ROUTES = "effective-routes"


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
    raise ExportError("expected the JSON of 'az network nsg show' (securityRules), 'az network "
                      "route-table show' (routes) or 'az network nic show-effective-route-table' "
                      "(value[] with nextHopType)", source=source)


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
        raise ExportError(f"cannot read: {exc.strerror}", source=path) from None
    except UnicodeDecodeError:
        raise ExportError("not UTF-8 text; expected az's JSON output", source=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportError(f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}; "
                          "expected az's JSON output", source=path) from None
