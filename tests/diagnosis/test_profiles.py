"""probe/diagnosis/profiles.py: findings in a mode's own terms. Hand-built rounds."""

from __future__ import annotations

import pytest

from probe.apimmodel import Mode
from probe.diagnosis import Context, profile_dns, workspace_health_port
from probe.results import DnsStatus, PortState, Severity
from tests.helpers.rounds import AZURE, CUSTOM, fail, ok, round_of, tcp

KV = "contoso-kv.vault.azure.net"


@pytest.mark.parametrize("mode", list(Mode))
def test_a_vault_name_failing_on_the_vnet_dns_matters_to_v2_injection_only(mode: Mode) -> None:
    r = round_of(dns_results=(fail(KV, CUSTOM, DnsStatus.NXDOMAIN, "NXDOMAIN"),
                              ok(KV, AZURE, "198.18.2.13")))
    found = list(profile_dns(r, Context(mode=mode)))
    if mode is Mode.V2_INJECTION:
        (f,) = found
        assert (f.id, f.severity, f.subject) == ("profile-dns-unresolved", Severity.CRITICAL, KV)
        assert "*.vault.azure.net" in f.summary and "inject-vnet-v2" not in f.summary
        assert "Inject an Azure API Management instance" in f.remedy
    else:
        assert found == []


def test_only_the_primary_resolver_and_failures_count() -> None:
    ctx = Context(mode=Mode.V2_INJECTION)
    fine = round_of(dns_results=(ok(KV, CUSTOM, "198.18.2.13"),
                                 fail(KV, AZURE, DnsStatus.TIMEOUT)))
    assert list(profile_dns(fine, ctx)) == []  # the secondary failing is dns-resolver-fails'
    other = round_of(dns_results=(fail("st.blob.core.windows.net", CUSTOM, DnsStatus.NXDOMAIN),))
    assert list(profile_dns(other, ctx)) == []
    assert list(profile_dns(round_of(dns_results=(fail(KV, CUSTOM, DnsStatus.REFUSED),)),
                            Context())) == []  # no mode, no profile


@pytest.mark.parametrize(("state", "reason"), [(PortState.CLOSED, "reset"),
                                               (PortState.FILTERED, "no-response"),
                                               (PortState.FILTERED, "admin-prohibited")])
def test_workspace_gateway_port_80_refused_or_dropped(state: PortState, reason: str) -> None:
    gw = "gw1-0a1b.gateway.westeurope-01.azure-api.net"
    r = round_of(tcp_results=(
        tcp("gateway-80", "gateway", gw, "198.18.2.10", 80, state, reason),
        tcp("gateway", "gateway", gw, "198.18.2.10", 443, PortState.OPEN, "syn-ack")))
    (f,) = workspace_health_port(r, Context(mode=Mode.WORKSPACE_GATEWAY_INJECTION))
    assert f.severity is Severity.CRITICAL and "198.18.2.10:80" in f.summary
    assert f"{state.value} ({reason})" in f.summary
    assert list(workspace_health_port(r, Context(mode=Mode.WORKSPACE_GATEWAY_INTEGRATION))) == []
    assert list(workspace_health_port(r, Context(mode=Mode.EXTERNAL))) == []
