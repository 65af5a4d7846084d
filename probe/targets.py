"""The targets of a round: generated from ``[apim]``, imported, and explicit.

Order and precedence (documented in examples/apim.toml):

1. the preset generated from ``[apim]`` (``apim_targets``: pure),
2. targets imported from saved Azure JSON (``[apim].import``),
3. explicit ``[[target]]`` tables.

Later sources add to earlier ones; on a name clash the **explicit**
``[[target]]`` wins (it replaces the generated target in place, so a user can
change the port, expectation or ``required`` of e.g. ``management`` without
switching the preset off). Between the preset and an import, the same host and
port under the same dependency gives the same name and the preset's target is
kept. An endpoint that the preset or any import marks required is required,
whatever the order of the imports.

The networkstatus checks themselves (APIM's own view, internal checks
included) travel on ``ApimConfig.reports`` to the diagnosis
(``probe.diagnosis.apim_view``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from probe.apim import IMPORT_LIMIT, ApimConfig
from probe.apim_reports import (
    NETWORKSTATUS,
    Budget,
    Imported,
    load,
    location_key,
    resolve_paths,
    targets_from,
    unique,
)
from probe.apim_resource import SERVICE, ApimResource, contradiction, private_of
from probe.apimmodel import CLASSIC, Need, outbound_need, ports_of, profile
from probe.config import Config, Target, target_name
from probe.errors import ConfigError

LISTED = ("storage", "sql", "keyvault", "monitor")  # the [apim] keys listing hosts


def apim_targets(apim: ApimConfig) -> tuple[Target, ...]:
    """The instance's endpoints and listed dependencies, as the mode's profile in
    the APIM model says (``probe.apimmodel``): only what the mode needs, with its
    documented ports, required when the mode requires it.

    The gateway health check (GET /status-0123456789abcdef) is not a target
    (a target is TCP): see ``health_url`` and ``probe.probers.http.check``.
    """
    mode = profile(apim.mode)
    targets: list[Target] = []
    if mode.gateway_from_vnet is not Need.NOT_NEEDED:
        targets.append(Target("gateway", apim.host(), 443, dependency="gateway",
                              required=mode.gateway_from_vnet is Need.REQUIRED))
        # what the VNet must reach besides 443 (an injected workspace gateway's port 80)
        for dep in mode.needs():
            if dep.direction == "inbound" and dep.peer == "VirtualNetwork":
                targets.extend(Target(f"gateway-{port}", apim.host(), port,
                                      dependency="gateway") for port in dep.ports if port != 443)
    if mode.management_endpoint:
        targets.append(Target("management", apim.host("management"), 3443,
                              dependency="management"))
    if apim.mode in CLASSIC:
        # The developer portal is not needed for the gateway to serve APIs.
        targets.append(Target("portal", apim.host("developer"), 443, dependency="portal",
                              required=False))
    if apim.self_hosted_gateway or outbound_need("configuration", apim.mode) is Need.REQUIRED:
        targets.append(Target("configuration", apim.host("configuration"), 443,
                              dependency="configuration"))
    for dependency in LISTED:
        need = outbound_need(dependency, apim.mode)
        for host in getattr(apim, dependency):
            for port in ports_of(dependency, apim.mode):
                targets.append(Target(target_name(dependency, host, port), host, port,
                                      dependency=dependency, required=need is Need.REQUIRED))
    return tuple(targets)


def merge(generated: Sequence[Target], explicit: Sequence[Target]) -> tuple[Target, ...]:
    """Generated targets, then explicit ones; an explicit name replaces in place."""
    out: dict[str, Target] = {}
    for target in generated:
        out.setdefault(target.name, target)
    for target in explicit:
        out[target.name] = target
    return tuple(out.values())


def wanted_locations(apim: ApimConfig) -> tuple[str, ...]:
    """The Azure locations whose networkstatus is read: ``locations``, else ``region``."""
    return apim.locations or ((apim.region,) if apim.region else ())


def imported(config: Config) -> list[Imported]:
    """Read the files named by ``[apim].import`` (relative to the config file).

    Raises ConfigError, naming the file, when the entries of the files read so
    far pass ``[apim] import_limit``.
    """
    if config.apim is None or not config.apim.imports:
        return []
    wanted = wanted_locations(config.apim)
    documents: list[Imported] = []
    used = 0
    for path in resolve_paths(config.apim.imports, config.source):
        document = load(path, wanted, Budget(config.apim.import_limit, used))
        used += document.entries
        documents.append(document)
    return documents


def expand(config: Config) -> Config:
    """The config with its generated and imported targets folded in, and APIM's
    own checks (from networkstatus) on ``apim.reports``.

    Raises ConfigError for an unreadable or malformed import.
    """
    if config.apim is None:
        return config
    documents = imported(config)
    apim = with_resources(config.apim, documents)
    generated = unique([*apim_targets(apim),
                        *(t for document in documents for t in document.targets)])
    reports = tuple(c for document in documents for c in document.checks)
    return replace(config, targets=merge(generated, config.targets),
                   apim=replace(apim, reports=reports))


def with_resources(apim: ApimConfig, documents: Sequence[Imported]) -> ApimConfig:
    """``apim`` with what imported APIM resources say: the platform version and,
    where the mode's gateway is private and the config names none, the
    instance's private addresses. A resource whose mode contradicts the
    config's is a ConfigError naming both."""
    resources = [(d.resource, d.source) for d in documents if d.resource is not None]
    for resource, source in resources:
        if resource.kind == SERVICE:
            problem = contradiction(resource, apim.mode, source)
            if problem is not None:
                raise ConfigError(problem, source=source, key="apim.mode")
    services = [r for r, _ in resources if r.kind == SERVICE]
    platform = next((r.platform for r in services if r.platform), apim.platform)
    trusted = next((r.trusted_services for r in services if r.trusted_services),
                   apim.trusted_services)
    addresses = apim.instance_addresses
    if not addresses and profile(apim.mode).gateway_private:
        addresses = private_of([r for r, _ in resources])
    return replace(apim, platform=platform, instance_addresses=addresses,
                   trusted_services=trusted, from_resource=bool(services) or apim.from_resource)


