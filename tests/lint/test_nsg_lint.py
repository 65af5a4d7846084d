"""NSG evaluation: rule order, shadowing, defaults, and what offline lint cannot judge."""

from __future__ import annotations

import ipaddress

import pytest

from probe.lint.nsg import DEFAULT_RULES, Nsg, SecurityRule
from probe.lint.nsg_lint import lint_nsg
from probe.results import Severity
from tests.helpers.lint import GOOD_INTERNAL, by_subject, nsg_findings, rule

SUBNET = ipaddress.ip_network("10.0.1.0/24")
MGMT = "inbound ApiManagement -> VirtualNetwork TCP 3443"


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
    # Azure Monitor is required, for lint as for the agent (the APIM model)
    assert found["outbound VirtualNetwork -> AzureMonitor TCP 1886"].severity is Severity.CRITICAL


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


# --------------------------------------------------------------------------
# what offline lint cannot judge: reported, never guessed


def asg_rule(name: str, priority: int, direction: str, access: str, src: str,
             ports: tuple[tuple[int, int], ...], asg: str = "asg-apim") -> SecurityRule:
    return SecurityRule(name, priority, direction, access, "tcp", (src,), (), ports,
                        destination_asgs=(asg,))


def test_an_asg_allow_before_the_deny_is_not_judged() -> None:
    found = nsg_findings(asg_rule("mgmt-asg", 100, "inbound", "allow", "ApiManagement",
                                  ((3443, 3443),)), GOOD_INTERNAL[1])
    f = found[MGMT]
    assert (f.id, f.severity) == ("nsg-rule-not-judged", Severity.INFO)
    assert "'mgmt-asg'" in f.summary and "it would be denied" in f.summary
    assert "application security group asg-apim" in f.evidence[0]
    assert any("DenyAllInBound" in e for e in f.evidence)


def test_an_asg_deny_before_an_allow_is_not_judged() -> None:
    deny = asg_rule("deny-asg", 90, "inbound", "deny", "*", ((0, 65535),))
    f = nsg_findings(deny, *GOOD_INTERNAL)[MGMT]
    assert f.id == "nsg-rule-not-judged" and "it would be allowed" in f.summary


def test_an_asg_rule_after_the_decider_or_on_another_port_does_not_matter() -> None:
    late = asg_rule("late-asg", 4000, "inbound", "deny", "*", ((0, 65535),))
    other_port = asg_rule("rdp-asg", 90, "inbound", "deny", "*", ((3389, 3389),))
    same_access = asg_rule("allow-asg", 90, "inbound", "allow", "ApiManagement",
                           ((3443, 3443),))
    assert nsg_findings(*GOOD_INTERNAL, late, other_port, same_access) == {}


@pytest.mark.parametrize(("destination", "judged"), [
    ("20.0.0.0/8", False),  # public: may hold Storage's addresses
    ("SomeFutureServiceTag", False),  # a tag offline lint does not know
    ("Storage.WestEurope", True),  # known: a regional tag
    ("10.0.0.0/8", True),  # private: never Storage
    ("AzureFrontDoor.Backend", True),  # a known, other service
])
def test_deny_of_something_that_may_hold_storage(destination: str, judged: bool) -> None:
    deny = rule("deny-x", 200, "outbound", "deny", "*", destination, protocol="*")
    found = nsg_findings(*GOOD_INTERNAL, deny)
    storage = found.get("outbound VirtualNetwork -> Storage TCP 443")
    assert (storage is None) is judged
    if storage is not None:
        assert storage.id == "nsg-rule-not-judged"
        assert destination in storage.evidence[0]


def test_a_rule_list_says_the_defaults_were_added() -> None:
    nsg = Nsg("t", (*GOOD_INTERNAL, *DEFAULT_RULES), False, rule_list=True)
    found = lint_nsg(nsg, "internal", "rules.json")
    (note,) = [f for f in found if f.id == "nsg-default-rules-added"]
    assert note.severity is Severity.INFO and note.subject == "nsg t"
    assert "DenyAllInBound" in note.evidence[0]
    assert [f.id for f in found] == ["nsg-default-rules-added"]
