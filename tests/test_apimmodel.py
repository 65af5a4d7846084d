"""The APIM model (probe/apimmodel/) and its readers: the agent's targets,
lint's NSG requirements, the [apim] keys. Pure: no sockets.

The one property that matters most: for every dependency record and every
mode, the agent and lint say the same thing (a required dependency is a
required target and a critical lint finding; an optional one a warning in
both; one the mode does not need is neither probed nor linted)."""

from __future__ import annotations

import re

import pytest

from probe.apimmodel import (
    CLASSIC,
    DEPENDENCIES,
    MODES,
    PROFILES,
    Mode,
    Need,
    for_sku,
    group_of,
    outbound_need,
    ports_of,
    profile,
)
from probe.config import parse
from probe.errors import ConfigError, error_lines
from probe.lint.nsg import requirements
from probe.results import Severity
from probe.targets import LISTED, apim_targets

HOSTS = {"storage": "st.blob.core.windows.net", "sql": "db.database.windows.net",
         "keyvault": "kv.vault.azure.net", "monitor": "gcs.prod.monitoring.core.windows.net"}


def _apim(mode: Mode, **extra: str) -> str:
    lines = ['name = "contoso"', f'mode = "{mode.value}"',
             *(f'{k} = "{v}"' for k, v in extra.items())]
    for group, host in HOSTS.items():
        if outbound_need(group, mode) is not Need.NOT_NEEDED:
            lines.append(f'{group} = ["{host}"]')
    return "[dns]\nresolvers = ['198.18.2.54']\n[apim]\n" + "\n".join(lines) + "\n"


def _targets(mode: Mode, **extra: str) -> dict[tuple[str, int], bool]:
    config = parse(_apim(mode, **extra))
    assert config.apim is not None
    return {(t.host, t.port): t.required for t in apim_targets(config.apim)}


