"""APIM's own reports on its dependencies, saved as JSON: targets and evidence.

Two documents are understood, recognised by their shape (the probe never
calls an Azure API; it reads what the user saved):

* ``GET .../service/{n}/networkstatus`` -- a list of ``{"location",
  "networkStatus": {"dnsServers", "connectivityStatus": [...]}}``, or one
  ``networkStatus`` object as ``.../locations/{location}/networkstatus``
  returns. Every ``connectivityStatus`` entry is kept whole as an
  ``ApimCheck`` (name, status, error, resourceType, isOptional, lastUpdated,
  lastStatusChange): APIM's view, which ``probe.diagnosis.apim_view`` puts beside the
  agent's. Entries that name a host or URL also become targets (the URL's
  port), required unless ``isOptional``. Names that are no hostname
  (``LocalGatewayRedis``, ``Scm``: APIM's internal checks) and the inbound
  control-plane check (Azure calling the instance on 3443, not a dependency)
  are evidence only, never probed. A response for several locations is
  filtered to the configured ones.
* ``GET .../service/{n}/outboundNetworkDependenciesEndpoints`` --
  ``{"value": [{"category", "endpoints": [{"domainName", "endpointDetails":
  [{"port", "region"}]}]}]}``; each category is classified required or
  optional with Microsoft's VNet reference (``probe.apimmodel.reports``).

The parsing is pure (``targets_from``); ``load`` reads one file. Every problem
is a ConfigError naming the file, the path inside the document (``key``) and
what was expected, with the command that saves the expected document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from probe import apim_resource
from probe.addresses import split_name
from probe.apim import IMPORT_LIMIT_MAX
from probe.apimmodel import default_port, group_of
from probe.apimmodel.reports import classify, resource_dependency
from probe.boundary import load_json
from probe.config import Target, infer_dependency, target_name
from probe.errors import ConfigError, ErrorSite, InputError
from probe.files import EXPORT_LIMIT, read_regular_file
from probe.results import ApimCheck

NETWORKSTATUS = "networkstatus"
OUTBOUND = "outboundNetworkDependenciesEndpoints"
RESOURCE = apim_resource.RESOURCE

# How to save each document (Azure CLI has no apim sub-command for either).
_ID = '"$(az apim show -g RESOURCE_GROUP -n NAME --query id -o tsv)'
COMMANDS: dict[str, str] = {
    NETWORKSTATUS: f"az rest --method get --url {_ID}/networkstatus?api-version=2022-08-01\"",
    OUTBOUND: f"az rest --method get --url {_ID}/outboundNetworkDependenciesEndpoints"
              "?api-version=2022-08-01\"",
    RESOURCE: apim_resource.COMMAND,
}



@dataclass(frozen=True, slots=True)
class Imported:
    """What one document yielded: targets, APIM's own checks, what was left out."""

    kind: str
    targets: tuple[Target, ...]
    skipped: tuple[str, ...] = ()
    checks: tuple[ApimCheck, ...] = ()
    locations: tuple[str, ...] = ()   # the locations read (networkstatus)
    notes: tuple[str, ...] = ()       # probed, but worth a word (unclassified categories)
    # What counts against [apim] import_limit: every connectivityStatus entry of
    # the document (all locations), or every outbound domain and port pair.
    entries: int = 0
    resource: apim_resource.ApimResource | None = None  # the APIM resource itself
    source: str = ""                  # the file it was read from


@dataclass(frozen=True, slots=True)
class Budget:
    """``[apim] import_limit`` for one document: the limit, and the entries the
    documents read before it took."""

    limit: int
    used: int = 0

    def check(self, source: str, entries: int) -> None:
        """Raise ConfigError, naming ``source``, when its entries pass the limit."""
        if self.used + entries > self.limit:
            raise over_limit(source, entries, self.used + entries, self.limit)


class _Where(ErrorSite):
    """Errors for one document: the file, the JSON path, the command that saves it."""

    def __init__(self, source: str, kind: str) -> None:
        super().__init__(source, ConfigError)
        self.kind = kind

    def fail(self, key: str, message: str, line: int | None = None) -> InputError:
        return super().fail(key, f"{message} (expected the JSON that "
                                 f"`{COMMANDS[self.kind]}` saves)", line)


