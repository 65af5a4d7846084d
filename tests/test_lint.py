"""Offline lint of saved az exports: NSG rule order, service tags, ports, routes."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from probe.lint import (
    DEFAULT_RULES,
    EFFECTIVE_ROUTES,
    NSG,
    ROUTE_TABLE,
    LintInputError,
    Nsg,
    Route,
    SecurityRule,
    _Doc,
    covers,
    kind_of,
    lint_any,
    lint_document,
    lint_nsg,
    lint_routes,
    longest_match,
    parse_ports,
    requirements,
    run,
)
from probe.results import Finding, Severity

AZURE = Path(__file__).parent / "data" / "azure"
ALL = ((0, 65535),)


def load(name: str) -> Any:
    return json.loads((AZURE / name).read_text())


def by_subject(findings: tuple[Finding, ...] | list[Finding]) -> dict[str, Finding]:
    return {f.subject.split(": ", 1)[1]: f for f in findings}


def rule(name: str, priority: int, direction: str, access: str, src: str, dst: str,
         ports: tuple[tuple[int, int], ...] = ALL, protocol: str = "tcp") -> SecurityRule:
    return SecurityRule(name, priority, direction, access, protocol, (src,), (dst,), ports)


def nsg_findings(*rules: SecurityRule, mode: str = "internal") -> dict[str, Finding]:
    return by_subject(lint_nsg(Nsg("t", (*rules, *DEFAULT_RULES), False), mode, "t.json"))


GOOD_INTERNAL = (
    rule("mgmt", 100, "inbound", "allow", "ApiManagement", "VirtualNetwork", ((3443, 3443),)),
    rule("lb", 110, "inbound", "allow", "AzureLoadBalancer", "VirtualNetwork", ((6390, 6390),)),
)

# --------------------------------------------------------------------------
# the requirement table


def test_requirements_by_mode() -> None:
    internal = {r.describe() for r in requirements("internal")}
    external = {r.describe() for r in requirements("external")}
    assert "inbound ApiManagement -> VirtualNetwork TCP 3443" in internal
    assert "inbound AzureLoadBalancer -> VirtualNetwork TCP 6390" in internal
    assert "outbound VirtualNetwork -> Sql TCP 1433" in internal
    assert "outbound VirtualNetwork -> AzureMonitor TCP 1886" in internal
    assert external - internal == {"inbound Internet -> VirtualNetwork TCP 443",
                                   "inbound Internet -> VirtualNetwork TCP 80"}


# --------------------------------------------------------------------------
# tags and ports


@pytest.mark.parametrize(("prefix", "tag", "expected"), [
    ("*", "ApiManagement", True),
    ("Any", "Storage", True),
    ("0.0.0.0/0", "Sql", True),
    ("ApiManagement", "ApiManagement", True),
    ("apimanagement", "ApiManagement", True),
    ("ApiManagement.EastUS", "ApiManagement", True),
    ("Storage.EastUS", "Storage", True),
    ("Internet", "ApiManagement", True),
    ("Internet", "Storage", True),
    ("AzureCloud", "AzureKeyVault", True),
    ("AzureCloud.eastus", "Sql", True),
    ("AzureCloud", "Internet", False),
    ("Internet", "AzureLoadBalancer", False),
    ("Internet", "VirtualNetwork", False),
    ("Storage", "Sql", False),
    ("VirtualNetwork", "VirtualNetwork", True),
    ("10.0.1.0/24", "VirtualNetwork", True),
    ("10.0.1.5", "VirtualNetwork", True),
    ("20.40.1.0/24", "VirtualNetwork", False),
    ("20.40.1.0/24", "Storage", False),
    ("168.63.129.16", "AzureLoadBalancer", True),
    ("168.63.129.16/32", "AzureLoadBalancer", True),
    ("AzureLoadBalancer", "AzureLoadBalancer", True),
])
def test_covers(prefix: str, tag: str, expected: bool) -> None:
    assert covers(prefix, tag) is expected


@pytest.mark.parametrize(("values", "expected"), [
    (["*"], ((0, 65535),)),
    (["443"], ((443, 443),)),
    ([443], ((443, 443),)),
    (["6381-6383"], ((6381, 6383),)),
    (["80", "443", "1886-1890"], ((80, 80), (443, 443), (1886, 1890))),
    ([" 3443 "], ((3443, 3443),)),
])
def test_parse_ports(values: list[Any], expected: tuple[tuple[int, int], ...]) -> None:
    assert parse_ports(_Doc("f.json"), "r", values) == expected


@pytest.mark.parametrize("value", ["https", "443-80", "70000", "1-", "-5", True, None, 4.5,
                                   "80,443"])
def test_parse_ports_rejects(value: Any) -> None:
    with pytest.raises(LintInputError) as info:
        parse_ports(_Doc("f.json"), "securityRules[0].destinationPortRange", [value])
    assert str(info.value).startswith("f.json: securityRules[0].destinationPortRange: expected")


# --------------------------------------------------------------------------
# NSG evaluation on hand-built rule sets


def test_defaults_alone_miss_the_management_port_only() -> None:
    found = nsg_findings()
    assert list(found) == ["inbound ApiManagement -> VirtualNetwork TCP 3443"]
    f = found["inbound ApiManagement -> VirtualNetwork TCP 3443"]
    assert (f.id, f.severity) == ("nsg-rule-missing", Severity.CRITICAL)
    assert "DenyAllInBound" in f.summary and "65500" in f.summary
    assert "Azure's default rule (not in the export" in f.evidence[1]
    assert "source service tag ApiManagement" in f.remedy and "3443" in f.remedy


def test_good_internal_set_is_clean() -> None:
    assert nsg_findings(*GOOD_INTERNAL) == {}


def test_external_needs_clients_on_443() -> None:
    found = nsg_findings(*GOOD_INTERNAL, mode="external")
    assert found["inbound Internet -> VirtualNetwork TCP 443"].severity is Severity.CRITICAL
    assert found["inbound Internet -> VirtualNetwork TCP 80"].severity is Severity.INFO
    clients = rule("clients", 120, "inbound", "allow", "Internet", "VirtualNetwork",
                   ((80, 80), (443, 443)))
    assert nsg_findings(*GOOD_INTERNAL, clients, mode="external") == {}


def test_shadowed_by_a_broader_deny_above() -> None:
    deny = rule("deny-internet", 200, "inbound", "deny", "Internet", "*", protocol="*")
    allow = rule("mgmt", 300, "inbound", "allow", "ApiManagement", "VirtualNetwork",
                 ((3443, 3443),))
    f = nsg_findings(deny, allow)["inbound ApiManagement -> VirtualNetwork TCP 3443"]
    assert (f.id, f.severity) == ("nsg-rule-shadowed", Severity.CRITICAL)
    assert "'mgmt' (priority 300)" in f.summary and "'deny-internet' (priority 200)" in f.summary
    assert f.evidence[1].endswith("(never reached)")
    assert "lower than 200" in f.remedy


def test_order_is_by_priority_not_by_position() -> None:
    allow = rule("mgmt", 100, "inbound", "allow", "ApiManagement", "VirtualNetwork",
                 ((3443, 3443),))
    deny = rule("deny-internet", 200, "inbound", "deny", "Internet", "*")
    assert "inbound ApiManagement -> VirtualNetwork TCP 3443" not in nsg_findings(deny, allow)


@pytest.mark.parametrize("ports", [((3440, 3450),), ((0, 65535),), ((80, 80), (3443, 3443))])
def test_port_ranges_and_lists_match(ports: tuple[tuple[int, int], ...]) -> None:
    allow = rule("mgmt", 100, "inbound", "allow", "ApiManagement", "VirtualNetwork", ports)
    assert "inbound ApiManagement -> VirtualNetwork TCP 3443" not in nsg_findings(allow)


@pytest.mark.parametrize(("protocol", "matches"), [("tcp", True), ("*", True), ("any", True),
                                                   ("udp", False), ("icmp", False),
                                                   ("esp", False)])
def test_protocol(protocol: str, matches: bool) -> None:
    allow = rule("mgmt", 100, "inbound", "allow", "ApiManagement", "VirtualNetwork",
                 ((3443, 3443),), protocol)
    missing = "inbound ApiManagement -> VirtualNetwork TCP 3443" in nsg_findings(allow)
    assert missing is not matches


def test_deny_internet_outbound_hits_azure_services_and_crl() -> None:
    deny = rule("deny-internet", 4000, "outbound", "deny", "*", "Internet", protocol="*")
    found = nsg_findings(*GOOD_INTERNAL, deny)
    assert set(found) == {
        "outbound VirtualNetwork -> Storage TCP 443", "outbound VirtualNetwork -> Sql TCP 1433",
        "outbound VirtualNetwork -> AzureKeyVault TCP 443",
        "outbound VirtualNetwork -> AzureMonitor TCP 1886",
        "outbound VirtualNetwork -> AzureMonitor TCP 443",
        "outbound VirtualNetwork -> Internet TCP 80"}
    assert {f.id for f in found.values()} == {"nsg-rule-missing"}  # default allows don't count
    assert found["outbound VirtualNetwork -> Storage TCP 443"].severity is Severity.CRITICAL
    assert found["outbound VirtualNetwork -> AzureMonitor TCP 1886"].severity is Severity.WARNING


def test_regional_tag_allows_but_regional_deny_is_not_assumed() -> None:
    deny_all = rule("deny-all", 4000, "outbound", "deny", "*", "*", protocol="*")
    storage = rule("storage", 100, "outbound", "allow", "VirtualNetwork", "Storage.EastUS",
                   ((443, 443),))
    assert "outbound VirtualNetwork -> Storage TCP 443" not in nsg_findings(
        *GOOD_INTERNAL, storage, deny_all)
    west = rule("deny-west", 100, "outbound", "deny", "*", "Storage.WestUS", protocol="*")
    assert "outbound VirtualNetwork -> Storage TCP 443" not in nsg_findings(*GOOD_INTERNAL, west)


def test_ip_prefix_on_the_azure_side_is_not_taken_as_the_tag() -> None:
    deny_all = rule("deny-all", 4000, "outbound", "deny", "*", "*", protocol="*")
    by_ip = rule("sql-ip", 100, "outbound", "allow", "VirtualNetwork", "20.42.65.64/29",
                 ((1433, 1433),))
    assert "outbound VirtualNetwork -> Sql TCP 1433" in nsg_findings(*GOOD_INTERNAL, by_ip,
                                                                      deny_all)


def test_public_destination_prefix_is_not_the_vnet() -> None:
    allow = rule("mgmt", 100, "inbound", "allow", "ApiManagement", "20.1.2.3/32",
                 ((3443, 3443),))
    assert "inbound ApiManagement -> VirtualNetwork TCP 3443" in nsg_findings(allow)


def test_load_balancer_blocked_before_the_default_allow() -> None:
    deny = rule("deny-all-in", 4096, "inbound", "deny", "*", "*", protocol="*")
    found = nsg_findings(GOOD_INTERNAL[0], deny)
    f = found["inbound AzureLoadBalancer -> VirtualNetwork TCP 6390"]
    assert (f.id, f.severity) == ("nsg-rule-missing", Severity.CRITICAL)


# --------------------------------------------------------------------------
# NSG fixtures end to end


def test_fixture_internal_ok_is_clean() -> None:
    checked = lint_document(load("nsg-internal-ok.json"), "nsg-internal-ok.json", "internal")
    assert (checked.kind, checked.label, checked.findings) == (NSG, "nsg nsg-apim-internal", ())


def test_fixture_internal_ok_in_external_mode_lacks_clients() -> None:
    checked = lint_document(load("nsg-internal-ok.json"), "f.json", "external")
    assert {(f.id, f.severity) for f in checked.findings} == {
        ("nsg-rule-missing", Severity.CRITICAL), ("nsg-rule-missing", Severity.INFO)}


def test_fixture_broken() -> None:
    checked = lint_document(load("nsg-broken.json"), "nsg-broken.json", "internal")
    got = {k: (f.id, f.severity) for k, f in by_subject(checked.findings).items()}
    assert got == {
        "inbound ApiManagement -> VirtualNetwork TCP 3443": ("nsg-rule-shadowed",
                                                              Severity.CRITICAL),
        "outbound VirtualNetwork -> Sql TCP 1433": ("nsg-rule-shadowed", Severity.CRITICAL),
        "outbound VirtualNetwork -> AzureKeyVault TCP 443": ("nsg-rule-missing",
                                                              Severity.CRITICAL),
        "outbound VirtualNetwork -> Internet TCP 80": ("nsg-rule-missing", Severity.WARNING),
    }


def test_fixture_external_arm_shape_without_defaults() -> None:
    checked = lint_document(load("nsg-external-arm.json"), "nsg-external-arm.json", "external")
    assert checked.findings == ()
    # The Udp deny does not touch TCP; AzureCloud holds the Azure service tags.


# --------------------------------------------------------------------------
# routes


def r(prefix: str, hop: str, *, name: str = "", ips: tuple[str, ...] = (),
      source: str = "User", active: bool = True) -> Route:
    return Route(name, tuple(prefix.split(",")), hop, ips, source, active)


def test_longest_prefix_wins() -> None:
    routes = [r("0.0.0.0/0", "VirtualAppliance", name="fw"), r("52.224.0.0/16", "Internet",
                                                                 name="wide"),
              r("52.224.186.99/32", "Internet", name="cp")]
    hit = longest_match(routes, "52.224.186.99")
    assert hit is not None and hit[0].name == "cp" and str(hit[1]) == "52.224.186.99/32"
    hit = longest_match(routes, "52.224.1.1")
    assert hit is not None and hit[0].name == "wide"
    hit = longest_match(routes, "13.84.189.17")
    assert hit is not None and hit[0].name == "fw"


def test_equal_prefix_user_beats_bgp_beats_default_and_invalid_is_ignored() -> None:
    routes = [r("0.0.0.0/0", "Internet", source="Default", name="sys"),
              r("0.0.0.0/0", "VirtualNetworkGateway", source="VirtualNetworkGateway",
                name="bgp"),
              r("0.0.0.0/0", "VirtualAppliance", name="udr", active=False)]
    hit = longest_match(routes, "52.224.186.99")
    assert hit is not None and hit[0].name == "bgp"
    assert longest_match([r("10.0.0.0/8", "None")], "52.224.186.99") is None
    assert longest_match([r("::/0", "Internet")], "52.224.186.99") is None
    v6 = longest_match([r("::/0", "Internet", name="v6")], "2603:1030::1")
    assert v6 is not None and v6[0].name == "v6"


def test_service_tag_routes_are_not_matched_by_address() -> None:
    assert longest_match([r("ApiManagement", "Internet")], "52.224.186.99") is None


def _ids(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return sorted((f.id, f.severity) for f in findings)


def test_forced_tunnel_without_exception_is_critical() -> None:
    found = lint_routes([r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",), name="FW")],
                        "internal", "rt.json", "route table rt", [])
    f = found[0]
    assert _ids(found) == [("route-default-via-appliance", Severity.CRITICAL)]
    assert "APIs keep loading" in f.summary
    assert "ApiManagement with next hop Internet" in f.remedy


def test_forced_tunnel_with_apim_route_is_a_warning_in_internal_mode_only() -> None:
    routes = [r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",)),
              r("ApiManagement", "Internet", name="cp")]
    assert _ids(lint_routes(routes, "internal", "f", "l", [])) == [
        ("route-default-via-appliance", Severity.WARNING)]
    assert _ids(lint_routes(routes, "external", "f", "l", [])) == [
        ("route-default-via-appliance", Severity.CRITICAL)]


def test_default_route_to_none_and_to_internet() -> None:
    assert _ids(lint_routes([r("0.0.0.0/0", "None")], "internal", "f", "l", [])) == [
        ("route-default-none", Severity.CRITICAL)]
    assert lint_routes([r("0.0.0.0/0", "Internet")], "internal", "f", "l", []) == []


def test_apim_tag_to_an_appliance() -> None:
    found = lint_routes([r("ApiManagement", "VirtualAppliance", ips=("10.0.100.4",))],
                        "internal", "f", "l", [])
    assert _ids(found) == [("route-control-plane-via-appliance", Severity.CRITICAL)]
    found = lint_routes([r("ApiManagement", "VnetLocal")], "internal", "f", "l", [])
    assert _ids(found) == [("route-control-plane-not-internet", Severity.CRITICAL)]


def test_destinations() -> None:
    routes = [r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",), name="FW"),
              r("52.224.186.99/32", "Internet", name="cp"),
              r("13.0.0.0/8", "None", name="hole")]
    found = {f.subject: f for f in lint_routes(routes, "internal", "f", "l",
                                                ["52.224.186.99", "20.1.1.1", "13.1.1.1"])}
    assert (found["l: 52.224.186.99"].id, found["l: 52.224.186.99"].severity) == (
        "route-destination", Severity.INFO)
    via = found["l: 20.1.1.1"]
    assert (via.id, via.severity) == ("route-destination-via-appliance", Severity.CRITICAL)
    assert "VirtualAppliance 10.0.100.4 by route FW (0.0.0.0/0)" in via.summary
    assert "20.1.1.1/32" in via.remedy
    hole = found["l: 13.1.1.1"]
    assert (hole.id, hole.severity) == ("route-destination-none", Severity.CRITICAL)
    assert any("loses (shorter prefix)" in e for e in hole.evidence)


def test_destination_with_tag_routes_is_only_a_warning() -> None:
    routes = [r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",)),
              r("ApiManagement", "Internet", name="cp")]
    found = [f for f in lint_routes(routes, "internal", "f", "l", ["52.224.186.99"])
             if f.id.startswith("route-destination")]
    assert _ids(found) == [("route-destination-via-appliance", Severity.WARNING)]
    assert "unless it belongs to a service tag route (ApiManagement -> Internet)" in \
        found[0].summary


def test_destination_without_any_route() -> None:
    (f,) = lint_routes([], "internal", "f", "l", ["52.224.186.99"])
    assert (f.id, f.severity) == ("route-destination", Severity.INFO)
    assert "system routes decide" in f.summary


def test_fixture_route_tables() -> None:
    forced = lint_document(load("route-table-forced.json"), "f", "internal", ["52.224.186.99"])
    assert forced.kind == ROUTE_TABLE and forced.label == "route table rt-apim-forced"
    assert _ids(list(forced.findings)) == [
        ("route-default-via-appliance", Severity.CRITICAL),
        ("route-destination-via-appliance", Severity.CRITICAL)]
    ok = lint_document(load("route-table-ok.json"), "f", "internal", ["52.224.186.99"])
    assert _ids(list(ok.findings)) == [("route-default-via-appliance", Severity.WARNING),
                                       ("route-destination", Severity.INFO)]
    cp = lint_document(load("route-table-control-plane-to-fw.json"), "f", "internal")
    assert _ids(list(cp.findings)) == [("route-control-plane-via-appliance", Severity.CRITICAL)]


def test_fixture_effective_routes() -> None:
    bgp = lint_document(load("effective-routes-bgp-default.json"), "e.json", "internal",
                        ["52.224.186.99", "10.0.4.5"])
    assert bgp.kind == EFFECTIVE_ROUTES
    found = {f.subject.split(": ", 1)[1]: f for f in bgp.findings}
    assert found["0.0.0.0/0"].severity is Severity.CRITICAL
    assert "learnt over BGP" in found["0.0.0.0/0"].summary
    assert found["52.224.186.99"].id == "route-destination-via-appliance"
    assert found["10.0.4.5"].id == "route-destination"  # VnetLocal /16 beats None /8
    assert "VnetLocal" in found["10.0.4.5"].summary
    tunnel = lint_document(load("effective-routes-tunnel-with-exceptions.json"), "e.json",
                           "internal", ["52.224.186.99", "13.84.189.17", "40.1.1.1"])
    got = {f.subject.split(": ", 1)[1]: (f.id, f.severity) for f in tunnel.findings}
    assert got == {
        "0.0.0.0/0": ("route-default-via-appliance", Severity.WARNING),
        "52.224.186.99": ("route-destination", Severity.INFO),
        "13.84.189.17": ("route-destination", Severity.INFO),
        "40.1.1.1": ("route-destination-via-appliance", Severity.CRITICAL),
    }


# --------------------------------------------------------------------------
# recognising and rejecting documents


@pytest.mark.parametrize(("doc", "kind"), [
    ({"securityRules": []}, NSG),
    ({"defaultSecurityRules": []}, NSG),
    ({"properties": {"securityRules": []}}, NSG),
    ({"type": "Microsoft.Network/networkSecurityGroups"}, NSG),
    ({"routes": []}, ROUTE_TABLE),
    ({"type": "Microsoft.Network/routeTables"}, ROUTE_TABLE),
    ({"value": [{"nextHopType": "Internet"}]}, EFFECTIVE_ROUTES),
    ({"value": []}, EFFECTIVE_ROUTES),
    ({"value": [{"endpoints": []}]}, None),
    ([], None),
    ({"name": "vnet"}, None),
])
def test_kind_of(doc: Any, kind: str | None) -> None:
    assert kind_of(doc) == kind


def test_a_list_of_documents() -> None:
    docs = [load("nsg-internal-ok.json"), load("route-table-forced.json")]
    checked = lint_any(docs, "all.json", "internal")
    assert [(c.source, c.kind) for c in checked] == [("all.json[0]", NSG),
                                                     ("all.json[1]", ROUTE_TABLE)]


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
                 "nextHopIpAddress": "1.2.3.4", "source": "User", "state": "Active"}]},
     "value[0].nextHopIpAddress", "a list of addresses"),
    ({"value": [{"addressPrefix": ["0.0.0.0/0"], "nextHopType": "Internet",
                 "state": "Active"}]}, "value[0].source", "missing"),
    ({"value": ["x"]}, "", "expected the JSON of 'az network nsg show'"),
])
def test_malformed_shapes(doc: Any, where: str, what: str) -> None:
    with pytest.raises(LintInputError) as info:
        lint_any(doc, "saved.json", "internal")
    assert info.value.where == where
    assert what in info.value.message
    assert str(info.value).startswith("saved.json: ")


# --------------------------------------------------------------------------
# the command


def test_run_clean_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(AZURE / "nsg-internal-ok.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("LINT (mode internal)\n")
    assert out.endswith("0 finding(s): 0 critical, 0 warning, 0 info; exit 0\n")


def test_run_info_only_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"value": [
        {"addressPrefix": ["0.0.0.0/0"], "nextHopType": "Internet", "nextHopIpAddress": [],
         "source": "Default", "state": "Active", "name": None}]}))
    assert run([str(path), "--destination", "52.224.186.99"]) == 0
    out = capsys.readouterr().out
    assert "INFO route-destination" in out
    assert out.endswith("1 finding(s): 0 critical, 0 warning, 1 info; exit 0\n")


def test_run_findings_exit_1_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(AZURE / "nsg-broken.json"), str(AZURE / "route-table-forced.json"),
                "--destination", "52.224.186.99"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].endswith("nsg-broken.json: nsg nsg-apim-broken (nsg)")
    assert lines[2].endswith("route-table-forced.json: route table rt-apim-forced (route-table)")
    assert "CRITICAL nsg-rule-shadowed: nsg nsg-apim-broken: inbound ApiManagement -> " \
           "VirtualNetwork TCP 3443" in lines
    assert out.endswith("6 finding(s): 5 critical, 1 warning, 0 info; exit 1\n")


def test_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(AZURE / "nsg-external-arm.json"), str(AZURE / "nsg-internal-ok.json"),
                "--mode", "external", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "external"
    assert [f["kind"] for f in doc["files"]] == ["nsg", "nsg"]
    assert {f["id"] for f in doc["findings"]} == {"nsg-rule-missing"}
    assert doc["findings"][0]["severity"] == "critical"
    assert set(doc["findings"][0]) == {"id", "severity", "subject", "summary", "evidence",
                                       "remedy"}
    assert doc["exit_status"] == 1


@pytest.mark.parametrize(("file", "fragment"), [
    ("malformed-nsg-port.json",
     "securityRules[0].destinationPortRange: expected a port, a range 'a-b' or '*', got 'https'"),
    ("malformed-nsg-priority.json", "securityRules[2].priority: missing; expected an integer"),
    ("malformed-nsg-truncated.json", "not valid JSON at line"),
    ("malformed-route-hop.json", "routes[0].nextHopType: expected one of Internet"),
    ("malformed-effective-prefix.json", "value[1].addressPrefix: expected a list"),
    ("malformed-vnet-not-lintable.json", "expected the JSON of 'az network nsg show'"),
    ("networkstatus.json", "expected the JSON of 'az network nsg show'"),
    ("does-not-exist.json", "cannot read: No such file or directory"),
])
def test_run_malformed_exit_2(file: str, fragment: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(AZURE / "nsg-internal-ok.json"), str(AZURE / file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing half-reported
    assert captured.err.startswith(f"probe lint: error: {AZURE / file}: ")
    assert fragment in captured.err
    assert "Traceback" not in captured.err


def test_run_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == 2
    assert run([str(AZURE / "nsg-internal-ok.json"), "--mode", "hybrid"]) == 2
    assert run([str(AZURE / "nsg-internal-ok.json"), "--destination", "apim.net"]) == 2
    assert "expected an IP address, got 'apim.net'" in capsys.readouterr().err
    assert run(["--help"]) == 0


def test_byte_order_mark_and_non_utf8(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    bom = tmp_path / "nsg.json"
    bom.write_bytes(b"\xef\xbb\xbf" + (AZURE / "nsg-internal-ok.json").read_bytes())
    assert run([str(bom)]) == 0
    utf16 = tmp_path / "nsg16.json"
    utf16.write_bytes((AZURE / "nsg-internal-ok.json").read_text().encode("utf-16"))
    assert run([str(utf16)]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err


# --------------------------------------------------------------------------
# --subnet: the APIM subnet makes IP prefixes on the VNet side exact

SUBNET = ipaddress.ip_network("10.0.1.0/24")


@pytest.mark.parametrize(("prefix", "allow", "deny"), [
    ("10.0.1.0/24", True, True),
    ("10.0.0.0/16", True, True),
    ("10.0.1.0/25", False, True),  # part of the subnet: an allow misses half of it
    ("10.0.2.0/24", False, False),  # another subnet
    ("20.1.0.0/16", False, False),
    ("2001:db8::/32", False, False),
    ("VirtualNetwork", True, True),
    ("*", True, True),
])
def test_subnet_precision(prefix: str, allow: bool, deny: bool) -> None:
    assert covers(prefix, "VirtualNetwork", SUBNET) is allow
    assert covers(prefix, "VirtualNetwork", SUBNET, deny=True) is deny


def test_without_subnet_any_private_prefix_stands_for_it() -> None:
    assert covers("10.0.2.0/24", "VirtualNetwork")
    assert covers("10.0.2.0/24", "VirtualNetwork", deny=True)
    assert not covers("20.1.0.0/16", "VirtualNetwork")


def test_subnet_changes_the_verdict_of_a_rule_for_another_subnet() -> None:
    deny_other = rule("deny-other-subnet", 100, "inbound", "deny", "*", "10.0.2.0/24")
    mgmt = rule("mgmt", 300, "inbound", "allow", "ApiManagement", "10.0.1.0/24",
                ((3443, 3443),))
    lb = rule("lb", 310, "inbound", "allow", "AzureLoadBalancer", "VirtualNetwork",
              ((6390, 6390),))
    nsg = Nsg("t", (deny_other, mgmt, lb, *DEFAULT_RULES), False)
    assert "inbound ApiManagement -> VirtualNetwork TCP 3443" in by_subject(
        lint_nsg(nsg, "internal", "t.json"))
    assert by_subject(lint_nsg(nsg, "internal", "t.json", SUBNET)) == {}


def test_run_with_subnet(capsys: pytest.CaptureFixture[str]) -> None:
    # nsg-broken allows 3443 to 10.0.1.0/24: with a different subnet it allows nothing.
    assert run([str(AZURE / "nsg-broken.json"), "--subnet", "10.0.9.0/24", "--format",
                "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    mgmt = [f for f in doc["findings"] if "3443" in f["subject"]]
    assert [f["id"] for f in mgmt] == ["nsg-rule-missing"]
    assert run([str(AZURE / "nsg-broken.json"), "--subnet", "not-a-prefix"]) == 2
    assert "expected a CIDR prefix" in capsys.readouterr().err