def test_every_mode_has_a_profile_and_every_record_a_dated_source() -> None:
    assert set(PROFILES) == set(Mode) and tuple(m.value for m in Mode) == MODES
    for dep in DEPENDENCIES:
        assert set(dep.needs) == set(Mode), dep
        assert dep.source.title and re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", dep.source.date), dep
    for p in PROFILES.values():
        assert p.sources and all(re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", s.date) for s in p.sources)


@pytest.mark.parametrize("mode", list(Mode))
def test_agent_and_lint_agree_on_every_record(mode: Mode) -> None:
    targets = _targets(mode)
    linted = {(r.direction, r.source if r.direction == "inbound" else r.destination, r.port):
              r.severity for r in requirements(mode)}
    for dep in DEPENDENCIES:
        need = dep.need(mode)
        for port in dep.ports:
            key = (dep.direction, dep.peer, port)
            if dep.lint:
                assert linted.get(key) is need.severity, (dep, port, need)
            if dep.direction == "outbound" and dep.group in LISTED:
                probed = targets.get((HOSTS[dep.group], port))
                if need is Need.NOT_NEEDED:
                    assert probed is None, (dep, port)
                else:
                    # the agent's required target is lint's critical, its optional a warning
                    assert probed is (need.severity is Severity.CRITICAL), (dep, port, need)


@pytest.mark.parametrize("mode", list(Mode))
def test_the_management_endpoint_is_probed_and_linted_where_it_exists(mode: Mode) -> None:
    targets = _targets(mode)
    management = ("contoso.management.azure-api.net", 3443) in targets
    assert management is profile(mode).management_endpoint is (mode in CLASSIC)
    linted = {(r.direction, r.port) for r in requirements(mode)}
    assert (("inbound", 3443) in linted) is management
    assert (("inbound", 6390) in linted) is (mode in CLASSIC)


@pytest.mark.parametrize("mode", [m for m in Mode if m not in CLASSIC])
def test_v2_and_gateways_expect_nothing_of_the_classic_platform(mode: Mode) -> None:
    ports = {port for _, port in _targets(mode)}
    lint_ports = {r.port for r in requirements(mode)}
    for port in (3443, 6390, 1433, 1886):
        assert port not in ports and port not in lint_ports, (mode, port)
    assert profile(mode).not_expected


def test_premium_v2_injection_needs_storage_and_keyvault_names() -> None:
    targets = _targets(Mode.V2_INJECTION)
    assert targets[HOSTS["storage"], 443] is True
    assert targets[HOSTS["keyvault"], 443] is False  # only if certificates live there
    assert targets["contoso.azure-api.net", 443] is True  # the private gateway
    assert profile(Mode.V2_INJECTION).dns_must_resolve == ("*.vault.azure.net",)
    subnet = profile(Mode.V2_INJECTION).subnet
    assert subnet is not None and subnet.delegation == "Microsoft.Web/hostingEnvironments"
    assert subnet.single_prefix and subnet.min_prefix == 27


def test_workspace_gateway_injection_is_reached_on_80_and_443() -> None:
    host = "gw1-0a1b2c.gateway.westeurope-01.azure-api.net"
    targets = _targets(Mode.WORKSPACE_GATEWAY_INJECTION, gateway_hostname=host)
    assert targets[host, 443] is True and targets[host, 80] is True
    assert targets[HOSTS["storage"], 443] is True and targets[HOSTS["keyvault"], 443] is True
    linted = {(r.direction, r.source, r.port): r.severity
              for r in requirements(Mode.WORKSPACE_GATEWAY_INJECTION)}
    assert linted["inbound", "AzureLoadBalancer", 80] is Severity.CRITICAL
    assert group_of(host, 443) == "gateway"


def test_v2_integration_keeps_the_gateway_public_and_optional() -> None:
    targets = _targets(Mode.V2_INTEGRATION)
    # the public gateway and Storage are optional: a forced tunnel may send Storage
    # through the VNet, nothing of the platform needs the subnet
    assert targets == {("contoso.azure-api.net", 443): False, (HOSTS["storage"], 443): False}
    subnet = profile(Mode.V2_INTEGRATION).subnet
    assert subnet is not None and subnet.delegation == "Microsoft.Web/serverFarms"


def test_self_hosted_gateway_polls_the_configuration_endpoint() -> None:
    assert _targets(Mode.SELF_HOSTED_GATEWAY) == {
        ("contoso.configuration.azure-api.net", 443): True}


@pytest.mark.parametrize(("mode", "sku", "means"), [
    (Mode.EXTERNAL, "StandardV2", Mode.V2_INTEGRATION),
    (Mode.EXTERNAL, "PremiumV2", Mode.V2_INTEGRATION),
    (Mode.INTERNAL, "PremiumV2", Mode.V2_INJECTION),
    (Mode.INTERNAL, "Premium", Mode.INTERNAL),
    (Mode.EXTERNAL, "Developer", Mode.EXTERNAL),
    (Mode.V2_INTEGRATION, "StandardV2", Mode.V2_INTEGRATION),
])
def test_the_sku_picks_the_profile_an_arm_mode_leaves_open(mode: Mode, sku: str,
                                                           means: Mode) -> None:
    assert for_sku(mode, sku) is means
    config = parse(f"[dns]\nresolvers = ['198.18.2.54']\n[apim]\nname = 'c'\n"
                   f"mode = '{mode.value}'\nsku = '{sku}'\n")
    assert config.apim is not None and config.apim.mode is means


@pytest.mark.parametrize(("mode", "sku"), [
    ("internal", "StandardV2"), ("v2-injection", "Developer"), ("external", "Basic"),
    ("v2-integration", "Premium"),
])
def test_a_sku_the_mode_cannot_run_on_names_both(mode: str, sku: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(f"[dns]\nresolvers = ['198.18.2.54']\n[apim]\nname = 'c'\nmode = '{mode}'\n"
              f"sku = '{sku}'\n", source="p.toml")
    message = str(info.value)
    assert message.startswith("p.toml:6: apim.sku: mode ") and f"apim.sku = {sku!r}" in message
    assert f"apim.mode = {mode!r}" in message


@pytest.mark.parametrize(("mode", "group"), [
    ("v2-integration", "sql"), ("v2-injection", "monitor"), ("v2-integration", "keyvault"),
    ("self-hosted-gateway", "keyvault"),
])
def test_listing_a_dependency_the_mode_does_not_use_is_an_error(mode: str, group: str) -> None:
    with pytest.raises(ConfigError, match=f"apim.{group}: mode {mode} does not use {group}"):
        parse(f"[dns]\nresolvers = ['198.18.2.54']\n[apim]\nname = 'c'\nmode = '{mode}'\n"
              f"{group} = ['{HOSTS[group]}']\n")


@pytest.mark.parametrize(("host", "port", "group"), [
    ("contoso.management.azure-api.net", 3443, "management"),
    ("contoso.azure-api.net", 443, "gateway"),
    ("contoso-westeurope-01.regional.azure-api.net", 443, "gateway"),
    ("gw1-0a1b2c.gateway.westeurope-01.azure-api.net", 443, "gateway"),
    ("gateway.contoso.com", 443, "other"),  # a backend called gateway is a backend
    ("st.blob.core.windows.net", 443, "storage"),
    ("db.database.windows.net", 1433, "sql"), ("10.0.0.9", 1433, "sql"),
    ("kv.vault.azure.net", 443, "keyvault"), ("login.microsoftonline.com", 443, "entra"),
    ("orders.internal", 8080, "other"),
])
def test_a_hostname_names_its_dependency(host: str, port: int, group: str) -> None:
    assert group_of(host, port) == group


def test_documented_ports_come_from_the_records() -> None:
    assert ports_of("monitor") == (1886, 443) and ports_of("sql") == (1433,)
    assert ports_of("sql", Mode.V2_INJECTION) == ()
    assert outbound_need("monitor", Mode.INTERNAL) is Need.REQUIRED
    assert outbound_need("entra", Mode.INTERNAL) is Need.OPTIONAL


def test_every_unneeded_dependency_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse("[dns]\nresolvers = ['198.18.2.54']\n[apim]\nname = 'c'\n"
              f"mode = 'v2-integration'\nsql = ['{HOSTS['sql']}']\n"
              f"monitor = ['{HOSTS['monitor']}']\n", source="p.toml")
    assert error_lines(info.value) == [
        f"p.toml:{line}: apim.{group}: mode v2-integration does not use {group} (the APIM "
        "model: not needed by this mode); remove the key, or probe the host as a [[target]]"
        for line, group in ((6, "sql"), (7, "monitor"))]
