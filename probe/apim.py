"""The ``[apim]`` config section: one API Management instance, described once.

    [apim]
    name = "contoso"          # required: <name>.azure-api.net
    mode = "internal"         # required: a profile of probe.apimmodel
    storage = ["contosost.blob.core.windows.net"]

Every key, its default and what it accepts is declared once, on
``ApimConfig``'s fields (README's table is generated from them). From the
section ``probe.targets`` generates the instance's endpoints and dependency
targets, and ``probe.diagnosis.context_from`` the diagnosis context (mode,
instance address, reference resolvers, forbidden hops).

This module belongs to the config layer: it parses and validates, it
generates nothing. What a mode means lives in ``probe.apimmodel``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe.addresses import is_hostname, is_ip, is_prefix
from probe.apimmodel import MODES, Mode, Need, for_sku, outbound_need, sku_conflict
from probe.errors import InputError, several
from probe.files import CONFIG_LIMIT, read_regular_file
from probe.results import ApimCheck
from probe.schema import Between, OneOf, key, read_section
from probe.tomldoc import TomlDoc, show

DEFAULT_DOMAIN = "azure-api.net"
AZURE_DNS = "168.63.129.16"
HEALTH_PATH = "/status-0123456789abcdef"
# Entries read from every [apim] import together (networkstatus checks,
# outbound domain-and-port pairs): a real instance has tens per location.
IMPORT_LIMIT = 5000
IMPORT_LIMIT_MAX = 100_000


def _instance_name(value: Any) -> str | None:
    # An APIM service name: letters, digits, hyphens; starts with a letter.
    ok = (value[:1].isalpha() and value.isascii() and len(value) <= 50
          and all(c.isalnum() or c == "-" for c in value))
    return None if ok else "expected an API Management instance name (letters, digits, '-')"


def _domain(value: Any) -> str | None:
    return None if is_hostname(value) and "." in value else "expected a DNS domain"


def _is_host(text: str) -> bool:
    return is_hostname(text) or is_ip(text)


def _is_path(text: str) -> bool:
    return bool(text.strip())


def _canonical_ip(text: str) -> str:
    return str(ipaddress.ip_address(text))


def strings_key(check: Callable[[str], bool], expected: str,
             canonical: Callable[[str], str] = str) -> Callable[..., tuple[str, ...] | None]:
    """A reader for a string or a list of strings, each passing ``check``; duplicates collapse."""
    def read(doc: TomlDoc, table: Mapping[str, Any], where: str,
             name: str) -> tuple[str, ...] | None:
        if name not in table:
            return None
        value: list[Any] | str = doc.get(table, where, name, (list, str), [])
        items = [value] if isinstance(value, str) else value
        out: list[str] = []
        for i, item in enumerate(items):
            if not isinstance(item, str) or not check(item):
                raise doc.fail(f"{where}.{name}", f"expected {expected}, got {show(item)}"
                                                  + (f" (item {i})" if len(items) > 1 else ""))
            doc.check_text(f"{where}.{name}", item)
            out.append(canonical(item))
        return tuple(dict.fromkeys(out))
    return read


def pem_file(doc: TomlDoc, table: Mapping[str, Any], where: str, name: str) -> str | None:
    """A readable PEM file, relative to the config file like the imports."""
    value = doc.get(table, where, name, str, "")
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute() and doc.source and not doc.source.startswith("<"):
        path = Path(doc.source).parent / path
    try:
        read_regular_file(path, CONFIG_LIMIT)
    except InputError as exc:
        raise doc.fail(f"{where}.{name}", f"expected a readable PEM file, got {show(value)} "
                                          f"({exc.message.removeprefix('cannot read: ')})"
                       ) from None
    return str(path)


_HOSTS = "hostnames (or one)"


def _sku(value: Any) -> str | None:
    ok = value.isascii() and value.isalnum() and len(value) <= 32
    return None if ok else "expected an sku name (Developer, Premium, StandardV2, PremiumV2)"


def _hostname(value: Any) -> str | None:
    return None if is_hostname(value) and "." in value else "expected a hostname"


@dataclass(frozen=True, slots=True)
class ApimConfig:
    name: str = key(help="the instance: `<name>.azure-api.net`", check=_instance_name,
                    expected="an instance name (letters, digits, '-')")
    mode: Mode = key(help="the VNet mode: a profile of the APIM model (README, \"APIM modes\")",
                     check=OneOf(MODES), kind=str, convert=Mode)
    sku: str | None = key(None, str, "the instance's sku (`Developer`, `Premium`, `StandardV2`, "
                          "`PremiumV2`, as ARM names it): with `mode = \"external\"` a v2 sku "
                          "means v2-integration, with `internal` v2-injection; a sku the mode "
                          "cannot run on is an error", check=_sku, expected="an sku name")
    gateway_hostname: str | None = key(
        None, str, "the gateway's hostname when it is not `<name>.<domain>` (a workspace "
        "gateway: `<gw>-<hash>.gateway.<region>-NN.azure-api.net`)", check=_hostname,
        expected="a hostname")
    region: str = key("", str, "the location whose networkstatus is read (informational "
                      "otherwise)")
    self_hosted_gateway: bool = key(False, bool, "adds the configuration endpoint (443)")
    domain: str = key(DEFAULT_DOMAIN, str, "the instance's DNS suffix (the lab uses a test "
                      "domain)", check=_domain, expected="a DNS domain",
                      convert=lambda v: v.rstrip("."))
    instance_addresses: tuple[str, ...] = key(
        (), (list, str), "what APIM's names must resolve to (its private address in internal "
        "mode)", toml="instance_address", expected="IP addresses (or one)",
        read=strings_key(is_ip, "an IP address", _canonical_ip))
    storage: tuple[str, ...] = key((), (list, str), "Storage accounts (443)", expected=_HOSTS,
                                   read=strings_key(_is_host, "a hostname"))
    sql: tuple[str, ...] = key((), (list, str), "Azure SQL servers (1433)", expected=_HOSTS,
                               read=strings_key(_is_host, "a hostname"))
    keyvault: tuple[str, ...] = key((), (list, str), "Key Vaults (443)", expected=_HOSTS,
                                    read=strings_key(_is_host, "a hostname"))
    monitor: tuple[str, ...] = key((), (list, str), "Azure Monitor endpoints (1886 and 443)",
                                   expected=_HOSTS, read=strings_key(_is_host, "a hostname"))
    azure_dns: tuple[str, ...] = key(
        (AZURE_DNS,), (list, str), "resolvers taken as Azure DNS (the reference for DNS "
        "findings)", expected="IP addresses (or one)",
        read=strings_key(is_ip, "an IP address (a resolver taken as Azure DNS)"))
    forbidden_hops: tuple[str, ...] = key(
        (), (list, str), "addresses or prefixes Azure traffic must not cross (a firewall, "
        "on-premises)", expected="IP addresses or CIDR prefixes",
        read=strings_key(is_prefix, "an IP address or CIDR prefix"))
    imports: tuple[str, ...] = key(
        (), (list, str), "saved `az rest` JSON (networkstatus, outbound dependencies), "
        "relative to the config file; never fetched", toml="import",
        expected="file paths (or one)", read=strings_key(_is_path, "a file path"))
    import_limit: int = key(
        IMPORT_LIMIT, int, "entries read from all `import` files together (networkstatus "
        "checks, outbound domain and port pairs); more is an error, not a truncation",
        check=Between(1, IMPORT_LIMIT_MAX, "entries"))
    health_check: bool = key(True, bool, "HTTPS GET of the gateway's status path, per "
                             "gateway address")
    verify_tls: bool = key(True, bool, "verify the gateway's certificate in that check")
    ca_file: str | None = key(None, str, "CA bundle (PEM) of the gateway's certificate, for a "
                              "private CA; relative to the config file",
                              expected="the path of a readable file", read=pem_file)
    locations: tuple[str, ...] = key(
        (), (list, str), "multi-region: the Azure locations whose networkstatus is read "
        "(default: `region`)", expected="location names (or one)",
        read=strings_key(_is_path, "an Azure location name"))
    # Not keys: probe.targets.expand fills them from the imports (probe.apim_reports):
    # the networkstatus checks, and the platform version an APIM resource states.
    reports: tuple[ApimCheck, ...] = ()
    platform: str | None = None
    trusted_services: str | None = None  # "enabled", "disabled" or None (not known)
    from_resource: bool = False  # an APIM resource was imported

    def host(self, label: str = "") -> str:
        """'<name>[.label].<domain>': the instance's hostnames (the gateway's
        own, ``gateway_hostname``, when there is one)."""
        if not label and self.gateway_hostname:
            return self.gateway_hostname
        middle = f".{label}" if label else ""
        return f"{self.name}{middle}.{self.domain}"

    @property
    def health_url(self) -> str:
        return f"https://{self.host()}{HEALTH_PATH}"


def parse_apim(doc: TomlDoc, table: Mapping[str, Any]) -> ApimConfig:
    """Validate the ``[apim]`` table; every problem names the key and line."""
    values = read_section(doc, table, "apim", ApimConfig, header=lambda: doc.header_line("apim"))
    sku = values.get("sku")
    if sku is not None:
        conflict = sku_conflict(for_sku(values["mode"], sku), sku)
        if conflict is not None:
            raise doc.fail("apim.sku", f"{conflict} (apim.mode = {values['mode'].value!r}, "
                                       f"apim.sku = {sku!r})")
        values["mode"] = for_sku(values["mode"], sku)
    unused = [doc.fail(f"apim.{group}", f"mode {values['mode'].value} does not use {group} "
                       "(the APIM model: not needed by this mode); remove the key, or probe "
                       "the host as a [[target]]")
              for group in ("storage", "sql", "keyvault", "monitor")
              if values.get(group) and outbound_need(group, values["mode"]) is Need.NOT_NEEDED]
    if unused:
        raise several(unused)
    # Readers of list keys say None when the key is absent: the field's default applies.
    return ApimConfig(**{k: v for k, v in values.items() if v is not None})
