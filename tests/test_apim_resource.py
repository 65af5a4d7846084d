"""The APIM resource as an [apim] import (probe/apim_resource.py): Microsoft's
REST examples (tests/data/azure/rest-examples, PROVENANCE-apim.md), the flat
`az apim show` shape and PowerShell's PsApiManagement made from them, and the
config they feed. Pure: nothing is resolved or probed."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from probe.apim_reports import RESOURCE, kind_of, targets_from
from probe.apim_resource import from_resource
from probe.apimmodel import Mode
from probe.config import load
from probe.diagnosis import context_from, diagnose
from probe.errors import ConfigError
from probe.results import RoundResult, Severity
from probe.targets import expand

EXAMPLES = Path(__file__).parent / "data" / "azure" / "rest-examples"
SERVICE = "ApiManagementServiceGetMultiRegionInternalVnet.2024-05-01.json"
GATEWAY = "ApiManagementCreateStandardGateway.2024-05-01.json"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def flat(rest: dict[str, Any]) -> dict[str, Any]:
    """`az apim show`: the REST resource with ``properties`` lifted to the top."""
    out = {k: v for k, v in rest.items() if k != "properties"}
    out.update(rest["properties"])
    return out


def powershell(rest: dict[str, Any], platform: str = "stv2") -> dict[str, Any]:
    """`Get-AzApiManagement | ConvertTo-Json`: PsApiManagement's PascalCase names."""
    p = rest["properties"]
    return {"Id": rest["id"], "Name": rest["name"], "Location": rest["location"],
            "Sku": rest["sku"]["name"], "Capacity": 1, "VpnType": p["virtualNetworkType"],
            "PlatformVersion": platform, "RuntimeUrl": p["gatewayUrl"],
            "ManagementApiUrl": p["managementApiUrl"],
            "DeveloperPortalUrl": p["developerPortalUrl"],
            "PrivateIPAddresses": ["10.0.1.5"], "PublicIPAddresses": ["20.60.1.1"],
            "VirtualNetwork": {"SubnetResourceId": p["virtualNetworkConfiguration"][
                "subnetResourceId"], "Location": rest["location"]},
            "AdditionalRegions": [{"Location": "West US 2", "Sku": "Premium"}]}


@pytest.mark.parametrize("shape", ["rest", "az", "powershell"])
def test_the_instance_resource_in_every_shape(shape: str) -> None:
    rest = sample(SERVICE)
    doc = {"rest": rest, "az": flat(rest), "powershell": powershell(rest)}[shape]
    assert kind_of(doc) == RESOURCE
    r = from_resource(doc)
    assert (r.name, r.sku, r.network, r.mode) == ("apimservice1", "Premium", "Internal",
                                                  Mode.INTERNAL)
    assert r.location == "West US" and r.additional_locations == ("West US 2",)
    assert r.subnet is not None and r.subnet.endswith("/subnets/apim-subnet")
    hosts = {(t.dependency, t.host, t.port) for t in r.targets}
    assert ("gateway", "apimservice1.azure-api.net", 443) in hosts
    assert ("management", "apimservice1.management.azure-api.net", 443) in hosts
    if shape != "powershell":
        # the custom domain is a target of its own
        assert ("gateway", "apimgatewaytest.preview.net", 443) in hosts


def test_masked_example_addresses_are_left_out_and_said() -> None:
    r = from_resource(sample(SERVICE))
    assert r.private_addresses == () and r.public_addresses == ()
    assert any("172.XX.0.5" in n and "not an IP address" in n for n in r.notes)


def test_a_standard_v2_resource_says_external_and_is_v2_integration() -> None:
    doc = flat(sample(SERVICE))
    doc["sku"] = {"name": "StandardV2", "capacity": 1}
    doc["virtualNetworkType"] = "External"
    assert from_resource(doc).mode is Mode.V2_INTEGRATION
    doc["sku"]["name"] = "PremiumV2"
    doc["virtualNetworkType"] = "Internal"
    assert from_resource(doc).mode is Mode.V2_INJECTION
    doc["virtualNetworkType"] = "None"
    assert from_resource(doc).mode is None


