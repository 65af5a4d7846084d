"""The live reads through ARM (issue 18) against a fake IMDS and a fake ARM on
loopback (HTTPS from a test CA, real recorded Azure bodies: tests/helpers/
azure_story.py says what is changed in them): the managed identity's token,
each call with its api-version, long-running operations, and every way a read
fails (401, 403, 404, 429 with Retry-After, IMDS 410, a slow answer, a dropped
connection), each alone, the last good answer kept, no token anywhere."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probe.azure.apply import apply
from probe.azure.context import AzureWatch, read_once
from probe.azure.live import ACTIONS
from probe.azure.settings import AzureConfig
from probe.config import Config
from probe.exporters import jsonreport, prometheus, table
from tests.helpers import azure_story as story
from tests.helpers.fake_azure import Fake, serving

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    for name in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE",
                 "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                 "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with serving(story.scenario("https://placeholder"), tmp_path) as running:
        token = running.state.scenario.token
        running.state.scenario = story.scenario(running.arm_url)
        running.state.scenario.token = token
        yield running


def route(fake: Fake, call: str, responses: list[dict[str, Any]]) -> None:
    api = story.COMPUTE_API if call == "vm" else story.APIM_API
    fake.state.scenario.arm = story.scenario(fake.arm_url, **{call: {
        "api": api, "responses": responses}}).arm
    fake.state.calls.clear()


def config(fake: Fake, **changes: Any) -> AzureConfig:
    return AzureConfig(imds=fake.imds_url, arm=fake.arm_url, ca_file=str(fake.ca_file),
                       apim=story.APIM, **changes)


def arm_requests(fake: Fake) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["server"] == "arm"]


def test_every_call_carries_the_identitys_token_and_its_api_version(fake: Fake) -> None:
    state = read_once(config(fake))
    assert state.instance is not None and state.instance.name == "probe-vm"
    live = state.live
    assert live is not None
    assert [c for c, _, _ in live.documents] == [
        "service", "networkstatus", "outbound", "vnet", "subnet", "nsg", "route_table", "vm",
        "effective_routes"]
    requests = arm_requests(fake)
    assert requests and all(r["headers"]["Authorization"] == f"Bearer {fake.state.scenario.token}"
                            for r in requests)
    assert all(r["query"]["api-version"] == (story.COMPUTE_API if "virtualMachines" in r["path"]
                                             else story.APIM_API) for r in requests)
    token = [r for r in fake.requests if r["path"] == "/metadata/identity/oauth2/token"]
    assert len(token) == 1 and token[0]["headers"]["Metadata"] == "true"
    assert token[0]["query"]["resource"] == fake.arm_url  # the configured ARM's audience
    # one refresh: 10 requests (1 VM read, once; 2 polls of the LRO), counted as sent
    assert live.requests == len(requests) == 11


def test_a_long_running_operation_is_polled_until_its_answer(fake: Fake) -> None:
    live = read_once(config(fake)).live
    assert live is not None
    polls = [r for r in arm_requests(fake) if "operationResults" in r["path"]]
    assert len(polls) == 2 and polls[1]["time"] - polls[0]["time"] >= 0.9  # Retry-After: 1
    routes = live.doc("effective_routes")
    assert [r["nextHopType"] for r in routes["value"]][:2] == ["VnetLocal", "Internet"]


def test_a_refusal_names_the_action_the_scope_and_skips_only_that(fake: Fake) -> None:
    live = read_once(config(fake)).live
    assert live is not None
    (error,) = live.errors
    assert (error.call, error.code) == ("effective_nsg", "403")
    assert error.action == ACTIONS["effective_nsg"]
    assert error.scope == story.NIC
    assert "AuthorizationFailed" in error.message


@pytest.mark.parametrize(("call", "responses", "code"), [
    ("networkstatus", [{"status": 404, "body": {"error": {"code": "ResourceNotFound",
                                                           "message": "gone"}}}], "404"),
    ("vnet", [{"drop": True}], "connection"),
    ("nsg", [{"status": 503, "body": None}], "503"),
])
def test_a_read_that_fails_fails_alone(fake: Fake, call: str, responses: list[dict[str, Any]],
                                       code: str) -> None:
    route(fake, call, responses)
    live = read_once(config(fake)).live
    assert live is not None
    assert [(e.call, e.code) for e in live.errors if e.call != "effective_nsg"] == [(call, code)]
    read = {c for c, _, _ in live.documents}
    assert "service" in read and call not in read
    if call == "vnet":  # the NSG and route table are found through the VNet
        assert not read & {"nsg", "route_table"}
    else:
        assert "route_table" in read


def test_429_honours_retry_after(fake: Fake) -> None:
    route(fake, "networkstatus", [
        {"status": 429, "headers": {"Retry-After": "2"},
         "body": {"error": {"code": "TooManyRequests", "message": "throttled"}}},
        {"status": 200, "body": story.documents()["networkstatus"]}])
    live = read_once(config(fake)).live
    assert live is not None and live.doc("networkstatus") is not None
    asks = [r["time"] for r in arm_requests(fake) if r["path"].endswith("/networkstatus")]
    assert len(asks) == 2 and asks[1] - asks[0] >= 1.9


def test_a_slow_answer_is_waited_for(fake: Fake) -> None:
    route(fake, "route_table", [{"status": 200, "delay": 1.5,
                                 "body": story.documents()["route_table"]}])
    live = read_once(config(fake)).live
    assert live is not None and live.doc("route_table") is not None


def test_a_token_arm_does_not_accept_is_a_401(fake: Fake) -> None:
    fake.state.scenario.arm_token = "a-token-imds-did-not-issue"
    live = read_once(config(fake)).live
    assert live is not None
    assert {e.code for e in live.errors} == {"401"}
    assert all(not e.action for e in live.errors)  # not a permission: the token
    assert not live.documents


def test_imds_410_while_it_starts_is_waited_out(fake: Fake) -> None:
    fake.state.scenario.imds = [{"status": 410}, {"status": 410}, {"status": 200}]
    state = read_once(dataclasses.replace(config(fake), apim=""), retry_for=10)
    assert state.instance is not None and state.instance.name == "probe-vm"


def test_no_managed_identity_is_a_token_error_not_a_crash(fake: Fake) -> None:
    fake.state.scenario.token_status = 400  # IMDS: no identity assigned to this VM
    live = read_once(config(fake)).live
    assert live is not None and not live.documents
    assert {e.code for e in live.errors} == {"token"}


def test_the_last_good_answer_of_a_failed_read_is_kept(fake: Fake) -> None:
    events: list[str] = []
    watch = AzureWatch(lambda event, *a, **k: events.append(event))
    watch._refresh(config(fake))  # what the watch's thread runs, here
    first = watch.state
    assert first.live is not None and not [e for e in first.live.errors
                                           if e.call != "effective_nsg"]
    route(fake, "networkstatus", [{"status": 404, "body": {"error": {
        "code": "ResourceNotFound", "message": "gone"}}}])
    watch._refresh(config(fake))
    second = watch.state
    assert second.version == first.version + 1 and second.live is not None
    assert ("networkstatus", "404") in {(e.call, e.code) for e in second.live.errors}
    assert second.live.doc("networkstatus") == first.live.doc("networkstatus")  # kept
    assert dict(((c, k), n) for c, k, n in second.counts)[("effective_nsg", "403")] == 2
    assert events.count("azure_read") == 2 and "azure_context" in events
    # a VNet that fails keeps the subnet, NSG and route table read through it last time
    route(fake, "vnet", [{"status": 500, "body": None}])
    watch._refresh(config(fake))
    third = watch.state.live
    assert third is not None and ("vnet", "500") in {(e.call, e.code) for e in third.errors}
    for call in ("subnet", "nsg", "route_table"):
        assert third.doc(call) == first.live.doc(call)


def test_outputs_never_hold_the_token(fake: Fake) -> None:
    state = read_once(config(fake))
    applied = apply(Config(azure=config(fake)), state)
    facts, summary = applied.view()
    from datetime import UTC, datetime

    from probe.results import RoundResult

    result = RoundResult(datetime.now(UTC), 0.1, (), (), (), azure=summary,
                         apim_view=applied.config.apim.reports if applied.config.apim else ())
    texts = [jsonreport.render(result), table.render(result), repr(state), repr(facts),
             prometheus.one_round(result)[0].decode()]
    token = fake.state.scenario.token
    assert token and all(token not in text for text in texts)
    assert "apim_probe_apim_view_info" in texts[-1]


def test_the_role_grants_exactly_the_actions_the_reads_use() -> None:
    role = json.loads((ROOT / "deploy" / "azure" / "apim-probe-reader.json").read_text())
    assert sorted(role["Actions"]) == sorted(set(ACTIONS.values()))
    assert role["NotActions"] == role["DataActions"] == []
    readme = (ROOT / "deploy" / "azure" / "README.md").read_text()
    assert all(f"`{action}`" in readme for action in ACTIONS.values())


def test_config_keys_are_the_dataclass() -> None:
    assert {f.name for f in dataclasses.fields(AzureConfig)} == {
        "identity", "client_id", "imds", "arm", "apim", "refresh", "effective", "ca_file"}


def test_a_name_is_found_in_the_subscription_imds_names_across_pages(fake: Fake) -> None:
    listing = f"/subscriptions/{story.SUB}/providers/Microsoft.ApiManagement/service"
    other = {"id": f"/subscriptions/{story.SUB}/resourceGroups/x/providers/"
                   "Microsoft.ApiManagement/service/other", "name": "other"}
    fake.state.scenario.arm[f"GET {listing}"] = {"api": story.APIM_API, "responses": [
        {"status": 200, "body": {"value": [other],
                                 "nextLink": f"{fake.arm_url}{listing}/page2?api-version="
                                             f"{story.APIM_API}"}}]}
    fake.state.scenario.arm[f"GET {listing}/page2"] = {"api": story.APIM_API, "responses": [
        {"status": 200, "body": {"value": [{"id": story.APIM, "name": "apimlab"}]}}]}
    live = read_once(dataclasses.replace(config(fake), apim="APIMLAB")).live
    assert live is not None and live.apim_id == story.APIM
    assert live.doc("service") is not None
    pages = [r["path"] for r in arm_requests(fake) if r["path"].startswith(listing)]
    assert pages == [listing, f"{listing}/page2"]


def test_a_next_link_to_another_host_is_refused_and_gets_no_token(fake: Fake) -> None:
    route(fake, "outbound", [{"status": 200, "body": {
        "value": [], "nextLink": "https://198.18.0.1/steal?api-version=2024-05-01"}}])
    live = read_once(config(fake)).live
    assert live is not None
    (error,) = [e for e in live.errors if e.call == "outbound"]
    assert error.code == "host" and "198.18.0.1" in error.message
    assert "outbound" not in {c for c, _, _ in live.documents}


def test_imds_gives_the_region_a_config_leaves_out(fake: Fake) -> None:
    from probe.apim import ApimConfig
    from probe.apimmodel import Mode

    state = read_once(dataclasses.replace(config(fake), apim=""))
    applied = apply(Config(apim=ApimConfig(name="apimlab", mode=Mode.EXTERNAL)), state)
    assert applied.config.apim is not None and applied.config.apim.region == "eastus"
    mine = apply(Config(apim=ApimConfig(name="apimlab", mode=Mode.EXTERNAL, region="westus")),
                 state)
    assert mine.config.apim is not None and mine.config.apim.region == "westus"
