"""probe/diagnosis/apim.py: the management endpoint, APIM's names' addresses,
the self-hosted gateway, the health check.

Hand-built rounds, no sockets."""

from __future__ import annotations

import pytest

from probe.diagnosis import (
    Context,
    apim_addresses,
    configuration,
    gateway_health,
    management,
)
from probe.results import (
    DnsStatus,
    PortState,
    RoundResult,
    Severity,
)
from tests.helpers.rounds import (
    AZURE,
    BLOB,
    CUSTOM,
    MGMT,
    dns,
    health,
    only,
    round_of,
    tcp,
)


@pytest.mark.parametrize(("state", "reason"), [
    (PortState.FILTERED, "no-response"), (PortState.CLOSED, "reset"),
    (PortState.FILTERED, "admin-prohibited")])
def test_management_unreachable(state: PortState, reason: str) -> None:
    row = tcp("management", "management", MGMT, "198.18.2.5", 3443, state, reason)
    f = only(list(management(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("management-unreachable", Severity.CRITICAL)
    assert "ApiManagement" in f.remedy and "3443" in f.remedy and "Internet" in f.remedy


def test_management_unresolved() -> None:
    row = tcp("management", "management", MGMT, None, 3443, PortState.UNRESOLVED, "nxdomain")
    r = round_of(dns_results=(dns(MGMT, CUSTOM, status=DnsStatus.NXDOMAIN),), tcp_results=(row,))
    f = only(list(management(r)))
    assert (f.id, f.severity) == ("management-unresolved", Severity.CRITICAL)
    assert any("nxdomain" in e for e in f.evidence)


def test_management_open_is_fine() -> None:
    row = tcp("management", "management", MGMT, "198.18.2.5", 3443, PortState.OPEN, "syn-ack")
    assert list(management(round_of(tcp_results=(row,)))) == []


def test_management_expected_closed_but_filtered_is_not_unreachable() -> None:
    row = tcp("management", "management", MGMT, "198.18.2.5", 3443, PortState.FILTERED,
              "no-response", expected=PortState.CLOSED)
    assert list(management(round_of(tcp_results=(row,)))) == []


def _mgmt_round(*addresses: str) -> RoundResult:
    rows = tuple(tcp("management", "management", MGMT, a, 3443, PortState.OPEN, "syn-ack")
                 for a in addresses)
    return round_of(dns_results=(dns(MGMT, CUSTOM, *addresses), dns(MGMT, AZURE, *addresses)),
                    tcp_results=rows)


def test_public_address_in_internal_mode() -> None:
    f = only(list(apim_addresses(_mgmt_round("20.50.1.2"), Context(mode="internal"))))
    assert (f.id, f.severity, f.subject) == ("apim-address-public", Severity.CRITICAL, MGMT)
    assert "20.50.1.2" in f.summary and "private DNS zone" in f.remedy
    assert f.evidence == (f"DNS {MGMT} via {CUSTOM}: 20.50.1.2 (4.0 ms)",)


def test_public_address_in_external_mode_is_expected() -> None:
    assert list(apim_addresses(_mgmt_round("20.50.1.2"), Context(mode="external"))) == []


def test_private_address_in_internal_mode_is_fine() -> None:
    ctx = Context(mode="internal", instance_addresses=("198.18.2.5",))
    assert list(apim_addresses(_mgmt_round("198.18.2.5"), ctx)) == []


def test_address_not_the_instance() -> None:
    ctx = Context(mode="internal", instance_addresses=("198.18.2.5",))
    f = only(list(apim_addresses(_mgmt_round("198.18.2.9"), ctx)))
    assert (f.id, f.severity) == ("apim-address-mismatch", Severity.CRITICAL)
    assert "198.18.2.9" in f.summary and "198.18.2.5" in f.summary


def test_address_rules_look_at_gateway_and_portal_once_per_name() -> None:
    gw = "apim.azure-api.net"
    rows = (tcp("gateway", "gateway", gw, "20.50.1.2", 443, PortState.OPEN, "syn-ack"),
            tcp("gateway-80", "gateway", gw, "20.50.1.2", 80, PortState.OPEN, "syn-ack"),
            tcp("storage", "storage", BLOB, "20.60.1.1", 443, PortState.OPEN, "syn-ack"))
    r = round_of(dns_results=(dns(gw, CUSTOM, "20.50.1.2"), dns(BLOB, CUSTOM, "20.60.1.1")),
                 tcp_results=rows)
    assert [f.subject for f in apim_addresses(r, Context(mode="internal"))] == [gw]


def test_address_rules_need_a_primary_answer_and_a_mode() -> None:
    row = tcp("management", "management", MGMT, None, 3443, PortState.UNRESOLVED, "nxdomain")
    r = round_of(dns_results=(dns(MGMT, CUSTOM, status=DnsStatus.NXDOMAIN),), tcp_results=(row,))
    assert list(apim_addresses(r, Context(mode="internal"))) == []
    assert list(apim_addresses(_mgmt_round("20.50.1.2"))) == []  # no mode, no address


CFG = "apim.configuration.azure-api.net"


@pytest.mark.parametrize(("address", "state", "reason"), [
    ("198.18.2.6", PortState.FILTERED, "no-response"),
    ("198.18.2.6", PortState.CLOSED, "reset"),
    (None, PortState.UNRESOLVED, "servfail")])
def test_configuration_unreachable(address: str | None, state: PortState, reason: str) -> None:
    row = tcp("configuration", "configuration", CFG, address, 443, state, reason)
    f = only(list(configuration(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("configuration-unreachable", Severity.CRITICAL)
    assert reason in f.summary and "cached configuration" in f.summary
    assert "configuration.azure-api.net" in f.remedy


def test_configuration_open_is_fine() -> None:
    row = tcp("configuration", "configuration", CFG, "198.18.2.6", 443, PortState.OPEN,
              "syn-ack")
    assert list(configuration(round_of(tcp_results=(row,)))) == []



def test_gateway_health_ok_gives_nothing() -> None:
    assert list(gateway_health(round_of(), Context(health=(health("200 OK", 200, True),)))) == []


@pytest.mark.parametrize(("reason", "status"), [("503 Service Unavailable", 503),
                                                ("conn-refused", None),
                                                ("no-response", None),
                                                ("tls-error: WRONG_VERSION_NUMBER", None)])
def test_gateway_unhealthy(reason: str, status: int | None) -> None:
    f = only(list(gateway_health(round_of(), Context(health=(health(reason, status),)))))
    assert (f.id, f.severity) == ("gateway-unhealthy", Severity.CRITICAL)
    assert reason in f.summary and "via 198.18.2.10" in f.summary
    assert f.evidence[0].startswith("GET https://apim.azure-api.net/status-0123456789abcdef "
                                    f"via 198.18.2.10: {reason} after 12 ms")


def test_gateway_certificate_untrusted() -> None:
    check = health("certificate: self-signed certificate", None)
    f = only(list(gateway_health(round_of(), Context(health=(check,)))))
    assert (f.id, f.severity) == ("gateway-certificate-untrusted", Severity.WARNING)
    assert "self-signed certificate" in f.summary and "verify_tls" in f.remedy
