"""NSG model: rule prefixes against service tags and the APIM subnet, the requirements."""

from __future__ import annotations

import ipaddress

import pytest

from probe.lint.nsg import SecurityRule, covers, matches, requirements, unknowable


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


@pytest.mark.parametrize(("prefix", "tag", "why"), [
    ("20.42.65.64/29", "Sql", "address prefix 20.42.65.64/29"),
    ("NewTag", "Storage", "service tag NewTag"),
    ("NewTag.EastUS", "AzureKeyVault", "service tag NewTag.EastUS"),
    ("NewTag", "VirtualNetwork", None),  # the APIM subnet is in no service tag
    ("NewTag", "Internet", None),  # no service tag holds all of Internet
    ("20.42.65.64/29", "Internet", None),
    ("10.0.0.0/8", "Sql", None),
    ("0.0.0.0/0", "Sql", None),  # holds everything: known
    ("GatewayManager", "ApiManagement", None),
    ("Storage", "Storage", None),
])
def test_unknowable(prefix: str, tag: str, why: str | None) -> None:
    assert unknowable(prefix, tag) == why


def test_matches_is_three_valued() -> None:
    req = requirements("internal")[0]  # inbound ApiManagement -> VirtualNetwork TCP 3443
    base = SecurityRule("r", 100, "inbound", "allow", "tcp", ("ApiManagement",),
                        ("VirtualNetwork",), ((3443, 3443),))
    assert matches(base, req) is True
    assert matches(SecurityRule("r", 100, "inbound", "allow", "tcp", ("ApiManagement",), (),
                                ((3443, 3443),), destination_asgs=("a",)), req) is None
    assert matches(SecurityRule("r", 100, "inbound", "allow", "tcp", ("Internet",), (),
                                ((3443, 3443),), destination_asgs=("a",)), req) is None
    # a side that surely does not match decides, whatever the other side is
    assert matches(SecurityRule("r", 100, "inbound", "allow", "tcp", ("Storage",), (),
                                ((3443, 3443),), destination_asgs=("a",)), req) is False
    assert matches(SecurityRule("r", 100, "inbound", "allow", "udp", ("ApiManagement",), (),
                                ((3443, 3443),), destination_asgs=("a",)), req) is False
