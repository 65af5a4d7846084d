"""What the live Azure context means (issue 18), without sockets: recorded ARM
answers (tests/helpers/azure_story.py) folded into the targets (the config
wins), parsed into facts once, and the findings they give beside a round."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from probe.apim import ApimConfig
from probe.apimmodel import Mode
from probe.azure.apply import apply
from probe.azure.context import AzureState
from probe.azure.facts import Facts, facts_from
from probe.azure.live import ACTIONS, Live
from probe.config import Config
from probe.diagnosis import Context, diagnose
from probe.diagnosis.azure import azure_context, live_explains, vantage
from probe.results import AzureReadError, PortState, RoundResult, Severity
from probe.targets import with_live
from tests.helpers import azure_story as story
from tests.helpers.metrics_data import tcp

READ_AT = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)


def live(**changes: Any) -> Live:
    docs = story.documents()
    docs.update(changes)
    subnet = next(s for s in docs["vnet"]["properties"]["subnets"] if s["name"] == "apim")
    paths = {"service": story.APIM, "networkstatus": f"{story.APIM}/networkstatus",
             "outbound": f"{story.APIM}/outboundNetworkDependenciesEndpoints",
             "vnet": story.VNET, "nsg": story.NSG, "route_table": story.RT, "vm": story.VM,
             "effective_routes": f"{story.NIC}/effectiveRouteTable"}
    documents = [(call, paths[call], docs[call]) for call in paths if docs.get(call) is not None]
    documents.insert(4, ("subnet", story.SUBNET, subnet))
    return Live(apim_id=story.APIM, read_at=READ_AT, documents=tuple(documents),
                ids={"subnet": story.SUBNET, "nsg": story.NSG, "route_table": story.RT,
                     "nic": story.NIC})


def state(**changes: Any) -> AzureState:
    return AzureState(live=live(**changes), live_at=100.0, version=1, arm="https://arm.test")


def round_(*rows: Any) -> RoundResult:
    return RoundResult(READ_AT, 0.5, ("198.18.2.53",), (), tuple(rows))


SQL_DROPPED = tcp("sql", "apimlab-sql.database.windows.test", "198.18.2.13", 1433,
                  PortState.FILTERED, "no-response", dependency="sql")


# -- the targets: what ARM says, under the config ------------------------------------


def test_with_no_apim_section_the_live_resource_is_the_instance() -> None:
    applied = apply(Config(), state())
    apim = applied.config.apim
    assert apim is not None
    assert (apim.name, apim.mode, apim.domain, apim.platform) == (
        "apimlab", Mode.EXTERNAL, "azure-api.test", "stv1")
    hosts = {(t.host, t.port) for t in applied.config.targets}
    assert {("apimlab.azure-api.test", 443), ("apimlab.management.azure-api.test", 3443),
            ("apimlabst.blob.core.windows.test", 443),
            ("apimlab-sql.database.windows.test", 1433)} <= hosts
    assert all(not h.endswith((".net", ".com")) for h, _ in hosts)  # the story names no real host
    assert len(apim.reports) == 13 and {c.location for c in apim.reports} == {"East US"}


def test_the_config_wins_and_a_contradiction_is_a_note_not_an_error() -> None:
    config = Config(apim=ApimConfig(name="apimlab", mode=Mode.INTERNAL, domain="azure-api.test"))
    expanded, notes = with_live(config, [("service", "ARM service", story.documents()["service"])])
    assert expanded.apim is not None and expanded.apim.mode is Mode.INTERNAL
    assert len(notes) == 1 and "mode = 'internal'" in notes[0] and "External" in notes[0]
    facts = facts_from(live(), Mode.INTERNAL, extra_notes=notes)
    found = list(azure_context(round_(), Context(azure=facts)))
    assert "azure-config-contradicts" in {f.id for f in found}


def test_an_explicit_target_keeps_its_settings_over_a_live_one() -> None:
    from probe.config import Target

    mine = Target("management", "apimlab.management.azure-api.test", 3443, required=False,
                  dependency="management")
    applied = apply(Config(targets=(mine,)), state())
    (management,) = [t for t in applied.config.targets if t.name == "management"]
    assert management.required is False


def test_a_live_document_the_readers_refuse_is_a_note() -> None:
    config = Config(apim=ApimConfig(name="apimlab", mode=Mode.EXTERNAL, domain="azure-api.test"))
    expanded, notes = with_live(config, [("networkstatus", "ARM networkstatus", {"x": 1})])
    assert expanded.targets == with_live(config, [])[0].targets
    assert len(notes) == 1 and notes[0].startswith("ARM networkstatus: ")


# -- the facts: parsed once per refresh ------------------------------------------------


def test_facts_hold_the_subnet_its_nsg_routes_and_the_agents_view() -> None:
    facts = facts_from(live(), Mode.EXTERNAL)
    assert str(facts.subnet) == "10.0.0.0/24"
    assert facts.nsg is not None and facts.nsg.name == "nsg-apim"
    assert "DenySqlOut" in {r.name for r in facts.nsg.rules}
    assert facts.route_table == "rt-apim" and facts.routes
    assert facts.agent_routes is not None and facts.agent_nsgs is None  # the NSG read was refused
    assert facts.status_age is not None and facts.status_age > 86400 * 365  # a 2019 recording
    # the live NSG and route table are linted with probe lint's engine
    assert {f.id for f in facts.lint} & {"nsg-rule-missing", "nsg-rule-shadowed"}


# -- the findings ---------------------------------------------------------------------


def test_a_failing_dependency_names_the_nsg_rule_that_denies_it() -> None:
    facts = facts_from(live(), Mode.EXTERNAL)
    (found,) = live_explains(round_(SQL_DROPPED), Context(azure=facts))
    assert found.id == "nsg-denies-dependency" and found.severity is Severity.CRITICAL
    assert "'DenySqlOut' (priority 200) in NSG nsg-apim" in found.summary
    assert "priority number lower than 200" in found.remedy


def test_a_failing_dependency_names_the_route_that_diverts_it() -> None:
    table = copy.deepcopy(story.documents()["route_table"])
    table["properties"]["routes"] = [{"name": "to-firewall", "properties": {
        "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance",
        "nextHopIpAddress": "198.18.1.1"}}]
    nsg = copy.deepcopy(story.documents()["nsg"])
    nsg["properties"]["securityRules"] = []
    facts = facts_from(live(route_table=table, nsg=nsg), Mode.EXTERNAL)
    (found,) = live_explains(round_(SQL_DROPPED), Context(azure=facts))
    assert found.id == "route-diverts-dependency"
    assert "'to-firewall' (0.0.0.0/0 -> VirtualAppliance 198.18.1.1)" in found.summary


def test_a_dependency_that_works_is_not_explained() -> None:
    ok = tcp("sql", "apimlab-sql.database.windows.test", "198.18.2.13", 1433, PortState.OPEN,
             "syn-ack", dependency="sql")
    assert not list(live_explains(round_(ok), Context(azure=facts_from(live(), Mode.EXTERNAL))))


def test_apims_report_older_than_30_minutes_is_stale() -> None:
    doc = copy.deepcopy(story.documents()["networkstatus"])
    for location in doc:
        for check in location["networkStatus"]["connectivityStatus"]:
            check["lastUpdated"] = (READ_AT - timedelta(minutes=20)).isoformat()
    fresh = facts_from(live(networkstatus=doc), Mode.EXTERNAL)
    assert "apim-view-stale" not in {f.id for f in azure_context(round_(), Context(azure=fresh))}
    old = facts_from(live(), Mode.EXTERNAL)
    (stale,) = [f for f in azure_context(round_(), Context(azure=old))
                if f.id == "apim-view-stale"]
    assert "management channel" in stale.remedy


def test_a_missing_permission_says_what_to_grant_where_and_the_command() -> None:
    error = AzureReadError("effective_nsg", "403", "HTTP 403 AuthorizationFailed",
                           ACTIONS["effective_nsg"], story.NIC)
    facts = Facts(errors=(error,))
    (found,) = azure_context(round_(), Context(azure=facts))
    assert found.id == "azure-permission-missing" and found.severity is Severity.WARNING
    assert ACTIONS["effective_nsg"] in found.remedy
    assert 'az role assignment create' in found.remedy and story.NIC in found.remedy


@pytest.mark.parametrize(("call", "code", "severity"), [
    ("networkstatus", "429", Severity.WARNING), ("effective_routes", "400", Severity.INFO)])
def test_another_failed_read_keeps_the_last_context(call: str, code: str,
                                                    severity: Severity) -> None:
    facts = Facts(errors=(AzureReadError(call, code, f"HTTP {code}"),))
    (found,) = azure_context(round_(), Context(azure=facts, azure_age=1800))
    assert (found.id, found.severity) == ("azure-read-failed", severity)
    assert "30 min old" in found.remedy


def test_the_agents_vantage_differs_from_apims() -> None:
    other = f"{story.NET}/networkSecurityGroups/nsg-probe"
    facts = Facts(agent_nsgs=(other.lower(),), apim_nsg=story.NSG.lower(),
                  agent_routes=frozenset(), apim_routes=frozenset(
                      {(("0.0.0.0/0",), "virtualappliance", ("198.18.1.1",))}),
                  route_table="rt-apim")
    (found,) = vantage(round_(), Context(azure=facts))
    assert "NSG nsg-probe (this agent) vs nsg-apim (APIM)" in found.summary
    assert "1 only APIM's route table rt-apim has" in found.summary
    same = Facts(agent_nsgs=(story.NSG.lower(),), apim_nsg=story.NSG.lower(),
                 agent_routes=frozenset(), apim_routes=frozenset())
    assert not list(vantage(round_(), Context(azure=same)))


def test_without_azure_no_rule_says_anything() -> None:
    assert not [f for f in diagnose(round_(SQL_DROPPED)) if f.id.startswith(("azure-", "nsg-d"))]


def test_a_read_that_raises_anything_fails_alone() -> None:
    from probe.azure.live import read_live

    docs = story.documents()

    class Arm:
        requests = 0

        def get(self, call: str, path: str, api: str) -> Any:
            if call == "networkstatus":
                raise RuntimeError("a library's surprise")
            return docs[call]

        def pages(self, call: str, path: str, api: str) -> Any:
            return iter(docs["outbound"]["value"])

        def action(self, call: str, path: str, api: str) -> Any:
            return docs["effective_routes"]

    live = read_live(Arm(), story.APIM, None)
    assert [(e.call, e.code) for e in live.errors] == [("networkstatus", "error")]
    assert "RuntimeError: a library's surprise" in live.errors[0].message
    assert {c for c, _, _ in live.documents} == {"service", "outbound", "vnet", "subnet", "nsg",
                                                 "route_table"}
