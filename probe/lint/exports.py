"""Read a saved export and lint every document in it.

Files come from ``az`` (UTF-8), from PowerShell 5's ``>`` (UTF-16 with a byte
order mark) or from an editor (UTF-8 with a BOM); only regular files of a
sane size are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe.boundary import load_json
from probe.errors import ExportError
from probe.files import EXPORT_LIMIT, read_regular_file
from probe.lint import shapes
from probe.lint.nsg import Network, Nsg
from probe.lint.nsg_lint import lint_nsg
from probe.lint.parse import (
    parse_effective_nsg,
    parse_effective_routes,
    parse_nsg,
    parse_route_table,
    parse_rule_list,
    parse_subnet,
    user_route,
)
from probe.lint.routes import RouteEntry, lint_routes
from probe.lint.shapes import EFFECTIVE_ROUTES, NSG, ROUTE_TABLE
from probe.lint.subnet import lint_subnet
from probe.results import Finding

__all__ = ["EFFECTIVE_ROUTES", "NSG", "ROUTE_TABLE", "Checked", "kind_of", "lint_any",
           "lint_document", "read"]

# The largest export lint reads: an NSG with 1,000 rules is ~1 MB of az JSON.
MAX_BYTES = EXPORT_LIMIT

@dataclass(frozen=True, slots=True)
class Checked:
    source: str
    kind: str
    label: str
    findings: tuple[Finding, ...]


def kind_of(raw: Any) -> str | None:
    """The kind of a file's single document, None when it holds none or several."""
    try:
        docs = shapes.documents(raw, "-")
    except ExportError:
        return None
    return docs[0].kind if len(docs) == 1 else None


def nsg_of(doc: shapes.Document) -> Nsg:
    if doc.kind == shapes.NSG_RULES:
        return parse_rule_list(doc.nodes)
    if doc.kind == shapes.EFFECTIVE_NSG:
        return parse_effective_nsg(doc.nodes[0])
    return parse_nsg(doc.nodes[0])


def routes_of(doc: shapes.Document) -> tuple[str, list[RouteEntry]]:
    first = doc.nodes[0]
    if doc.kind == ROUTE_TABLE:
        name, routes = parse_route_table(first)
        return f"route table {name}", routes
    if doc.kind == shapes.ROUTE_LIST:
        parts = str(first.get("id") or "").split("/")
        name = (parts[parts.index("routeTables") + 1] if "routeTables" in parts[:-1]
                else Path(first.source).stem)
        return f"route table {name}", [user_route(n) for n in doc.nodes]
    return f"effective routes {Path(first.source).stem}", parse_effective_routes(doc.nodes)


def lint_document(raw: Any, source: str, mode: str, destinations: Sequence[str] = (),
                  subnet: Network | None = None, control_plane: Sequence[str] = ()) -> Checked:
    """Pure: one parsed export holding one document -> its findings."""
    docs = shapes.documents(raw, source)
    if len(docs) != 1:
        raise ExportError(f"expected one document, found {len(docs)}", source=source)
    return check(docs[0], mode, destinations, subnet, control_plane)


def check(doc: shapes.Document, mode: str, destinations: Sequence[str] = (),
          subnet: Network | None = None, control_plane: Sequence[str] = ()) -> Checked:
    where = doc.label_source
    if doc.kind == shapes.SUBNET:
        found = parse_subnet(doc.nodes[0])
        return Checked(where, doc.kind, f"subnet {found.name}",
                       tuple(lint_subnet(found, mode, where)))
    if doc.kind in (NSG, shapes.NSG_RULES, shapes.EFFECTIVE_NSG):
        nsg = nsg_of(doc)
        label = f"{'effective nsg' if doc.kind == shapes.EFFECTIVE_NSG else 'nsg'} {nsg.name}"
        return Checked(where, doc.kind, label, tuple(lint_nsg(nsg, mode, where, subnet)))
    label, routes = routes_of(doc)
    return Checked(where, doc.kind, label, tuple(
        lint_routes(routes, mode, where, label, destinations, control_plane)))


def lint_any(raw: Any, source: str, mode: str, destinations: Sequence[str] = (),
             subnet: Network | None = None, control_plane: Sequence[str] = ()) -> list[Checked]:
    """Every document of one file (a list body or bare list holds several)."""
    return [check(doc, mode, destinations, subnet, control_plane)
            for doc in shapes.documents(raw, source)]


def read(path: Path) -> Any:
    """The JSON of a saved export; only a regular file of at most MAX_BYTES,
    through the one input boundary (encodings, numbers, text)."""
    return load_json(read_regular_file(path, MAX_BYTES, error=ExportError), path,
                     error=ExportError, expected="az's JSON output")
