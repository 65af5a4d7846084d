"""Recognising what a file holds, on the REST specification's real examples, the
az and PowerShell shapes derived from them, and hand-made edge cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from probe.errors import ExportError
from probe.lint.exports import check, lint_any, read
from probe.lint.shapes import (
    EFFECTIVE_NSG,
    EFFECTIVE_ROUTES,
    NSG,
    NSG_RULES,
    ROUTE_LIST,
    ROUTE_TABLE,
    documents,
    one_kind,
)
from tests.helpers import azure_shapes
from tests.helpers.lint import AZURE

EXAMPLES = AZURE / "rest-examples"
DERIVED = AZURE / "derived"
HAND = AZURE / "hand"
CP = "52.224.186.99"  # East US control plane, as APIM-REFERENCE.md quotes it


def verdicts(path: Path, **kwargs: Any) -> list[tuple[str, str, str]]:
    """(kind, finding id, severity, subject without the file) for every document."""
    return sorted((c.kind, f"{f.id}:{f.severity.value}", f.subject)
                  for c in lint_any(read(path), str(path), "internal", **kwargs)
                  for f in c.findings)


# --------------------------------------------------------------------------
# the REST API specification's examples, as they are


def test_nsg_get_lacks_the_management_rule() -> None:
    assert verdicts(EXAMPLES / "NetworkSecurityGroupGet.json") == [
        (NSG, "nsg-rule-missing:critical",
         "nsg testnsg: inbound ApiManagement -> VirtualNetwork TCP 3443")]


def test_nsg_list_is_every_nsg_of_the_list() -> None:
    path = EXAMPLES / "NetworkSecurityGroupList.json"
    checked = lint_any(read(path), "l.json", "internal")
    assert [(c.source, c.label) for c in checked] == [("l.json value[0]", "nsg nsg1"),
                                                      ("l.json value[1]", "nsg nsg3")]
    assert {f.id for c in checked for f in c.findings} == {"nsg-rule-missing"}


def test_route_tables_send_a_backend_via_the_gateway_as_info() -> None:
    got = verdicts(EXAMPLES / "RouteTableGet.json", destinations=["10.0.3.7"])
    assert got == [(ROUTE_TABLE, "route-destination:info", "route table testrt: 10.0.3.7")]
    as_cp = verdicts(EXAMPLES / "RouteTableGet.json", control_plane=["10.0.3.7"])
    assert as_cp == [(ROUTE_TABLE, "route-destination-via-appliance:critical",
                      "route table testrt: 10.0.3.7")]
    assert verdicts(EXAMPLES / "RouteTableList.json") == []  # testrt2 has no routes: fine


def test_effective_routes_of_a_plain_nic() -> None:
    path = EXAMPLES / "NetworkInterfaceEffectiveRouteTableList.json"
    got = verdicts(path, destinations=["10.1.2.3", "172.20.2.9"], control_plane=[CP])
    stem = "effective routes NetworkInterfaceEffectiveRouteTableList"
    assert got == [
        (EFFECTIVE_ROUTES, "route-destination-none:critical", f"{stem}: 10.1.2.3"),
        (EFFECTIVE_ROUTES, "route-destination:info", f"{stem}: 172.20.2.9"),
        (EFFECTIVE_ROUTES, "route-destination:info", f"{stem}: {CP}"),
    ]


def test_effective_nsg_adds_the_defaults_the_sample_leaves_out() -> None:
    assert verdicts(EXAMPLES / "NetworkInterfaceEffectiveNSGList.json") == [
        (EFFECTIVE_NSG, "nsg-rule-missing:critical",
         "nsg test-nsg (subnet default, nic nic1): inbound ApiManagement -> VirtualNetwork "
         "TCP 3443")]


# --------------------------------------------------------------------------
# az and PowerShell shapes, derived by tests/helpers/azure_shapes.py


@pytest.mark.parametrize("name", azure_shapes.names())
def test_committed_derived_files_are_the_converters_output(name: str) -> None:
    assert (DERIVED / name).read_bytes() == azure_shapes.render(name), \
        "regenerate with: python -m tests.helpers.azure_shapes"


SAME_AS = {
    "az/nsg-show.json": ("NetworkSecurityGroupGet.json", NSG),
    "az/nsg-list.json": ("NetworkSecurityGroupList.json", NSG),
    "az/route-table-show.json": ("RouteTableGet.json", ROUTE_TABLE),
    "az/route-table-list.json": ("RouteTableList.json", ROUTE_TABLE),
    "az/nic-show-effective-route-table.json": ("NetworkInterfaceEffectiveRouteTableList.json",
                                               EFFECTIVE_ROUTES),
    "az/nic-list-effective-nsg.json": ("NetworkInterfaceEffectiveNSGList.json", EFFECTIVE_NSG),
    "powershell/Get-AzNetworkSecurityGroup.json": ("NetworkSecurityGroupGet.json", NSG),
    "powershell/Get-AzNetworkSecurityGroup-utf16.json": ("NetworkSecurityGroupGet.json", NSG),
    "powershell/Get-AzNetworkSecurityGroup-list.json": ("NetworkSecurityGroupList.json", NSG),
    "powershell/Get-AzRouteTable.json": ("RouteTableGet.json", ROUTE_TABLE),
    "powershell/Get-AzEffectiveRouteTable.json": (
        "NetworkInterfaceEffectiveRouteTableList.json", EFFECTIVE_ROUTES),
    "powershell/Get-AzEffectiveNetworkSecurityGroup.json": (
        "NetworkInterfaceEffectiveNSGList.json", EFFECTIVE_NSG),
}


def _strip_stem(rows: list[tuple[str, str, str]], stem: str) -> list[tuple[str, str, str]]:
    return [(k, f, s.replace(stem, "STEM")) for k, f, s in rows]


@pytest.mark.parametrize("name", sorted(SAME_AS))
def test_every_shape_of_a_sample_is_judged_like_the_rest_body(name: str) -> None:
    example, kind = SAME_AS[name]
    options: dict[str, Any] = {"destinations": ["10.1.2.3", "10.0.3.7"], "control_plane": [CP]}
    want = verdicts(EXAMPLES / example, **options)
    got = verdicts(DERIVED / name, **options)
    # effective routes are labelled with the file's name
    assert _strip_stem(got, Path(name).stem) == _strip_stem(want, Path(example).stem)
    assert {k for k, _, _ in got} <= {kind}


def test_a_rule_list_and_one_rule_are_judged_with_the_defaults_added() -> None:
    for name in ("az/nsg-rule-list.json", "az/nsg-rule-show.json"):
        got = verdicts(DERIVED / name)
        assert got == [
            (NSG_RULES, "nsg-default-rules-added:info", "nsg testnsg"),
            (NSG_RULES, "nsg-rule-missing:critical",
             "nsg testnsg: inbound ApiManagement -> VirtualNetwork TCP 3443")], name


# --------------------------------------------------------------------------
# recognising, and refusing, from the content alone

RULE = {"name": "r", "priority": 100, "direction": "Inbound", "access": "Allow",
        "protocol": "Tcp", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
        "destinationPortRange": "3443"}
ROUTE = {"name": "r", "addressPrefix": "0.0.0.0/0", "nextHopType": "Internet"}
EFFECTIVE = {"addressPrefix": ["0.0.0.0/0"], "nextHopType": "Internet", "source": "Default",
             "state": "Active"}


@pytest.mark.parametrize(("raw", "kinds"), [
    ({"securityRules": []}, [NSG]),
    ({"Name": "n", "SecurityRules": []}, [NSG]),
    ([{"securityRules": []}, {"routes": []}], [NSG, ROUTE_TABLE]),
    ({"value": [{"properties": {"routes": []}}, {"properties": {"routes": []}}]},
     [ROUTE_TABLE, ROUTE_TABLE]),
    (RULE, [NSG_RULES]),
    ([RULE, RULE], [NSG_RULES]),
    ({"value": [{"name": "r", "properties": {k: v for k, v in RULE.items() if k != "name"}}]},
     [NSG_RULES]),
    ([ROUTE], [ROUTE_LIST]),
    ({"value": [EFFECTIVE]}, [EFFECTIVE_ROUTES]),
    ([EFFECTIVE, EFFECTIVE], [EFFECTIVE_ROUTES]),
    ({"value": [{"effectiveSecurityRules": []}, {"effectiveSecurityRules": []}]},
     [EFFECTIVE_NSG, EFFECTIVE_NSG]),
])
def test_documents(raw: Any, kinds: list[str]) -> None:
    assert [d.kind for d in documents(raw, "f.json")] == kinds


@pytest.mark.parametrize(("raw", "key", "fragment"), [
    ({"value": []}, "value", "nothing to check: the list is empty"),
    ([], None, "nothing to check: the list is empty"),
    ({"value": [RULE, ROUTE]}, "value", "a list mixing route, rule"),
    ({"value": [{"securityRules": []}, {"name": "x"}]}, "value[1]",
     "got an object with keys name"),
    ({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt",
      "routes": None}, None, "az network route-table show --ids /subscriptions/s/"),
    ({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
            "networkSecurityGroups/n", "resourceGroup": "rg"}, None,
     "az network nsg show --ids /subscriptions/s/"),
    ("text", None, "got a JSON str"),
    ([{"location": "East US", "networkStatus": {}}], "[0]", "[apim] import instead"),
    ({"value": [{"category": "Azure SQL", "endpoints": []}]}, "value[0]", "[apim] import"),
    (3, None, "got a JSON int"),
])
def test_refused(raw: Any, key: str | None, fragment: str) -> None:
    with pytest.raises(ExportError) as info:
        documents(raw, "f.json")
    assert info.value.source == "f.json" and info.value.key == key
    assert fragment in info.value.message


def test_one_kind() -> None:
    assert one_kind({"id": "/x/routeTables/rt", "routes": None}) == "reference"
    assert one_kind({"type": "Microsoft.Network/routeTables"}) == ROUTE_TABLE
    assert one_kind({"name": "vnet"}) is None


@pytest.mark.parametrize(("name", "fragment"), [
    ("value-empty.json", "nothing to check"),
    ("subnet-route-table-reference.json", "az network route-table show --ids /subscriptions/"),
    ("powershell-depth-cut.json", "ConvertTo-Json -Depth 10"),
])
def test_hand_made_refusals(name: str, fragment: str) -> None:
    with pytest.raises(ExportError) as info:
        lint_any(read(HAND / name), str(HAND / name), "internal")
    assert info.value.source == str(HAND / name) and fragment in info.value.message


def test_hand_made_asg_nsg_is_reported_not_judged() -> None:
    got = verdicts(HAND / "nsg-asg-rules.json")
    assert {f for _, f, _ in got} == {"nsg-rule-not-judged:info"}
    assert ("nsg", "nsg-rule-not-judged:info",
            "nsg nsg-apim-asg: inbound ApiManagement -> VirtualNetwork TCP 3443") in got


def test_hand_made_rest_forced_tunnel() -> None:
    (doc,) = documents(read(HAND / "route-table-forced-tunnel-rest.json"), "t.json")
    checked = check(doc, "internal", ["10.100.1.1"], control_plane=[CP])
    got = {f.subject.split(": ", 1)[1]: (f.id, f.severity.value) for f in checked.findings}
    assert got == {"0.0.0.0/0": ("route-default-via-appliance", "critical"),
                   CP: ("route-destination-via-appliance", "critical"),
                   "10.100.1.1": ("route-destination", "info")}
