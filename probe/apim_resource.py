"""The APIM resource itself, saved as JSON: an ``[apim] import`` of a third kind.

Three shapes of one resource are read, recognised by their keys:

* REST (``az rest --method get --url <id>?api-version=...``, the REST API's
  ``Microsoft.ApiManagement/service`` or ``.../gateways``): settings under
  ``properties``;
* ``az apim show``: the same settings flattened to the top;
* PowerShell ``Get-AzApiManagement | ConvertTo-Json -Depth 10``: the
  ``PsApiManagement`` object (``VpnType``, ``PlatformVersion``, ``VirtualNetwork``).

A workspace gateway (``Microsoft.ApiManagement/gateways``, ``az rest`` only)
is read as well. What is derived: name, sku and the mode's profile in the
APIM model (``virtualNetworkType`` alone cannot tell classic external from
Standard v2 integration: the sku does), location and additional locations,
``platformVersion``, the hostname configurations (custom domains included) as
targets, the private and public addresses, the subnet. A value that is not
what the field holds (a masked ``137.XXX.11.74`` in the REST examples) is
left out and said in the notes, never a refusal of the whole file.

Pure (``from_resource``) but for ``load``'s read, in ``probe.apim_reports``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probe.addresses import is_hostname, is_ip, split_name
from probe.apimmodel import DISABLE_OVER_PRIVILEGED, Mode, for_sku
from probe.config import Target, target_name

SERVICE = "Microsoft.ApiManagement/service"
GATEWAY = "Microsoft.ApiManagement/gateways"
RESOURCE = "resource"
COMMAND = ('az apim show -g RESOURCE_GROUP -n NAME (or az rest --method get --url '
           '"$(az apim show -g RESOURCE_GROUP -n NAME --query id -o tsv)?api-version=2024-05-01"; '
           "a workspace gateway: az rest --method get --url "
           '".../providers/Microsoft.ApiManagement/gateways/NAME?api-version=2024-05-01")')

# hostnameConfigurations[].type -> (dependency, port, required)
_HOSTNAME_TYPES: Mapping[str, tuple[str, int, bool]] = {
    "proxy": ("gateway", 443, True),
    "developerportal": ("portal", 443, False),
    "portal": ("portal", 443, False),
    "management": ("management", 443, False),
    "scm": ("scm", 443, False),
    "configurationapi": ("configuration", 443, False),
}
# (the URL fields, PowerShell's RuntimeUrl among them) -> (dependency, required)
_URL_FIELDS = ((("gatewayUrl", "runtimeUrl"), "gateway", True),
               (("developerPortalUrl",), "portal", False),
               (("managementApiUrl",), "management", False))


@dataclass(frozen=True, slots=True)
class ApimResource:
    """What the resource says about the instance (or a workspace gateway)."""

    kind: str                      # SERVICE or GATEWAY
    name: str
    sku: str | None
    network: str                   # virtualNetworkType: None, External, Internal (as read)
    mode: Mode | None              # the profile; None: not in a virtual network
    location: str = ""
    additional_locations: tuple[str, ...] = ()
    platform: str | None = None    # platformVersion: stv1, stv2, stv2.1, mtv1
    # trusted service connectivity: "disabled" (DisableOverPrivilegedAccess True),
    # "enabled" (False), None (the property is absent: not known)
    trusted_services: str | None = None
    private_addresses: tuple[str, ...] = ()
    public_addresses: tuple[str, ...] = ()
    subnet: str | None = None
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        mode = self.mode.value if self.mode else "not in a virtual network"
        return (f"{self.kind.rsplit('/', 1)[1]} {self.name} (sku {self.sku or '?'}, "
                f"virtualNetworkType {self.network}: {mode})")


def is_resource(doc: Any) -> bool:
    """An APIM service or workspace gateway resource, in any of the three shapes."""
    if not isinstance(doc, Mapping):
        return False
    kind = doc.get("type") or doc.get("Type")
    if isinstance(kind, str) and kind.lower() in (SERVICE.lower(), GATEWAY.lower()):
        return True
    return "VpnType" in doc and "Name" in doc  # PowerShell's PsApiManagement


def _get(doc: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present, at the top, under ``properties``, or in
    PowerShell's PascalCase."""
    props = doc.get("properties")
    layers = [doc, props] if isinstance(props, Mapping) else [doc]
    for name in names:
        for layer in layers:
            for key in (name, name[:1].upper() + name[1:]):
                if layer.get(key) is not None:
                    return layer[key]
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _addresses(value: Any, field: str, notes: list[str]) -> tuple[str, ...]:
    good = [a for a in _strings(value) if is_ip(a)]
    bad = [a for a in _strings(value) if not is_ip(a)]
    if bad:
        notes.append(f"{field}: {', '.join(bad)} is not an IP address (masked?); left out")
    return tuple(good)


def _sku(doc: Mapping[str, Any]) -> str | None:
    sku = doc.get("sku") or doc.get("Sku")
    if isinstance(sku, Mapping):
        sku = sku.get("name") or sku.get("Name")
    return sku if isinstance(sku, str) and sku else None


