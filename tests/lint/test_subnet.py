"""probe lint on subnets (probe/lint/subnet.py): the mode's subnet rules from the
APIM model, on the REST example SubnetGet.json (rest-examples/README.md) and the
az and PowerShell shapes of the same settings. Pure."""

from __future__ import annotations

from typing import Any

import pytest

from probe.apimmodel import Mode
from probe.lint.exports import lint_document
from probe.results import Severity
from tests.helpers.lint import load

SUBNET_ID = ("/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/"
             "vnet/subnets/apim")
NSG_ID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n"
RT_ID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt"


def az(prefix: str = "10.0.1.0/24", delegation: str | None = None, nsg: bool = True,
       plural: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": SUBNET_ID, "name": "apim",
                           "type": "Microsoft.Network/virtualNetworks/subnets",
                           "delegations": [{"name": "d", "serviceName": delegation}]
                           if delegation else []}
    doc.update({"addressPrefixes": [prefix]} if plural else {"addressPrefix": prefix})
    if nsg:
        doc["networkSecurityGroup"] = {"id": NSG_ID, "resourceGroup": "rg"}
    doc["routeTable"] = {"id": RT_ID, "resourceGroup": "rg"}
    return doc


def found(doc: Any, mode: Mode) -> dict[str, Severity]:
    checked = lint_document(doc, "subnet.json", mode.value)
    assert (checked.kind == "subnet" and checked.label == "subnet apim") or checked.label
    return {f.id: f.severity for f in checked.findings}


def test_the_rest_example_subnet_in_each_mode() -> None:
    doc = load("rest-examples/SubnetGet.json")  # a /16, no delegation, no NSG
    classic = found(doc, Mode.INTERNAL)
    assert classic == {"subnet-nsg-missing": Severity.WARNING}
    injected = found(doc, Mode.V2_INJECTION)
    assert injected["subnet-delegation"] is Severity.CRITICAL
    assert injected["subnet-nsg-missing"] is Severity.CRITICAL
    assert "subnet-address-prefix" not in injected  # addressPrefix, singular: right


@pytest.mark.parametrize(("mode", "delegation", "ok"), [
    (Mode.INTERNAL, None, True), (Mode.INTERNAL, "Microsoft.Web/serverFarms", False),
    (Mode.V2_INTEGRATION, "Microsoft.Web/serverFarms", True),
    (Mode.V2_INTEGRATION, "Microsoft.Web/hostingEnvironments", False),
    (Mode.V2_INJECTION, "Microsoft.Web/hostingEnvironments", True),
    (Mode.V2_INJECTION, None, False),
    (Mode.WORKSPACE_GATEWAY_INJECTION, "Microsoft.Web/hostingEnvironments", True),
    (Mode.WORKSPACE_GATEWAY_INTEGRATION, "Microsoft.Web/serverFarms", True),
])
def test_delegation_per_mode(mode: Mode, delegation: str | None, ok: bool) -> None:
    got = found(az(delegation=delegation), mode)
    assert ("subnet-delegation" not in got) is ok, got
    if not ok:
        assert got["subnet-delegation"] is Severity.CRITICAL


@pytest.mark.parametrize(("mode", "prefix", "severity"), [
    (Mode.V2_INJECTION, "10.0.1.0/28", Severity.CRITICAL),
    (Mode.V2_INJECTION, "10.0.1.0/27", Severity.INFO),
    (Mode.V2_INJECTION, "10.0.1.0/24", None),
    (Mode.INTERNAL, "10.0.1.0/29", Severity.INFO),
    (Mode.INTERNAL, "10.0.1.0/30", Severity.CRITICAL),
])
def test_size_per_mode(mode: Mode, prefix: str, severity: Severity | None) -> None:
    delegation = "Microsoft.Web/hostingEnvironments" if mode is Mode.V2_INJECTION else None
    assert found(az(prefix, delegation), mode).get("subnet-size") is severity


def test_premium_v2_injection_needs_the_singular_address_prefix() -> None:
    got = found(az(delegation="Microsoft.Web/hostingEnvironments", plural=True),
                Mode.V2_INJECTION)
    assert got["subnet-address-prefix"] is Severity.CRITICAL
    assert "subnet-address-prefix" not in found(az(plural=True), Mode.INTERNAL)


def test_the_attached_nsg_and_route_table_are_named_for_lint() -> None:
    checked = lint_document(az(), "subnet.json", "internal")
    (attached,) = [f for f in checked.findings if f.id == "subnet-attached"]
    assert f"az network nsg show --ids {NSG_ID}" in attached.evidence
    assert f"az network route-table show --ids {RT_ID}" in attached.evidence


def test_rest_and_powershell_shapes_read_alike() -> None:
    rest = {"id": SUBNET_ID, "name": "apim", "type": "Microsoft.Network/virtualNetworks/subnets",
            "properties": {"addressPrefix": "10.0.1.0/28", "delegations": [
                {"name": "d", "properties": {"serviceName": "Microsoft.Web/serverFarms"}}]}}
    powershell = {"Id": SUBNET_ID, "Name": "apim", "AddressPrefix": ["10.0.1.0/28"],
                  "Delegations": [{"Name": "d", "ServiceName": "Microsoft.Web/serverFarms"}],
                  "NetworkSecurityGroup": None}
    for doc in (rest, powershell):
        got = found(doc, Mode.V2_INTEGRATION)
        assert "subnet-delegation" not in got and got["subnet-size"] is Severity.CRITICAL