def test_a_workspace_gateway_resource() -> None:
    r = from_resource(sample(GATEWAY))
    assert (r.kind.rsplit("/", 1)[1], r.name, r.sku) == ("gateways", "apimGateway1", "Standard")
    assert r.mode is Mode.WORKSPACE_GATEWAY_INTEGRATION  # a backend subnet, no injection
    assert [(t.host, t.port, t.required) for t in r.targets] == [
        ("apimgateway1.eastus.gateway.azure-api.net", 443, True)]
    injected = copy.deepcopy(sample(GATEWAY))
    injected["properties"]["virtualNetworkType"] = "Internal"
    assert from_resource(injected).mode is Mode.WORKSPACE_GATEWAY_INJECTION


@pytest.mark.parametrize("empty", [
    {"type": "Microsoft.ApiManagement/service"},                       # nothing else
    {"type": "Microsoft.ApiManagement/service", "properties": []},     # wrong types
])
def test_a_resource_holding_nothing_says_what_to_save(empty: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        targets_from(empty, "apim.json")
    message = str(info.value)
    assert message.startswith("apim.json: an API Management resource with none of sku")
    assert "az apim show -g RESOURCE_GROUP -n NAME" in message


@pytest.mark.parametrize("hostile", [
    {"type": "Microsoft.ApiManagement/service", "sku": "Premium", "properties": {
        "hostnameConfigurations": [None, 3, {"type": "Teleport", "hostName": "x.example"},
                                   {"type": "Proxy", "hostName": "not a host"}],
        "privateIPAddresses": "10.0.0.5", "virtualNetworkType": "Sideways"}},
])
def test_odd_resources_never_raise(hostile: dict[str, Any]) -> None:
    found = targets_from(hostile, "x.json")
    assert found.kind == RESOURCE and found.resource is not None
    assert all(t.host != "not a host" for t in found.targets)


def _config(tmp_path: Path, doc: dict[str, Any], mode: str) -> Path:
    (tmp_path / "apim.json").write_text(json.dumps(doc))
    path = tmp_path / "probe.toml"
    path.write_text(f"[dns]\nresolvers = ['198.18.2.54']\n[apim]\nname = 'apimservice1'\n"
                    f"mode = '{mode}'\nimport = 'apim.json'\n")
    return path


def test_a_mode_the_resource_contradicts_is_an_error_naming_both(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        expand(load(_config(tmp_path, sample(SERVICE), "external")))
    message = str(info.value)
    assert "apim.json" in message and "mode = 'external'" in message
    assert "virtualNetworkType Internal" in message and "mode = 'internal'" in message


def test_the_resource_gives_targets_addresses_and_the_platform(tmp_path: Path) -> None:
    doc = powershell(sample(SERVICE), platform="stv1")
    config = expand(load(_config(tmp_path, doc, "internal")))
    assert config.apim is not None and config.apim.platform == "stv1"
    # internal mode: APIM's names must resolve to the resource's private address
    assert config.apim.instance_addresses == ("10.0.1.5",)
    assert {t.host for t in config.targets} >= {"apimservice1.azure-api.net",
                                                "apimservice1.management.azure-api.net"}
    bare = RoundResult(datetime.now(UTC), 0.1, (), (), ())
    findings = diagnose(bare, context_from(config))
    retired = [f for f in findings if f.id == "apim-platform-retired"]
    assert [(f.severity, f.subject) for f in retired] == [(Severity.CRITICAL, "apimservice1")]
    assert "31 August 2024" in retired[0].remedy and "stv1" in retired[0].summary


def test_stv2_says_nothing(tmp_path: Path) -> None:
    config = expand(load(_config(tmp_path, powershell(sample(SERVICE)), "internal")))
    bare = RoundResult(datetime.now(UTC), 0.1, (), (), ())
    assert not [f for f in diagnose(bare, context_from(config))
                if f.id == "apim-platform-retired"]