def _mode(kind: str, network: str, sku: str | None, subnet: str | None) -> Mode | None:
    lowered = network.lower()
    if kind == GATEWAY:
        if lowered == "internal":
            return Mode.WORKSPACE_GATEWAY_INJECTION
        if lowered == "external" or subnet:
            return Mode.WORKSPACE_GATEWAY_INTEGRATION
        return None
    if lowered not in ("internal", "external"):
        return None
    return for_sku(Mode(lowered), sku)


def _host_targets(doc: Mapping[str, Any], notes: list[str]) -> list[Target]:
    found: list[tuple[str, str, int, bool]] = []
    configs = _get(doc, "hostnameConfigurations") or []
    for entry in configs if isinstance(configs, list) else []:
        if not isinstance(entry, Mapping):
            continue
        kind, host = entry.get("type") or entry.get("Type"), (
            entry.get("hostName") or entry.get("HostName") or entry.get("Hostname"))
        spec = _HOSTNAME_TYPES.get(str(kind).lower()) if isinstance(kind, str) else None
        if spec is None:
            notes.append(f"hostnameConfigurations: unknown type {kind!r} for {host!r}; "
                         "not probed")
        elif isinstance(host, str) and is_hostname(host.rstrip(".")):
            found.append((spec[0], host.rstrip(".").lower(), spec[1], spec[2]))
    for fields, dependency, required in _URL_FIELDS:
        url = _get(doc, *fields)
        if isinstance(url, str):
            try:
                host, port = split_name(url, 443)
            except ValueError:
                notes.append(f"{fields[0]}: {url!r} has no hostname; not probed")
                continue
            found.append((dependency, host, port, required))
    frontend = _get(doc, "frontend")
    if isinstance(frontend, Mapping) and isinstance(frontend.get("defaultHostname"), str):
        found.append(("gateway", frontend["defaultHostname"].lower(), 443, True))
    return [Target(target_name(d, h, p), h, p, dependency=d, required=r)
            for d, h, p, r in dict.fromkeys(found)]


def from_resource(doc: Mapping[str, Any]) -> ApimResource:
    """Pure: what one resource document says (see the module docstring)."""
    notes: list[str] = []
    raw_kind = doc.get("type") or doc.get("Type") or SERVICE
    kind = GATEWAY if str(raw_kind).lower() == GATEWAY.lower() else SERVICE
    name = doc.get("name") or doc.get("Name") or ""
    network = _get(doc, "virtualNetworkType", "vpnType") or "None"
    vnet = _get(doc, "virtualNetworkConfiguration", "virtualNetwork", "backend")
    subnet = None
    if isinstance(vnet, Mapping):
        inner = vnet.get("subnet")
        subnet = (vnet.get("subnetResourceId") or vnet.get("SubnetResourceId")
                  or (inner.get("id") if isinstance(inner, Mapping) else None))
    sku = _sku(doc)
    additional = _get(doc, "additionalLocations", "additionalRegions") or []
    locations = tuple(str(a.get("location") or a.get("Location")) for a in additional
                      if isinstance(a, Mapping) and (a.get("location") or a.get("Location")))
    platform = _get(doc, "platformVersion")
    custom = _get(doc, "customProperties")
    flag = custom.get(DISABLE_OVER_PRIVILEGED) if isinstance(custom, Mapping) else None
    trusted = None if not isinstance(flag, str) else (
        "disabled" if flag.strip().lower() == "true" else "enabled")
    return ApimResource(
        kind=kind, name=str(name), sku=sku, network=str(network),
        mode=_mode(kind, str(network), sku, subnet if isinstance(subnet, str) else None),
        location=str(doc.get("location") or doc.get("Location") or ""),
        additional_locations=locations,
        platform=platform.lower() if isinstance(platform, str) else None,
        trusted_services=trusted,
        private_addresses=_addresses(_get(doc, "privateIPAddresses"), "privateIPAddresses",
                                     notes),
        public_addresses=_addresses(_get(doc, "publicIPAddresses"), "publicIPAddresses",
                                    notes),
        subnet=subnet if isinstance(subnet, str) else None,
        targets=tuple(_host_targets(doc, notes)),
        notes=tuple(notes))


def contradiction(resource: ApimResource, mode: Mode, source: str) -> str | None:
    """Why a config's ``mode`` cannot be this resource's, naming both (or None)."""
    if resource.mode is None or resource.mode is mode:
        return None
    return (f"[apim] mode = {mode.value!r}, but {source} is {resource.describe()}; set "
            f"mode = {resource.mode.value!r} (or sku = {resource.sku!r} with the classic mode)")


def private_of(resources: Sequence[ApimResource]) -> tuple[str, ...]:
    """The private addresses APIM's names must resolve to, from the resources read."""
    return tuple(dict.fromkeys(a for r in resources for a in r.private_addresses))