def location_key(name: str) -> str:
    """'West US' == 'westus' == 'West-US': how Azure location names compare."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


# A check label rather than a name: a word or words, no dot, no port, no URL.
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9 _-]*")


# --------------------------------------------------------------------------
# networkstatus


@dataclass(frozen=True, slots=True)
class _Location:
    name: str
    path: str              # JSON path of its connectivityStatus list
    entries: Any
    dns_servers: tuple[str, ...]


def _locations(doc: Any, where: _Where) -> list[_Location]:
    """Each location of the document with its connectivityStatus list."""
    if isinstance(doc, Mapping) and "connectivityStatus" in doc:
        return [_Location("", "connectivityStatus", doc["connectivityStatus"],
                          _dns_servers(doc, "", where))]
    if isinstance(doc, Mapping) and "networkStatus" in doc:
        doc = [doc]
    out: list[_Location] = []
    for i, location in enumerate(doc):
        if not isinstance(location, Mapping) or not isinstance(
                location.get("networkStatus"), Mapping):
            raise where.fail(f"[{i}]", "expected an object with 'location' and 'networkStatus'")
        name = location.get("location", "")
        if not isinstance(name, str):
            raise where.fail(f"[{i}].location", f"expected a location name, got {name!r}")
        status = location["networkStatus"]
        if "connectivityStatus" not in status:
            raise where.fail(f"[{i}].networkStatus", "missing 'connectivityStatus'")
        out.append(_Location(name, f"[{i}].networkStatus.connectivityStatus",
                             status["connectivityStatus"],
                             _dns_servers(status, f"[{i}].networkStatus.", where)))
    return out


def _dns_servers(status: Mapping[str, Any], prefix: str, where: _Where) -> tuple[str, ...]:
    servers = status.get("dnsServers") or []
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise where.fail(f"{prefix}dnsServers", "expected a list of addresses")
    return tuple(servers)


def _select(locations: list[_Location], wanted: Sequence[str], where: _Where,
            ) -> list[_Location]:
    """The locations the config asks for; every location when there is one only."""
    present = [loc.name for loc in locations if loc.name]
    if not wanted:
        if len({location_key(n) for n in present}) > 1:
            raise ConfigError(
                f"holds the network status of {len(present)} locations ({', '.join(present)}): "
                "set [apim] region (or locations, for a multi-region instance) to the one(s) "
                "this agent watches", source=where.source)
        return locations
    keys = {location_key(w) for w in wanted}
    chosen = [loc for loc in locations if not loc.name or location_key(loc.name) in keys]
    missing = [w for w in wanted if location_key(w) not in
               {location_key(loc.name) for loc in chosen}]
    if missing and present:
        raise ConfigError(
            f"no location {', '.join(repr(m) for m in missing)} (from [apim] region / "
            f"locations); it holds: {', '.join(present)}", source=where.source)
    return chosen


def _text(entry: Mapping[str, Any], key: str, field: str, where: _Where) -> str:
    value = entry.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise where.fail(f"{key}.{field}", f"expected a string, got {value!r}")
    return value


def _check(entry: Any, key: str, location: _Location, where: _Where) -> ApimCheck:
    """One connectivityStatus entry, validated, with where the agent would probe it."""
    if not isinstance(entry, Mapping):
        raise where.fail(key, "expected an object with 'name' and 'resourceType'")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise where.fail(f"{key}.name", f"expected a host, URL or host:port, got {name!r}")
    kind = _text(entry, key, "resourceType", where)
    optional = entry.get("isOptional", False)
    if not isinstance(optional, bool):
        raise where.fail(f"{key}.isOptional", f"expected true or false, got {optional!r}")
    dependency = resource_dependency(kind)
    if not kind:
        # networkstatus of API versions before resourceType (2019-01-01 ...): the
        # dependency, and so its port (SQL 1433, not 443), from the hostname
        guessed = group_of(name, 0)
        dependency = "" if guessed == "other" else guessed
    direction = "inbound" if "inbound" in kind.lower() else "outbound"
    host: str | None = None
    port: int | None = None
    name = name.strip()
    if "*" in name:
        pass  # a wildcard: nothing to probe, kept as evidence
    elif _LABEL.fullmatch(name) and "." not in name:
        direction = "internal" if direction == "outbound" else direction
    else:
        try:
            host, port = split_name(name, default_port(dependency))
        except ValueError as exc:
            raise where.fail(f"{key}.name", str(exc)) from None
    return ApimCheck(
        name=name, status=_text(entry, key, "status", where).lower(),
        error=_text(entry, key, "error", where), resource_type=kind, is_optional=optional,
        last_updated=_text(entry, key, "lastUpdated", where),
        last_status_change=_text(entry, key, "lastStatusChange", where),
        location=location.name, source=where.source,
        dependency=dependency or (infer_dependency(host, port) if host and port else "other"),
        direction=direction, host=host, port=port, dns_servers=location.dns_servers)


def from_networkstatus(doc: Any, source: str, locations: Sequence[str] = (),
                       budget: Budget | None = None) -> Imported:
    """Every entry as an ApimCheck; hosts and URLs of the chosen locations as targets.

    Over ``budget``, the document is refused before any entry is read (an
    entry becomes one check: the lists' lengths are the count).
    """
    where = _Where(source, NETWORKSTATUS)
    everything = _locations(doc, where)
    if budget is not None:
        budget.check(source, sum(len(loc.entries) for loc in everything
                                 if isinstance(loc.entries, list)))
    checks: list[ApimCheck] = []
    for location in everything:  # validate every location, read the chosen ones
        if not isinstance(location.entries, list):
            raise where.fail(location.path, f"expected a list, got "
                                            f"{type(location.entries).__name__}")
        for j, entry in enumerate(location.entries):
            checks.append(_check(entry, f"{location.path}[{j}]", location, where))
    entries = len(checks)
    chosen = [loc.name for loc in _select(everything, locations, where)]
    checks = [c for c in checks if c.location in chosen]
    targets: list[Target] = []
    skipped: list[str] = []
    for check in checks:
        if check.host is None or check.port is None:
            why = "wildcard" if "*" in check.name else \
                "inbound control-plane check" if check.direction == "inbound" else \
                "APIM's internal check, not a hostname"
            skipped.append(f"{check.name} ({why})")
        elif check.direction == "inbound":
            skipped.append(f"{check.name} (inbound control-plane check: Azure calling the "
                           "instance, not a dependency)")
        else:
            targets.append(Target(target_name(check.dependency, check.host, check.port),
                                  check.host, check.port, dependency=check.dependency,
                                  required=not check.is_optional))
    return Imported(NETWORKSTATUS, unique(targets), tuple(dict.fromkeys(skipped)),
                    tuple(checks), tuple(n for n in dict.fromkeys(chosen) if n),
                    entries=entries)


# --------------------------------------------------------------------------
# outboundNetworkDependenciesEndpoints


def _ports(details: Any, key: str, where: _Where) -> list[int]:
    if not isinstance(details, list):
        raise where.fail(key, "expected a list of {port, region}")
    ports: list[int] = []
    for k, detail in enumerate(details):
        port = detail.get("port") if isinstance(detail, Mapping) else None
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise where.fail(f"{key}[{k}].port", f"expected a port from 1 to 65535, got {port!r}")
        ports.append(port)
    return ports


def _endpoint_targets(category: str, endpoint: Any, key: str, where: _Where,
                      skipped: list[str], notes: list[str]) -> list[Target]:
    if not isinstance(endpoint, Mapping):
        raise where.fail(key, "expected an object with 'domainName'")
    domain = endpoint.get("domainName")
    if not isinstance(domain, str) or not domain.strip():
        raise where.fail(f"{key}.domainName", f"expected a hostname, got {domain!r}")
    if "*" in domain:
        skipped.append(f"{domain} (wildcard)")
        return []
    ports = _ports(endpoint.get("endpointDetails", []), f"{key}.endpointDetails", where)
    try:
        host, default = split_name(domain, 443)
    except ValueError as exc:
        raise where.fail(f"{key}.domainName", str(exc)) from None
    out: list[Target] = []
    for port in dict.fromkeys(ports or [default]):
        known = classify(category, port)
        if known is None:
            notes.append(f"category {category!r} is not in Microsoft's VNet reference: "
                         f"{host}:{port} is required (a [[target]] can say otherwise)")
        dependency, required = known or (infer_dependency(host, port), True)
        out.append(Target(target_name(dependency, host, port), host, port,
                          dependency=dependency, required=required))
    return out


def from_outbound(doc: Any, source: str) -> Imported:
    where = _Where(source, OUTBOUND)
    groups = doc.get("value") if isinstance(doc, Mapping) else doc
    if not isinstance(groups, list):
        raise where.fail("value", "expected a list of {category, endpoints}")
    targets: list[Target] = []
    skipped: list[str] = []
    notes: list[str] = []
    entries = 0
    for i, group in enumerate(groups):
        key = f"value[{i}]"
        if not isinstance(group, Mapping) or not isinstance(group.get("endpoints"), list):
            raise where.fail(key, "expected an object with 'category' and 'endpoints' (a list)")
        category = group.get("category", "")
        if not isinstance(category, str):
            raise where.fail(f"{key}.category", f"expected a string, got {category!r}")
        for j, endpoint in enumerate(group["endpoints"]):
            found = _endpoint_targets(category, endpoint, f"{key}.endpoints[{j}]", where,
                                      skipped, notes)
            entries += len(found) or 1  # a wildcard is an entry too
            targets.extend(found)
    return Imported(OUTBOUND, unique(targets), tuple(dict.fromkeys(skipped)),
                    notes=tuple(dict.fromkeys(notes)), entries=entries)


# --------------------------------------------------------------------------
# either document


def kind_of(doc: Any) -> str | None:
    """Which of the documents this is, from its shape alone."""
    if apim_resource.is_resource(doc):
        return RESOURCE
    if isinstance(doc, Mapping):
        if "connectivityStatus" in doc or "networkStatus" in doc:
            return NETWORKSTATUS
        value = doc.get("value")
        if isinstance(value, list) and all(isinstance(v, Mapping) and "endpoints" in v
                                           for v in value):
            return OUTBOUND
        return None
    if isinstance(doc, list) and doc and all(isinstance(v, Mapping) for v in doc):
        # One recognisable location is enough: the parser then names what the
        # others lack, which says more than "unknown document".
        if any("networkStatus" in v or "location" in v for v in doc):
            return NETWORKSTATUS
        if all("endpoints" in v for v in doc):
            return OUTBOUND
    return None


def targets_from(doc: Any, source: str, locations: Sequence[str] = (),
                 budget: Budget | None = None) -> Imported:
    """Targets (and APIM's checks) from a parsed document of either kind.

    ``locations``: the Azure locations whose networkstatus is read (empty:
    the document must hold one location only). ``budget``: ``[apim]
    import_limit`` and the entries already imported; more is a ConfigError.
    """
    kind = kind_of(doc)
    if kind == NETWORKSTATUS:
        return from_networkstatus(doc, source, locations, budget)
    if kind == OUTBOUND:
        found = from_outbound(doc, source)
        if budget is not None:
            budget.check(source, found.entries)
        return found
    if kind == RESOURCE:
        resource = apim_resource.from_resource(doc)
        if resource.sku is None and resource.network == "None" and not resource.targets:
            raise _unknown(source, "an API Management resource with none of sku, "
                           "virtualNetworkType or hostnames (cut by a --query?): ")
        return Imported(RESOURCE, resource.targets, notes=resource.notes,
                        entries=len(resource.targets), resource=resource)
    raise _unknown(source)


def _unknown(source: str, what: str = "") -> ConfigError:
    return ConfigError(f"{what}expected the JSON of an API Management 'networkstatus' (a list "
                       "of {location, networkStatus: {connectivityStatus: [...]}}), as "
                       f"`{COMMANDS[NETWORKSTATUS]}` saves it, or "
                       "'outboundNetworkDependenciesEndpoints' ({value: [{category, endpoints: "
                       "[...]}]}), as " f"`{COMMANDS[OUTBOUND]}` saves it, or the APIM "
                       f"resource itself, as `{COMMANDS[RESOURCE]}` saves it", source=source)


def load(path: Path, locations: Sequence[str] = (), budget: Budget | None = None) -> Imported:
    """Read one saved document; every problem is a ConfigError naming the file."""
    # A regular file of sane size only: a FIFO named in [apim] import must not hang a
    # reload; then the one input boundary (encodings, numbers, text).
    doc = load_json(read_regular_file(path, EXPORT_LIMIT, error=ConfigError), path,
                    error=ConfigError, expected="a saved networkstatus or "
                    "outboundNetworkDependenciesEndpoints document")
    return replace(targets_from(doc, str(path), locations, budget), source=str(path))


def over_limit(source: str, entries: int, total: int, limit: int) -> ConfigError:
    """The error for the import that takes the entries past ``[apim] import_limit``."""
    before = "" if total == entries else f" ({total} with the imports listed before it)"
    return ConfigError(
        f"{entries} entries{before}, over the limit of {limit} ([apim] import_limit); "
        f"expected at most {limit} connectivityStatus entries and outbound domain:port "
        "pairs across all imported files: import only this instance's locations, or raise "
        f"import_limit (at most {IMPORT_LIMIT_MAX})", source=source)


def resolve_paths(paths: Sequence[str], config_source: str | None) -> list[Path]:
    """Import paths are relative to the config file's folder."""
    base = Path(config_source).parent if config_source and not config_source.startswith("<") \
        else Path.cwd()
    return [p if p.is_absolute() else base / p for p in (Path(s).expanduser() for s in paths)]


def unique(targets: Sequence[Target]) -> tuple[Target, ...]:
    """One target per host and port, in first-seen order; required if any says so.

    The order of documents (and of locations in one) never decides ``required``:
    an endpoint one of them needs is needed.
    """
    seen: dict[tuple[str, int], Target] = {}
    for target in targets:
        key = (target.host, target.port)
        have = seen.get(key)
        if have is None:
            seen[key] = target
        elif target.required and not have.required:
            seen[key] = replace(have, required=True)
    return tuple(seen.values())
