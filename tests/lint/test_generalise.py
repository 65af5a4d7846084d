"""Readers that generalise (issue 17): shapes Azure emits today, or will, that
the readers used to refuse. Real samples where public ones exist
(tests/data/azure/rest-examples, PROVENANCE-apim.md; hand/README.md for the
ECMP route table); the rest derived from the fixtures here. Pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from probe.apim_reports import targets_from
from probe.errors import ExportError
from probe.lint.exports import lint_any, lint_document
from probe.results import Severity
from tests.helpers.lint import by_subject, ids, load

AZURE = Path(__file__).resolve().parents[1] / "data" / "azure"


def test_an_ecmp_appliance_group_default_route_is_forced_tunnelling() -> None:
    checked = lint_document(load("hand/route-table-ecmp-forced.json"), "ecmp.json", "internal")
    assert ("route-default-via-appliance", Severity.CRITICAL) in ids(list(checked.findings))
    text = " ".join(e for f in checked.findings for e in f.evidence)
    assert "VirtualApplianceEcmp 10.0.0.4,10.0.0.5,10.0.0.6" in text


def test_a_next_hop_type_azure_adds_later_is_read_and_judged_as_not_internet() -> None:
    doc = load("hand/route-table-ecmp-forced.json")
    route = doc["properties"]["routes"][0]["properties"]
    route["nextHopType"] = "VirtualApplianceMesh"  # not a type Azure has, yet
    del route["nextHop"]
    checked = lint_document(doc, "future.json", "internal")
    assert ("route-default-via-appliance", Severity.CRITICAL) in ids(list(checked.findings))
    text = " ".join(e for f in checked.findings for e in f.evidence)
    assert "unknown next hop type, judged as not Internet" in text


def test_an_unknown_protocol_is_said_not_refused() -> None:
    doc = load("nsg-internal-ok.json")
    # the rule allowing 3443 names a protocol this lint does not know: it cannot tell
    # whether TCP 3443 is allowed, and says why (it was "expected Tcp, Udp...")
    doc["securityRules"][0]["protocol"] = "Quic"
    checked = lint_document(doc, "future.json", "internal")
    finding = by_subject(checked.findings)["inbound ApiManagement -> VirtualNetwork TCP 3443"]
    assert "unknown protocol 'quic'" in " ".join(finding.evidence)


def _with_defaults_listed(shape: str) -> Any:
    """`az network nsg rule list --include-default`: custom and default rules in one
    list, the defaults with their /defaultSecurityRules/ ids and 65000+ priorities."""
    nsg = load("rest-examples/NetworkSecurityGroupGet.json")
    rules = [*nsg["properties"]["securityRules"], *nsg["properties"]["defaultSecurityRules"]]
    if shape == "az":
        return [{"name": r["name"], "id": r["id"], **r["properties"]} for r in rules]
    return {"value": rules}


@pytest.mark.parametrize("shape", ["az", "rest"])
def test_default_rules_in_a_rule_list_are_azures_defaults(shape: str) -> None:
    (checked,) = lint_any(_with_defaults_listed(shape), "rules.json", "internal")
    assert checked.findings  # judged, not refused ("priority: expected 100 to 4096")
    assert not any("incomplete" in f.summary for f in checked.findings)


def test_default_names_at_default_priorities_without_ids() -> None:
    rules = [{k: v for k, v in r.items() if k != "id"}
             for r in _with_defaults_listed("az")]
    (checked,) = lint_any(rules, "rules.json", "internal")
    assert checked.findings


@pytest.mark.parametrize("key", ["NewNSG", "newNsg", "NewRouteTable"])
def test_create_output_envelopes_are_unwrapped(key: str) -> None:
    inner = load("nsg-broken.json") if "NSG" in key.upper() else load("route-table-forced.json")
    plain = lint_document(inner, "x.json", "internal")
    wrapped = lint_document({key: inner}, "x.json", "internal")
    assert ids(list(wrapped.findings)) == ids(list(plain.findings)) and wrapped.findings


@pytest.mark.parametrize(("doc", "says"), [
    ({"nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.0.4", "routeTableId":
      "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/routeTables/rt-apim"},
     "az network route-table show --ids /subscriptions/0/resourceGroups/rg/providers/"
     "Microsoft.Network/routeTables/rt-apim"),
    ({"nextHopType": "Internet", "nextHopIpAddress": None, "routeTableId": "System Route"},
     "az network nic show-effective-route-table"),
    ({"networkInterfaces": [{"id": "/x/nic1", "securityRuleAssociations": {}}]},
     "az network nic list-effective-nsg"),
    ({"access": "Deny", "ruleName": "securityRules/DenyAll"}, "az network nsg show"),
])
def test_network_watcher_results_say_what_to_save(doc: dict[str, Any], says: str) -> None:
    with pytest.raises(ExportError) as info:
        lint_any(doc, "watcher.json", "internal")
    assert "Network Watcher" in str(info.value) and says in str(info.value)


def test_a_route_table_reference_printed_with_null_fields_names_the_command() -> None:
    ident = ("/subscriptions/0/resourceGroups/rg-apim/providers/Microsoft.Network/"
             "routeTables/rt-apim")
    doc = {"id": ident, "disableBgpRoutePropagation": None, "etag": None, "location": None,
           "name": None, "routes": None, "subnets": None, "tags": None, "type": None}
    with pytest.raises(ExportError) as info:
        lint_any(doc, "subnet-rt.json", "internal")
    assert f"az network route-table show --ids {ident}" in str(info.value)


def test_networkstatus_before_resource_types_probes_sql_on_1433() -> None:
    doc = json.loads((AZURE / "rest-examples" /
                      "ApiManagementServiceGetNetworkStatus.2019-01-01.json").read_text())
    found = targets_from(doc, "ns.json", ["North Central US"])
    by_host = {t.host: (t.dependency, t.port) for t in found.targets}
    assert by_host["n20fxxxxxxxx.database.windows.net"] == ("sql", 1433)
    assert by_host["apimgmtst6mtxxxxxxxx.blob.core.windows.net"] == ("storage", 443)
    assert by_host["prod3.metrics.nsatc.net"] == ("monitor", 1886)  # the URL's own port
    checks = {c.name: c for c in found.checks}
    assert checks["n20fxxxxxxxx.database.windows.net"].dependency == "sql"


def test_a_firewall_next_hop_azure_never_had_is_still_the_forced_tunnel_story() -> None:
    # route-table-unknown-hop.json: 0.0.0.0/0 -> "Firewall" (was refused as malformed)
    checked = lint_document(load("route-table-unknown-hop.json"), "rt.json", "internal")
    assert ("route-default-via-appliance", Severity.CRITICAL) in ids(list(checked.findings))


@pytest.mark.parametrize(("sample", "says"), [
    ("NetworkWatcherNextHopGet.json", "az network route-table show --ids "),
    ("NetworkWatcherIpFlowVerify.json", "az network nsg show"),
    ("NetworkWatcherSecurityGroupViewGet.json", "az network nic list-effective-nsg"),
])
def test_microsofts_network_watcher_examples_say_what_to_save(sample: str, says: str) -> None:
    # the REST examples themselves (rest-examples/README.md), not shapes made from them
    with pytest.raises(ExportError) as info:
        lint_any(load(f"rest-examples/{sample}"), sample, "internal")
    assert "Network Watcher" in str(info.value) and says in str(info.value)
