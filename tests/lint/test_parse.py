"""Reading exports into the models: ports, and every malformed shape named by its path."""

from __future__ import annotations

from typing import Any

import pytest

from probe.errors import ErrorSite, ExportError
from probe.lint.exports import lint_any
from probe.lint.parse import parse_ports


@pytest.mark.parametrize(("values", "expected"), [
    (["*"], ((0, 65535),)),
    (["443"], ((443, 443),)),
    ([443], ((443, 443),)),
    (["6381-6383"], ((6381, 6383),)),
    (["80", "443", "1886-1890"], ((80, 80), (443, 443), (1886, 1890))),
    ([" 3443 "], ((3443, 3443),)),
])
def test_parse_ports(values: list[Any], expected: tuple[tuple[int, int], ...]) -> None:
    assert parse_ports(ErrorSite("f.json", ExportError), "r", values) == expected


@pytest.mark.parametrize("value", ["https", "443-80", "70000", "1-", "-5", True, None, 4.5,
                                   "80,443"])
def test_parse_ports_rejects(value: Any) -> None:
    with pytest.raises(ExportError) as info:
        parse_ports(ErrorSite("f.json", ExportError), "securityRules[0].destinationPortRange",
                    [value])
    assert str(info.value).startswith("f.json: securityRules[0].destinationPortRange: expected")


@pytest.mark.parametrize(("doc", "where", "what"), [
    ({"securityRules": {}}, "securityRules", "expected a list of rules"),
    ({"securityRules": [3]}, "securityRules[0]", "expected a security rule object"),
    ({"securityRules": [{"name": "x"}]}, "securityRules[0].priority", "missing"),
    ({"securityRules": [{"name": "x", "priority": "100"}]}, "securityRules[0].priority",
     "expected an integer"),
    ({"securityRules": [{"name": "x", "priority": 50}]}, "securityRules[0].priority",
     "expected 100 to 4096"),
    ({"securityRules": [{"name": "x", "priority": 100, "direction": "Both"}]},
     "securityRules[0].direction", "Inbound or Outbound"),
    ({"securityRules": [{"name": "x", "priority": 100, "direction": "Inbound",
                         "access": "Maybe"}]}, "securityRules[0].access", "Allow or Deny"),
    ({"securityRules": [{"name": "x", "priority": 100, "direction": "Inbound",
                         "access": "Allow", "protocol": "Tcp"}]},
     "securityRules[0].destinationPortRange", "destinationPortRanges"),
    ({"securityRules": [{"name": "x", "priority": 100, "direction": "Inbound",
                         "access": "Allow", "protocol": "Tcp", "destinationPortRange": "1",
                         "sourceAddressPrefixes": "10.0.0.0/8"}]},
     "securityRules[0].sourceAddressPrefixes", "expected a list"),
    ({"securityRules": [{"name": "x", "priority": 100, "direction": "Inbound",
                         "access": "Allow", "protocol": "Tcp", "destinationPortRange": "1",
                         "sourceAddressPrefixes": [1]}]},
     "securityRules[0].sourceAddressPrefix", "prefixes or service tags"),
    ({"defaultSecurityRules": [{"name": "x", "priority": 100}]},
     "defaultSecurityRules[0].priority", "expected 65000 to 65500"),
    ({"routes": {}}, "routes", "expected a list of routes"),
    ({"routes": ["x"]}, "routes[0]", "expected a route object"),
    ({"routes": [{"name": "a", "addressPrefix": "10.0.0.0/33", "nextHopType": "Internet"}]},
     "routes[0].addressPrefix", "CIDR prefix or a service tag"),
    ({"routes": [{"name": "a", "addressPrefix": "0.0.0.0/0",
                  "nextHopType": "VirtualAppliance"}]},
     "routes[0].nextHopIpAddress", "needs the appliance's address"),
    ({"routes": [{"name": "a", "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance",
                  "nextHopIpAddress": "fw"}]}, "routes[0].nextHopIpAddress",
     "expected an IP address"),
    ({"value": [{"addressPrefix": ["0.0.0.0/0"], "nextHopType": "Internet",
                 "source": "Default", "state": "Unknown"}]}, "value[0].state",
     "Active or Invalid"),
    ({"value": [{"addressPrefix": ["Storage"], "nextHopType": "Internet", "source": "User",
                 "state": "Active"}]}, "value[0].addressPrefix[0]", "expected a CIDR prefix"),
    ({"value": [{"addressPrefix": ["0.0.0.0/0"], "nextHopType": "Internet",
                 "nextHopIpAddress": [4], "source": "User", "state": "Active"}]},
     "value[0].nextHopIpAddress", "a list of addresses"),
    ({"value": [{"addressPrefix": ["0.0.0.0/0"], "nextHopType": "Internet",
                 "state": "Active"}]}, "value[0].source", "missing"),
    ({"value": ["x"]}, "value[0]", "expected the JSON of 'az network nsg show'"),
])
def test_malformed_shapes(doc: Any, where: str, what: str) -> None:
    with pytest.raises(ExportError) as info:
        lint_any(doc, "saved.json", "internal")
    assert info.value.key == (where or None)
    assert what in info.value.message
    assert str(info.value).startswith("saved.json: ")


