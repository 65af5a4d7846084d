"""Targets from Azure's own views of an instance's dependencies, saved as JSON.

Two documents are understood, recognised by their shape:

* ``GET .../service/{n}/networkstatus`` -- a list of
  ``{"location", "networkStatus": {"dnsServers", "connectivityStatus": [...]}}``
  (or one ``networkStatus`` object, as ``.../networkstatus/{location}`` returns);
  each ``connectivityStatus`` entry has ``name`` (a bare host, a URL or
  host:port), ``resourceType`` and ``isOptional``.
* ``GET .../service/{n}/outboundNetworkDependenciesEndpoints`` --
  ``{"value": [{"category", "endpoints": [{"domainName",
  "endpointDetails": [{"port", "region"}]}]}]}``.

Only saved copies are read: the probe never calls an Azure API. The parsing
is pure (``targets_from``); ``load`` reads one file. Every problem is a
ConfigError naming the file, where in the document, and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from probe.addresses import is_hostname, is_ip, split_host_port
from probe.config import Target, infer_dependency
from probe.errors import ConfigError

NETWORKSTATUS = "networkstatus"
OUTBOUND = "outboundNetworkDependenciesEndpoints"

# networkstatus resourceType -> dependency group (as in probe.config's guesses).
RESOURCE_TYPES: dict[str, str] = {
    "blobstorage": "storage",
    "tablestorage": "storage",
    "filestorage": "storage",
    "queue": "storage",
    "sqldatabase": "sql",
    "monitoring": "monitor",
    "metrics": "monitor",
    "azureactivedirectory": "entra",
    "internalcache": "cache",
    "sourcecontrol": "scm",
    "email": "email",
    "keyvault": "keyvault",
    "eventhub": "eventhub",
}

# When a networkstatus name carries no port: the port the resource type uses.
_DEFAULT_PORTS: dict[str, int] = {"sql": 1433, "cache": 6380, "email": 25}

# outboundNetworkDependenciesEndpoints category keywords -> dependency group.
_CATEGORY_WORDS: tuple[tuple[str, str], ...] = (
    ("storage", "storage"),
    ("sql", "sql"),
    ("key vault", "keyvault"),
    ("keyvault", "keyvault"),
    ("event hub", "eventhub"),
    ("monitor", "monitor"),
    ("metrics", "monitor"),
    ("active directory", "entra"),
    ("entra", "entra"),
    ("smtp", "email"),
    ("email", "email"),
)


@dataclass(frozen=True, slots=True)
class Imported:
    """What one document yielded: targets, and names that could not be probed."""

    kind: str
    targets: tuple[Target, ...]
    skipped: tuple[str, ...] = ()


class _Where:
    """Error construction for one document."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, source=self.source, key=key or None)


def split_name(name: str, default_port: int) -> tuple[str, int]:
    """'host', 'host:port', 'https://host[:port]/path' -> (host, port).

    Raises ValueError when no hostname can be found.
    """
    text = name.strip()
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"bad port in URL {name!r}") from None
        host = parts.hostname or ""
        if port is None:
            port = {"http": 80, "https": 443}.get(parts.scheme.lower(), default_port)
    else:
        host, maybe = split_host_port(text.split("/", 1)[0])
        port = maybe if maybe is not None else default_port
    host = host.rstrip(".").lower()
    if not (is_hostname(host) or is_ip(host)):
        raise ValueError(f"{name!r} has no hostname")
    return host, port


def target_name(dependency: str, host: str, port: int) -> str:
    """The one naming scheme of generated and imported targets (dedup by name)."""
    return f"{dependency}:{host}:{port}"


def _networkstatus_entries(doc: Any, where: _Where) -> list[tuple[str, Any]]:
    """(key path, connectivityStatus list) for each location in the document."""
    if isinstance(doc, Mapping) and "connectivityStatus" in doc:
        return [("connectivityStatus", doc["connectivityStatus"])]
    if isinstance(doc, Mapping) and "networkStatus" in doc:
        doc = [doc]
    out: list[tuple[str, Any]] = []
    for i, location in enumerate(doc):
        if not isinstance(location, Mapping) or not isinstance(
                location.get("networkStatus"), Mapping):
            raise where.fail(f"[{i}]", "expected an object with 'location' and 'networkStatus'")
        status = location["networkStatus"]
        if "connectivityStatus" not in status:
            raise where.fail(f"[{i}].networkStatus", "missing 'connectivityStatus'")
        out.append((f"[{i}].networkStatus.connectivityStatus", status["connectivityStatus"]))
    return out