def _apim_of(resource: ApimResource) -> ApimConfig | None:
    """An [apim] section from a live resource, for a config that has none."""
    if resource.mode is None:
        return None
    hosts = [t.host for t in resource.targets if t.dependency == "gateway"]
    name = resource.name
    domain = next((h.removeprefix(f"{name}.") for h in hosts
                   if h.startswith(f"{name}.")), "azure-api.net")
    return ApimConfig(name=name, mode=resource.mode, sku=resource.sku,
                      region=location_key(resource.location), domain=domain,
                      locations=tuple(location_key(x) for x in (
                          resource.location, *resource.additional_locations) if x))


def _read_live(documents: Sequence[tuple[str, str, Any]], calls: tuple[str, ...],
               locations: Sequence[str], budget: Budget, notes: list[str]) -> list[Imported]:
    out = []
    for call, source, doc in documents:
        if call in calls:
            try:
                out.append(replace(targets_from(doc, source, locations, budget), source=source))
            except ConfigError as exc:
                notes.append(f"{source}: {exc.message}")
    return out


def with_live(config: Config, documents: Sequence[tuple[str, str, Any]],
              ) -> tuple[Config, tuple[str, ...]]:
    """``config`` (already expanded) with what ARM said live: the APIM resource
    (call ``service``), its ``networkstatus`` and ``outbound`` dependencies, as
    ``(call, source, JSON)``.

    The config wins: its targets keep their names and settings, its mode stays
    (a resource of another mode is a note, for a finding, not an error), and a
    live networkstatus replaces an imported one (it is newer). Returns the
    config and the notes: contradictions, and documents that could not be read.
    """
    notes: list[str] = []
    budget = Budget(config.apim.import_limit if config.apim else IMPORT_LIMIT)
    services = [d for d in _read_live(documents, ("service",), (), budget, notes)
                if d.resource is not None and d.resource.kind == SERVICE]
    apim = config.apim
    if apim is None and services and services[0].resource is not None:
        apim = _apim_of(services[0].resource)
    if apim is None:
        return config, tuple(notes)
    for service in list(services):
        problem = contradiction(service.resource, apim.mode, service.source) \
            if service.resource is not None else None
        if problem is not None:
            notes.append(problem)
            services.remove(service)
    others = _read_live(documents, ("networkstatus", "outbound"), wanted_locations(apim),
                        budget, notes)
    apim = with_resources(apim, services)
    live = [*services, *others]
    generated = unique([*apim_targets(apim), *(t for d in live for t in d.targets)])
    reports = (tuple(c for d in others for c in d.checks)
               if any(d.kind == NETWORKSTATUS for d in others) else apim.reports)
    return (replace(config, targets=merge(generated, config.targets),
                    apim=replace(apim, reports=reports)), tuple(notes))


def health_url(config: Config) -> str | None:
    """The gateway health check URL of the instance, if there is one to check."""
    if config.apim is None or not config.apim.health_check:
        return None
    return config.apim.health_url


def _origin(target: Target, generated: set[str], imported_names: set[str],
            explicit: set[str]) -> str:
    if target.name in explicit:
        over = target.name in generated or target.name in imported_names
        return "config (over)" if over else "config"
    if target.name in generated:
        return "apim"
    return "import"


def render_targets(config: Config) -> str:
    """The target list a round would probe, as a table (for ``probe targets``)."""
    documents = imported(config)
    generated = {t.name for t in apim_targets(config.apim)} if config.apim else set()
    imported_names = {t.name for d in documents for t in d.targets}
    explicit = {t.name for t in config.targets}
    final = expand(config).targets
    rows = [("NAME", "DEPENDENCY", "HOST:PORT", "EXPECT", "REQUIRED", "FROM")]
    for t in final:
        rows.append((t.name, t.dependency, f"{t.host}:{t.port}", t.expect.value,
                     "yes" if t.required else "no",
                     _origin(t, generated, imported_names, explicit)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    if config.apim is not None:
        apim = config.apim
        lines.append("")
        lines.append(f"instance {apim.name} ({apim.mode} mode"
                     + (f", {apim.region}" if apim.region else "")
                     + (", self-hosted gateway" if apim.self_hosted_gateway else "") + ")")
        url = health_url(config)
        if url:
            tls = "" if config.apim.verify_tls else ", certificate not verified"
            lines.append(f"health check GET {url} (probe.probers.http{tls}; TCP 443 is the "
                         "gateway target)")
    for document in documents:
        if document.locations:
            lines.append(f"{document.kind}: location(s) read: {', '.join(document.locations)}")
        for name in document.skipped:
            lines.append(f"not probed from {document.kind}: {name}")
        for note in document.notes:
            lines.append(f"note from {document.kind}: {note}")
    lines.append(f"{len(final)} target(s)")
    return "\n".join(lines) + "\n"
