"""APIM's view beside ours, on hand-built rounds: every status against every agent view."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from probe.apim import ApimConfig
from probe.config import Config
from probe.diagnosis import Context, context_from, diagnose
from probe.diagnosis.apim_view import apim_view
from probe.results import (
    ApimCheck,
    Attempt,
    Finding,
    PortState,
    RoundResult,
    Severity,
    TcpResult,
)

ST = "apimst.blob.core.windows.net"
OPEN, FILTERED, CLOSED, UNRESOLVED = (PortState.OPEN, PortState.FILTERED, PortState.CLOSED,
                                      PortState.UNRESOLVED)
_REASON = {OPEN: "syn-ack", FILTERED: "no-response", CLOSED: "reset", UNRESOLVED: "nxdomain"}


def check(status: str = "failure", *, optional: bool = False, host: str | None = ST,
          port: int | None = 443, direction: str = "outbound", name: str = ST,
          dependency: str = "storage", location: str = "West US") -> ApimCheck:
    return ApimCheck(
        name=name, status=status,
        error="Failed to connect: timed out" if status == "failure" else "",
        resource_type="BlobStorage", is_optional=optional,
        last_updated="2024-05-01T10:00:00Z", last_status_change="2024-05-01T09:45:00Z",
        location=location, source="ns.json", dependency=dependency, direction=direction,
        host=host, port=port, dns_servers=("10.0.0.4",))


def tcp(state: PortState, address: str | None = "10.0.0.7", host: str = ST,
        port: int = 443) -> TcpResult:
    answered = state is not FILTERED
    attempts = () if state is UNRESOLVED else tuple(
        Attempt(state, _REASON[state], 0.001 if answered else None,
                address if answered else None, None) for _ in range(3))
    return TcpResult(f"storage:{host}:{port}", "storage", host,
                     None if state is UNRESOLVED else address, port, state, _REASON[state],
                     OPEN, state is OPEN, True, "syn", attempts,
                     address if answered and state is not UNRESOLVED else None)


def round_of(*results: TcpResult) -> RoundResult:
    return RoundResult(datetime(2026, 1, 1, tzinfo=UTC), 0.5, ("10.0.0.4",), (), results)


def view(*results: TcpResult, checks: tuple[ApimCheck, ...]) -> list[Finding]:
    return list(apim_view(round_of(*results), Context(reports=checks)))


AGENT_VIEWS: dict[str, tuple[TcpResult, ...]] = {
    "not probed": (),
    "open": (tcp(OPEN),),
    "open on both addresses": (tcp(OPEN), tcp(OPEN, "10.0.0.8")),
    "dropped": (tcp(FILTERED),),
    "reset": (tcp(CLOSED),),
    "unresolved": (tcp(UNRESOLVED),),
    "open on one address of two": (tcp(OPEN), tcp(FILTERED, "10.0.0.8")),
    "another port only": (tcp(OPEN, port=1886),),
}

# (APIM's status, the agent's view) -> the finding id (None: nothing to say)
EXPECTED: dict[tuple[str, str], str | None] = {
    ("failure", "not probed"): "apim-view-failure",
    ("failure", "open"): "apim-view-differs",
    ("failure", "open on both addresses"): "apim-view-differs",
    ("failure", "dropped"): "apim-view-corroborated",
    ("failure", "reset"): "apim-view-corroborated",
    ("failure", "unresolved"): "apim-view-corroborated",
    ("failure", "open on one address of two"): "apim-view-corroborated",
    ("failure", "another port only"): "apim-view-failure",
    ("success", "dropped"): "apim-view-agent-only",
    ("success", "reset"): "apim-view-agent-only",
    ("success", "unresolved"): "apim-view-agent-only",
}


@pytest.mark.parametrize(("status", "agent", "optional"), list(itertools.product(
    ("failure", "success", "initializing", ""), AGENT_VIEWS, (False, True))))
def test_every_status_against_every_agent_view(status: str, agent: str, optional: bool) -> None:
    found = view(*AGENT_VIEWS[agent], checks=(check(status, optional=optional),))
    expected = EXPECTED.get((status, agent))
    assert [f.id for f in found] == ([expected] if expected else [])
    if not found:
        return
    (finding,) = found
    assert finding.subject == f"{ST}:443 (West US)"
    if finding.id == "apim-view-agent-only":
        assert finding.severity is Severity.INFO
    else:
        assert finding.severity is (Severity.WARNING if optional else Severity.CRITICAL)
    # APIM's word and the agent's, side by side.
    assert finding.evidence[0].startswith(f"APIM in West US: {ST} (BlobStorage, ")
    assert f"is {status} since 2024-05-01T09:45:00Z, last checked 2024-05-01T10:00:00Z" \
        in finding.evidence[0]
    agent_lines = [e for e in finding.evidence if e.startswith("this agent:")]
    relevant = [r for r in AGENT_VIEWS[agent] if r.port == 443]
    assert len(agent_lines) == max(1, len(relevant))


def test_disagreement_says_where_the_difference_lies() -> None:
    (finding,) = view(tcp(OPEN), checks=(check(),))
    assert finding.summary == (f"APIM fails to reach storage {ST}:443 while this agent "
                               "connects: the difference lies between the APIM subnet and "
                               "this host's subnet")
    for words in ("NSG", "route table", "service endpoint or private endpoint",
                  "APIM resolves through 10.0.0.4", "port 443", "probe lint"):
        assert words in finding.remedy
    assert finding.evidence == (
        f"APIM in West US: {ST} (BlobStorage, required) is failure since "
        "2024-05-01T09:45:00Z, last checked 2024-05-01T10:00:00Z",
        "APIM's error: Failed to connect: timed out",
        "APIM resolves through: 10.0.0.4",
        "saved report: ns.json",
        f"this agent: storage:{ST}:443 {ST} -> 10.0.0.7:443 open/syn-ack by syn, "
        "3/3 attempts answered",
    )


def test_agreement_says_corroborated() -> None:
    (finding,) = view(tcp(FILTERED), checks=(check(),))
    assert finding.summary == (f"APIM and this agent both fail to reach storage {ST}:443: "
                               "corroborated")
    assert "filtered/no-response by syn, 0/3 attempts answered" in finding.evidence[-1]
    (partly,) = view(tcp(OPEN), tcp(FILTERED, "10.0.0.8"), checks=(check(),))
    assert "(on 1 of its 2 addresses)" in partly.summary


def test_a_device_in_the_path_is_named_on_the_agent_side() -> None:
    rejected = replace(tcp(FILTERED), reason="admin-prohibited", responder="198.18.1.1")
    (finding,) = view(rejected, checks=(check(),))
    assert finding.evidence[-1].endswith("answered by 198.18.1.1 (in the path)")


def test_host_names_compare_without_case_or_final_dot() -> None:
    result = tcp(OPEN, host=ST.upper() + ".")
    assert [f.id for f in view(result, checks=(check(),))] == ["apim-view-differs"]


@pytest.mark.parametrize("status", ["failure", "success"])
@pytest.mark.parametrize("agent", ["not probed", "open", "dropped"])
def test_inbound_control_plane_check(status: str, agent: str) -> None:
    inbound = check(status, host="contoso.management.azure-api.net", port=3443,
                    direction="inbound", dependency="management",
                    name="https://contoso.management.azure-api.net:3443/servicestatus")
    results = tuple(replace(r, host="contoso.management.azure-api.net", port=3443)
                    for r in AGENT_VIEWS[agent])
    found = view(*results, checks=(inbound,))
    if status == "success":
        assert found == []
        return
    (finding,) = found
    assert (finding.id, finding.severity) == ("apim-view-inbound", Severity.CRITICAL)
    assert "inbound TCP 3443 from service tag ApiManagement" in finding.remedy
    assert len([e for e in finding.evidence if e.startswith("this agent:")]) == len(results)


@pytest.mark.parametrize(("dependency", "words"), [
    ("cache", "6381-6383"), ("scm", "Git"), ("other", "VirtualNetwork and VirtualNetwork")])
def test_internal_checks_are_apims_word_alone(dependency: str, words: str) -> None:
    internal = check(host=None, port=None, direction="internal", name="LocalGatewayRedis",
                     dependency=dependency, optional=True)
    (finding,) = view(tcp(OPEN), checks=(internal,))
    assert (finding.id, finding.severity) == ("apim-view-failure", Severity.WARNING)
    assert finding.subject == "LocalGatewayRedis (West US)"
    assert "one of APIM's internal checks" in finding.summary
    assert finding.evidence[-1] == "this agent: no probe to compare with"
    assert words in finding.remedy
    assert view(checks=(replace(internal, status="success"),)) == []


def test_wildcard_and_unprobed_entries() -> None:
    wildcard = check(host=None, port=None, name="*.blob.core.windows.net")
    (finding,) = view(checks=(wildcard,))
    assert finding.summary == ("APIM reports a failing check: *.blob.core.windows.net was not "
                               "probed this round")
    assert finding.remedy.startswith("Add it as a target ([apim] import of this networkstatus")


def test_one_finding_per_location() -> None:
    found = view(tcp(OPEN), checks=(check(location="West US"), check(location="East US")))
    assert sorted(f.subject for f in found) == [f"{ST}:443 (East US)", f"{ST}:443 (West US)"]
    (bare,) = view(tcp(OPEN), checks=(check(location=""),))
    assert bare.subject == f"{ST}:443"
    assert bare.evidence[0].startswith("APIM in its location: ")


def test_the_rule_is_registered_and_fed_from_the_config() -> None:
    failing = check()
    found = diagnose(round_of(tcp(OPEN)), Context(reports=(failing,)))
    assert [f.id for f in found] == ["apim-view-differs"]
    config = Config(apim=replace(ApimConfig(name="c", mode="internal"), reports=(failing,)))
    assert context_from(config).reports == (failing,)
    assert context_from(Config()).reports == ()
    assert diagnose(round_of(tcp(OPEN))) == ()


def test_among_many_endpoints_each_check_sees_its_own_rows_in_round_order() -> None:
    hosts = [f"st{i}.blob.core.windows.net" for i in range(40)]
    # Interleaved: every host on 443 and 1886, two addresses each, the second
    # address of every endpoint listed after all the first ones.
    rows = [tcp(FILTERED if i % 3 else OPEN, f"10.0.{i}.{n}", host=h, port=p)
            for n in (1, 2) for i, h in enumerate(hosts) for p in (443, 1886)]
    checks = tuple(check(host=h.upper() + ".", name=h, port=p) for h in hosts for p in (443, 1886))
    found = view(*rows, checks=checks)
    assert len(found) == len(checks)
    for finding, one in zip(sorted(found, key=lambda f: f.subject),
                            sorted(checks, key=lambda c: f"{c.host}:{c.port}"), strict=True):
        assert one.host is not None
        host = one.host.rstrip(".").lower()
        own = [r for r in rows if r.host == host and r.port == one.port]
        agent = [e for e in finding.evidence if e.startswith("this agent:")]
        assert agent == [f"this agent: {r.target} {r.host} -> {r.address}:{r.port} "
                         f"{r.state.value}/{r.reason} by syn, {r.received}/{r.sent} attempts "
                         f"answered" + (f", answered by {r.responder} (in the path)"
                                        if r.responder and r.responder != r.address else "")
                         for r in own]
        assert finding.id == ("apim-view-differs" if hosts.index(host) % 3 == 0
                              else "apim-view-corroborated")