def from_networkstatus(doc: Any, source: str) -> Imported:
    where = _Where(source)
    targets: list[Target] = []
    skipped: list[str] = []
    for path, entries in _networkstatus_entries(doc, where):
        if not isinstance(entries, list):
            raise where.fail(path, f"expected a list, got {type(entries).__name__}")
        for j, entry in enumerate(entries):
            key = f"{path}[{j}]"
            if not isinstance(entry, Mapping):
                raise where.fail(key, "expected an object with 'name' and 'resourceType'")
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                raise where.fail(f"{key}.name", f"expected a host, URL or host:port, got "
                                                f"{name!r}")
            kind = entry.get("resourceType", "")
            if not isinstance(kind, str):
                raise where.fail(f"{key}.resourceType", f"expected a string, got {kind!r}")
            optional = entry.get("isOptional", False)
            if not isinstance(optional, bool):
                raise where.fail(f"{key}.isOptional", f"expected true or false, got "
                                                      f"{optional!r}")
            dependency = RESOURCE_TYPES.get(kind.lower())
            try:
                host, port = split_name(name, _DEFAULT_PORTS.get(dependency or "", 443))
            except ValueError as exc:
                if "*" in name:
                    skipped.append(f"{name} (wildcard)")
                    continue
                raise where.fail(f"{key}.name", str(exc)) from None
            dependency = dependency or infer_dependency(host, port)
            targets.append(Target(target_name(dependency, host, port), host, port,
                                  dependency=dependency, required=not optional))
    return Imported(NETWORKSTATUS, _unique(targets), tuple(skipped))


def _category_dependency(category: str, host: str, port: int) -> str:
    lowered = category.lower()
    for word, dependency in _CATEGORY_WORDS:
        if word in lowered:
            return dependency
    return infer_dependency(host, port)


def from_outbound(doc: Any, source: str) -> Imported:
    where = _Where(source)
    groups = doc.get("value") if isinstance(doc, Mapping) else doc
    if not isinstance(groups, list):
        raise where.fail("value", "expected a list of {category, endpoints}")
    targets: list[Target] = []
    skipped: list[str] = []
    for i, group in enumerate(groups):
        key = f"value[{i}]"
        if not isinstance(group, Mapping) or not isinstance(group.get("endpoints"), list):
            raise where.fail(key, "expected an object with 'category' and 'endpoints' (a list)")
        category = group.get("category", "")
        if not isinstance(category, str):
            raise where.fail(f"{key}.category", f"expected a string, got {category!r}")
        for j, endpoint in enumerate(group["endpoints"]):
            ekey = f"{key}.endpoints[{j}]"
            if not isinstance(endpoint, Mapping):
                raise where.fail(ekey, "expected an object with 'domainName'")
            domain = endpoint.get("domainName")
            if not isinstance(domain, str) or not domain.strip():
                raise where.fail(f"{ekey}.domainName", f"expected a hostname, got {domain!r}")
            if "*" in domain:
                skipped.append(f"{domain} (wildcard)")
                continue
            details = endpoint.get("endpointDetails", [])
            if not isinstance(details, list):
                raise where.fail(f"{ekey}.endpointDetails", "expected a list of {port, region}")
            ports: list[int] = []
            for k, detail in enumerate(details):
                port = detail.get("port") if isinstance(detail, Mapping) else None
                if isinstance(port, bool) or not isinstance(port, int) or \
                        not 1 <= port <= 65535:
                    raise where.fail(f"{ekey}.endpointDetails[{k}].port",
                                     f"expected a port from 1 to 65535, got {port!r}")
                ports.append(port)
            try:
                host, default = split_name(domain, 443)
            except ValueError as exc:
                raise where.fail(f"{ekey}.domainName", str(exc)) from None
            for port in ports or [default]:
                dependency = _category_dependency(category, host, port)
                targets.append(Target(target_name(dependency, host, port), host, port,
                                      dependency=dependency))
    return Imported(OUTBOUND, _unique(targets), tuple(skipped))


def kind_of(doc: Any) -> str | None:
    """Which of the two documents this is, from its shape alone."""
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


def targets_from(doc: Any, source: str) -> Imported:
    """Targets from a parsed document of either kind."""
    kind = kind_of(doc)
    if kind == NETWORKSTATUS:
        return from_networkstatus(doc, source)
    if kind == OUTBOUND:
        return from_outbound(doc, source)
    raise ConfigError("expected the JSON of an API Management 'networkstatus' (a list of "
                      "{location, networkStatus: {connectivityStatus: [...]}}) or "
                      "'outboundNetworkDependenciesEndpoints' ({value: [{category, endpoints: "
                      "[...]}]}) response", source=source)


def load(path: Path) -> Imported:
    """Read one saved document; every problem is a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=path) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", source=path) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", source=path, line=exc.lineno) from None
    return targets_from(doc, str(path))


def resolve_paths(paths: Sequence[str], config_source: str | None) -> list[Path]:
    """Import paths are relative to the config file's folder."""
    base = Path(config_source).parent if config_source and not config_source.startswith("<") \
        else Path.cwd()
    return [p if p.is_absolute() else base / p for p in (Path(s).expanduser() for s in paths)]


def _unique(targets: Sequence[Target]) -> tuple[Target, ...]:
    seen: dict[str, Target] = {}
    for t in targets:
        seen.setdefault(t.name, t)
    return tuple(seen.values())
