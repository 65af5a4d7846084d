"""probe/diagnosis/outbound.py: a dependency dropped, rejected (by the path or
the host), blocked locally, refused.

Hand-built rounds, no sockets."""

from __future__ import annotations

import pytest

from probe.diagnosis import (
    outbound_blocked,
    refused,
)
from probe.results import (
    PortState,
    Severity,
)
from tests.helpers.rounds import (
    BLOB,
    CUSTOM,
    SQL,
    dns,
    ids,
    only,
    round_of,
    tcp,
)


def test_dropped_dependency_names_the_service_tag() -> None:
    row = tcp("sql", "sql", SQL, "198.18.2.20", 1433, PortState.FILTERED, "no-response")
    r = round_of(dns_results=(dns(SQL, CUSTOM, "198.18.2.20"),), tcp_results=(row,))
    f = only(list(outbound_blocked(r)))
    assert (f.id, f.severity) == ("outbound-dropped", Severity.CRITICAL)
    assert f.subject == f"sql {SQL}:1433"
    assert "Sql" in f.remedy and "1433" in f.remedy and "65500" in f.remedy
    assert "0/3 attempts answered" in f.evidence[0]
    assert f.evidence[1] == f"DNS {SQL} via {CUSTOM}: 198.18.2.20 (4.0 ms)"


@pytest.mark.parametrize(("dependency", "tag"), [
    ("storage", "Storage"), ("keyvault", "AzureKeyVault"), ("monitor", "AzureMonitor"),
    ("eventhub", "EventHub"), ("entra", "AzureActiveDirectory")])
def test_dropped_dependency_tags(dependency: str, tag: str) -> None:
    row = tcp(dependency, dependency, "x.test", "198.18.2.20", 443, PortState.FILTERED,
              "no-response")
    assert f"service tag {tag}" in only(list(outbound_blocked(round_of(tcp_results=(row,))))
                                        ).remedy


def test_optional_dependency_dropped_is_a_warning() -> None:
    row = tcp("monitor", "monitor", "m.test", "198.18.2.21", 1886, PortState.FILTERED,
              "no-response", required=False)
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("outbound-dropped", Severity.WARNING)


@pytest.mark.parametrize("reason", ["admin-prohibited", "host-unreach", "net-unreach",
                                    "host-prohibited", "net-prohibited", "time-exceeded"])
def test_rejected_by_a_device_in_the_path(reason: str) -> None:
    row = tcp("storage", "storage", BLOB, "198.18.2.10", 443, PortState.FILTERED, reason,
              responder="198.18.1.1")
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert f.id == "outbound-rejected-path"
    assert "198.18.1.1" in f.summary and reason in f.summary
    assert "in the path, not the target" in f.evidence[0]


@pytest.mark.parametrize("responder", ["198.18.2.10", None])
def test_rejected_by_the_target_itself(responder: str | None) -> None:
    row = tcp("storage", "storage", BLOB, "198.18.2.10", 443, PortState.FILTERED,
              "port-unreach", responder=responder)
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert f.id == "outbound-rejected-host"
    assert "target host itself" in f.summary


@pytest.mark.parametrize("reason", ["local-prohibited", "no-route"])
def test_blocked_locally(reason: str) -> None:
    row = tcp("kv", "keyvault", "kv.test", "198.18.2.30", 443, PortState.FILTERED, reason)
    assert ids(list(outbound_blocked(round_of(tcp_results=(row,))))) == [
        "outbound-blocked-locally"]


def test_outbound_rule_ignores_ok_expected_filtered_unresolved_and_own_rules() -> None:
    rows = (
        tcp("ok", "storage", "a.test", "198.18.2.10", 443, PortState.OPEN, "syn-ack"),
        tcp("meant", "storage", "b.test", "198.18.2.11", 443, PortState.FILTERED, "no-response",
            expected=PortState.FILTERED),
        tcp("nodns", "storage", "c.test", None, 443, PortState.UNRESOLVED, "nxdomain"),
        tcp("mgmt", "management", "d.test", "198.18.2.12", 3443, PortState.FILTERED,
            "no-response"),
        tcp("cfg", "configuration", "e.test", "198.18.2.13", 443, PortState.FILTERED,
            "no-response"),
        tcp("odd", "storage", "f.test", "198.18.2.14", 443, PortState.FILTERED, "error"),
    )
    assert list(outbound_blocked(round_of(tcp_results=rows))) == []


@pytest.mark.parametrize("reason", ["reset", "conn-refused"])
def test_backend_refused_is_transport_error_111(reason: str) -> None:
    row = tcp("orders", "backend", "orders.backend.test", "198.18.2.40", 8080, PortState.CLOSED,
              reason, responder="198.18.2.40")
    f = only(list(refused(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("backend-refused", Severity.CRITICAL)
    assert "transportErrorCode 111" in f.summary and "the host" in f.summary


def test_backend_reset_by_a_middlebox_names_it() -> None:
    row = tcp("orders", "other", "orders.test", "198.18.2.40", 8080, PortState.CLOSED, "reset",
              responder="198.18.1.1", required=False)
    f = only(list(refused(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("backend-refused", Severity.WARNING)
    assert "198.18.1.1 (in the path)" in f.summary


def test_azure_dependency_reset_is_not_a_backend() -> None:
    row = tcp("sql", "sql", SQL, "198.18.2.20", 1433, PortState.CLOSED, "reset")
    f = only(list(refused(round_of(tcp_results=(row,)))))
    assert (f.id, f.severity) == ("outbound-refused", Severity.WARNING)


def test_refused_ignores_expected_closed_and_filtered() -> None:
    rows = (tcp("x", "backend", "x.test", "198.18.2.40", 81, PortState.CLOSED, "reset",
                expected=PortState.CLOSED),
            tcp("y", "backend", "y.test", "198.18.2.41", 81, PortState.FILTERED, "no-response"))
    assert list(refused(round_of(tcp_results=rows))) == []


def test_apim_own_endpoint_dropped_points_at_the_inbound_rule() -> None:
    row = tcp("gateway", "gateway", "apim.azure-api.net", "198.18.2.10", 443, PortState.FILTERED,
              "no-response")
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert f.id == "outbound-dropped" and "inbound NSG rule on the APIM subnet" in f.remedy


def test_backend_dropped_names_its_address_not_a_tag() -> None:
    row = tcp("orders", "backend", "orders.test", "198.18.2.14", 8443, PortState.FILTERED,
              "no-response")
    f = only(list(outbound_blocked(round_of(tcp_results=(row,)))))
    assert "an outbound NSG rule to this address on port 8443" in f.remedy