# --------------------------------------------------------------------------
# every tool's spelling of the same rule

RULE_AZ = {"name": "mgmt", "priority": 100, "direction": "Inbound", "access": "Allow",
           "protocol": "Tcp", "sourceAddressPrefix": "ApiManagement",
           "destinationAddressPrefix": "VirtualNetwork", "destinationPortRange": "3443"}


def _one_rule(doc: Any) -> Any:
    (checked,) = lint_any(doc, "f.json", "internal")
    return checked


def test_the_same_rule_in_az_rest_and_powershell_spelling_is_judged_the_same() -> None:
    rest = {"name": "mgmt", "properties": {k: v for k, v in RULE_AZ.items() if k != "name"}}
    powershell = {k[:1].upper() + k[1:]: v for k, v in RULE_AZ.items()}
    for key in ("SourceAddressPrefix", "DestinationAddressPrefix", "DestinationPortRange"):
        powershell[key] = [powershell[key]]  # PSSecurityRule keeps lists
    results = [_one_rule({"securityRules": [rule]}) for rule in (RULE_AZ, powershell)]
    results.append(_one_rule({"properties": {"securityRules": [rest]}}))
    assert len({tuple((f.id, f.subject) for f in c.findings) for c in results}) == 1
    assert not any("3443" in f.subject for f in results[0].findings)


def test_a_rest_list_error_names_the_full_json_path() -> None:
    bad = {"name": "r", "properties": {**{k: v for k, v in RULE_AZ.items() if k != "name"},
                                       "destinationPortRange": "https"}}
    doc = {"value": [{"name": "nsg", "properties": {"securityRules": [RULE_AZ, RULE_AZ,
                                                                      RULE_AZ, bad]}}]}
    with pytest.raises(ExportError) as info:
        lint_any(doc, "nsgs.json", "internal")
    assert info.value.key == "value[0].properties.securityRules[3].properties.destinationPortRange"
    assert str(info.value).startswith("nsgs.json: value[0].properties.securityRules[3]")


def test_effective_rules_name_their_origin_and_say_all() -> None:
    doc = {"value": [{"effectiveSecurityRules": [
        {**RULE_AZ, "name": "securityRules/mgmt", "protocol": "All",
         "destinationPortRange": "3443-3443"},
        {**RULE_AZ, "name": "defaultSecurityRules/DenyAllInBound", "priority": 65500,
         "access": "Deny", "sourceAddressPrefix": "0.0.0.0/0",
         "destinationAddressPrefix": "0.0.0.0/0", "destinationPortRange": "0-65535"}]}]}
    (checked,) = lint_any(doc, "eff.json", "internal")
    assert checked.kind == "effective-nsg"
    assert not any("3443" in f.subject for f in checked.findings)


@pytest.mark.parametrize(("rule", "key", "what"), [
    ({**RULE_AZ, "protocol": 6}, "securityRules[0].protocol", "expected a string"),
    ({**RULE_AZ, "destinationApplicationSecurityGroups": {"id": "x"}},
     "securityRules[0].destinationApplicationSecurityGroups", "application security groups"),
])
def test_bad_rule_fields(rule: dict[str, Any], key: str, what: str) -> None:
    with pytest.raises(ExportError) as info:
        lint_any({"securityRules": [rule]}, "f.json", "internal")
    assert info.value.key == key and what in info.value.message
