"""Routes: longest prefix, next hops that break APIM, destinations."""

from __future__ import annotations

from probe.lint.routes import lint_routes, longest_match
from probe.results import Severity
from tests.helpers.lint import ids, r


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


def test_forced_tunnel_without_exception_is_critical() -> None:
    found = lint_routes([r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",), name="FW")],
                        "internal", "rt.json", "route table rt", [])
    f = found[0]
    assert ids(found) == [("route-default-via-appliance", Severity.CRITICAL)]
    assert "APIs keep loading" in f.summary
    assert "ApiManagement with next hop Internet" in f.remedy


def test_forced_tunnel_with_apim_route_is_a_warning_in_internal_mode_only() -> None:
    routes = [r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",)),
              r("ApiManagement", "Internet", name="cp")]
    assert ids(lint_routes(routes, "internal", "f", "l", [])) == [
        ("route-default-via-appliance", Severity.WARNING)]
    assert ids(lint_routes(routes, "external", "f", "l", [])) == [
        ("route-default-via-appliance", Severity.CRITICAL)]


def test_default_route_to_none_and_to_internet() -> None:
    assert ids(lint_routes([r("0.0.0.0/0", "None")], "internal", "f", "l", [])) == [
        ("route-default-none", Severity.CRITICAL)]
    assert lint_routes([r("0.0.0.0/0", "Internet")], "internal", "f", "l", []) == []


def test_apim_tag_to_an_appliance() -> None:
    found = lint_routes([r("ApiManagement", "VirtualAppliance", ips=("10.0.100.4",))],
                        "internal", "f", "l", [])
    assert ids(found) == [("route-control-plane-via-appliance", Severity.CRITICAL)]
    found = lint_routes([r("ApiManagement", "VnetLocal")], "internal", "f", "l", [])
    assert ids(found) == [("route-control-plane-not-internet", Severity.CRITICAL)]


def test_destinations() -> None:
    routes = [r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",), name="FW"),
              r("52.224.186.99/32", "Internet", name="cp"),
              r("13.0.0.0/8", "None", name="hole")]
    found = {f.subject: f for f in lint_routes(
        routes, "internal", "f", "l", control_plane=["52.224.186.99", "20.1.1.1", "13.1.1.1"])}
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
    found = [f for f in lint_routes(routes, "internal", "f", "l",
                                       control_plane=["52.224.186.99"])
             if f.id.startswith("route-destination")]
    assert ids(found) == [("route-destination-via-appliance", Severity.WARNING)]
    assert "unless it belongs to a service tag route (ApiManagement -> Internet)" in \
        found[0].summary


def test_destination_without_any_route() -> None:
    (f,) = lint_routes([], "internal", "f", "l", ["52.224.186.99"])
    assert (f.id, f.severity) == ("route-destination", Severity.INFO)
    assert "system routes decide" in f.summary


# --------------------------------------------------------------------------
# --destination: any address, judged as such; --control-plane: APIM's management


def test_plain_destinations_report_their_route_and_only_a_drop_is_critical() -> None:
    routes = [r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",), name="FW"),
              r("10.100.0.0/16", "VirtualNetworkGateway", name="onprem"),
              r("13.0.0.0/8", "None", name="hole")]
    found = {f.subject: f for f in lint_routes(routes, "internal", "f", "l",
                                                ["10.100.4.4", "20.1.1.1", "13.1.1.1"])
             if f.id.startswith("route-destination")}
    onprem, backend, hole = found["l: 10.100.4.4"], found["l: 20.1.1.1"], found["l: 13.1.1.1"]
    assert (onprem.id, onprem.severity) == ("route-destination", Severity.INFO)
    assert onprem.summary == "traffic to 10.100.4.4 goes to VirtualNetworkGateway via " \
                             "10.100.0.0/16"
    assert (backend.id, backend.severity) == ("route-destination", Severity.INFO)
    assert "VirtualAppliance 10.0.100.4 via 0.0.0.0/0" in backend.summary
    assert "--control-plane" in backend.remedy
    assert (hole.id, hole.severity) == ("route-destination-none", Severity.CRITICAL)
    assert "dropped (next hop None)" in hole.summary


def test_an_address_given_as_both_is_judged_as_control_plane() -> None:
    routes = [r("0.0.0.0/0", "VirtualAppliance", ips=("10.0.100.4",), name="FW")]
    found = [f for f in lint_routes(routes, "internal", "f", "l", ["20.1.1.1"],
                                    ["20.1.1.1"]) if f.subject == "l: 20.1.1.1"]
    assert ids(found) == [("route-destination-via-appliance", Severity.CRITICAL)]


def test_a_plain_destination_without_a_route() -> None:
    (f,) = lint_routes([], "internal", "f", "l", ["10.9.9.9"])
    assert (f.id, f.severity) == ("route-destination", Severity.INFO)
    assert "system routes decide" in f.summary
