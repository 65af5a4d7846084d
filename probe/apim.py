"""The ``[apim]`` config section: one API Management instance, described once.

From it ``probe.targets`` generates the instance's endpoints and dependency
targets, and ``probe.diagnosis.context_from`` the diagnosis context (mode,
instance address, reference resolvers, forbidden hops).

    [apim]
    name = "contoso"                      # required: <name>.azure-api.net
    mode = "internal"                     # required: internal | external
    region = "East US"                    # the location whose networkstatus is read
    locations = ["East US", "West US"]    # multi-region: the locations to read (default: region)
    self_hosted_gateway = false           # adds the configuration endpoint
    domain = "azure-api.net"              # the lab uses a test domain
    instance_address = ["10.0.1.5"]       # what APIM's names must resolve to
    storage = ["contosost.blob.core.windows.net"]
    sql = ["contoso-sql.database.windows.net"]
    keyvault = ["contoso-kv.vault.azure.net"]
    monitor = ["gcs.prod.monitoring.core.windows.net"]
    azure_dns = ["168.63.129.16"]         # resolvers taken as Azure DNS
    forbidden_hops = ["10.0.100.4", "10.10.0.0/16"]
    import = ["networkstatus.json"]       # saved Azure JSON, relative to this file
    health_check = true                   # gateway /status-0123456789abcdef
    verify_tls = true                     # certificate check of the health probe
    ca_file = "corp-ca.pem"               # CA of the gateway's certificate, if private

This module belongs to the config layer: it parses and validates, it
generates nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.addresses import is_hostname, is_ip, is_prefix
from probe.errors import ConfigError
from probe.results import ApimCheck

if TYPE_CHECKING:
    from probe.config import _Reader

MODES = ("internal", "external")
DEFAULT_DOMAIN = "azure-api.net"
AZURE_DNS = "168.63.129.16"
HEALTH_PATH = "/status-0123456789abcdef"

APIM_KEYS = ("name", "mode", "region", "self_hosted_gateway", "domain", "instance_address",
             "storage", "sql", "keyvault", "monitor", "azure_dns", "forbidden_hops", "import",
             "health_check", "verify_tls", "ca_file", "locations")


@dataclass(frozen=True, slots=True)
class ApimConfig:
    name: str
    mode: str
    region: str = ""
    self_hosted_gateway: bool = False
    domain: str = DEFAULT_DOMAIN
    instance_addresses: tuple[str, ...] = ()
    storage: tuple[str, ...] = ()
    sql: tuple[str, ...] = ()
    keyvault: tuple[str, ...] = ()
    monitor: tuple[str, ...] = ()
    azure_dns: tuple[str, ...] = (AZURE_DNS,)
    forbidden_hops: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    health_check: bool = True
    verify_tls: bool = True
    ca_file: str | None = None  # CA bundle that signs the gateway's certificate (private CA)
    # --- reports (probe.apim_reports): `locations` is a key; `reports` is no key,
    # probe.targets.expand fills it with the imported networkstatus checks.
    locations: tuple[str, ...] = ()
    reports: tuple[ApimCheck, ...] = ()

    def host(self, label: str = "") -> str:
        """'<name>[.label].<domain>': the instance's hostnames."""
        middle = f".{label}" if label else ""
        return f"{self.name}{middle}.{self.domain}"

    @property
    def health_url(self) -> str:
        return f"https://{self.host()}{HEALTH_PATH}"


def _instance_name(value: Any) -> str | None:
    # An APIM service name: letters, digits, hyphens; starts with a letter.
    ok = (value[:1].isalpha() and value.isascii() and len(value) <= 50
          and all(c.isalnum() or c == "-" for c in value))
    return None if ok else "expected an API Management instance name (letters, digits, '-')"


def _domain(value: Any) -> str | None:

    return None if is_hostname(value) and "." in value else "expected a DNS domain"


def _string_list(reader: _Reader, table: Mapping[str, Any], key: str,
                 check: Callable[[str], bool], expected: str,
                 default: tuple[str, ...] = ()) -> tuple[str, ...]:
    value = reader.get(table, "apim", key, (list, str), list(default))
    items = [value] if isinstance(value, str) else value
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not check(item):
            raise reader.fail(f"apim.{key}", f"expected {expected}, got {item!r}"
                                             + (f" (item {i})" if len(items) > 1 else ""))
        out.append(item)
    return tuple(dict.fromkeys(out))


def _is_host(text: str) -> bool:

    return is_hostname(text) or is_ip(text)


def _is_path(text: str) -> bool:
    return bool(text.strip())


def parse_apim(reader: _Reader, table: Mapping[str, Any]) -> ApimConfig:
    """Validate the ``[apim]`` table; every problem names the key and line."""
    reader.check_keys(table, "apim", APIM_KEYS)
    for required in ("name", "mode"):
        if required not in table:
            # _Reader.locate finds keys, not table headers: point at "[apim]" ourselves.
            header = next((n for n, line in enumerate(reader.lines, start=1)
                           if line.strip().replace(" ", "") == "[apim]"), None)
            raise ConfigError(f"missing required key {required!r} in [apim]",
                              source=reader.source, key="apim", line=header)

    def mode_check(value: Any) -> str | None:
        return None if value in MODES else "expected one of: " + ", ".join(MODES)

    return ApimConfig(
        name=reader.get(table, "apim", "name", str, "", _instance_name),
        mode=reader.get(table, "apim", "mode", str, "", mode_check),
        region=reader.get(table, "apim", "region", str, ""),
        self_hosted_gateway=reader.get(table, "apim", "self_hosted_gateway", bool, False),
        domain=reader.get(table, "apim", "domain", str, DEFAULT_DOMAIN, _domain).rstrip("."),
        instance_addresses=tuple(str(ipaddress.ip_address(a)) for a in _string_list(
            reader, table, "instance_address", is_ip, "an IP address")),
        storage=_string_list(reader, table, "storage", _is_host, "a hostname"),
        sql=_string_list(reader, table, "sql", _is_host, "a hostname"),
        keyvault=_string_list(reader, table, "keyvault", _is_host, "a hostname"),
        monitor=_string_list(reader, table, "monitor", _is_host, "a hostname"),
        azure_dns=_string_list(reader, table, "azure_dns", is_ip,
                               "an IP address (a resolver taken as Azure DNS)", (AZURE_DNS,)),
        forbidden_hops=_string_list(reader, table, "forbidden_hops", is_prefix,
                                    "an IP address or CIDR prefix"),
        imports=_string_list(reader, table, "import", _is_path, "a file path"),
        health_check=reader.get(table, "apim", "health_check", bool, True),
        verify_tls=reader.get(table, "apim", "verify_tls", bool, True),
        ca_file=_ca_file(reader, table),
        locations=_string_list(reader, table, "locations", _is_path, "an Azure location name"),
    )


def _ca_file(reader: _Reader, table: Mapping[str, Any]) -> str | None:
    """A readable PEM file, relative to the config file like the imports."""
    value = reader.get(table, "apim", "ca_file", str, "")
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute() and reader.source and not reader.source.startswith("<"):
        path = Path(reader.source).parent / path
    try:
        path.read_bytes()
    except OSError as exc:
        raise reader.fail("apim.ca_file", f"expected a readable PEM file, got {value!r} "
                                          f"({exc.strerror or exc})") from None
    return str(path)
