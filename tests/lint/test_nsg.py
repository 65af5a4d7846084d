"""NSG evaluation: rule order, service tags, ports, the APIM subnet."""

from __future__ import annotations

import ipaddress

import pytest

from probe.lint.nsg import DEFAULT_RULES, Nsg, covers, requirements
from probe.lint.nsg_lint import lint_nsg
from probe.results import Severity
from tests.helpers.lint import GOOD_INTERNAL, by_subject, nsg_findings, rule


def test_requirements_by_mode() -> None:
    internal = {r.describe() for r in requirements("internal")}
    external = {r.describe() for r in requirements("external")}
    assert "inbound ApiManagement -> VirtualNetwork TCP 3443" in internal
    assert "inbound AzureLoadBalancer -> VirtualNetwork TCP 6390" in internal
    assert "outbound VirtualNetwork -> Sql TCP 1433" in internal
    assert "outbound VirtualNetwork -> AzureMonitor TCP 1886" in internal
    assert external - internal == {"inbound Internet -> VirtualNetwork TCP 443",
                                   "inbound Internet -> VirtualNetwork TCP 80"}


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
