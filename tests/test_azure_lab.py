"""The live Azure context end to end in the lab (issue 18): a fake IMDS
(http://198.18.2.60) and a fake ARM (https://198.18.2.61, a test CA) in apl-svc
serve the story of tests/helpers/azure_story.py (recorded Azure answers); the
real CLI and the agent run in the jump box with a config that names only the
instance's resource ID, and probe what ARM said, against the lab's real DNS,
listeners and nftables drops.

What a user sees: the whole APIM-aware report with nothing typed (the live
resource is the instance), the SQL failure the lab's router makes traced to the
NSG rule that explains it, APIM's own stale networkstatus, the permission the
agent lacks with the command to grant it, IMDS's identity in the header; and
never the token, in any output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_NS, findings_by_id, in_client, run_probe
from tests.helpers import azure_story as story
from tests.helpers.agent import Daemon, sample
from tests.helpers.fake_azure import LAB_ARM, LAB_IMDS, in_lab

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab")]

IMDS_ADDR, ARM_ADDR = LAB_IMDS, LAB_ARM


class Running:
    def __init__(self, directory: Path, ca: Path, token: str) -> None:
        self.directory, self.ca, self.token = directory, ca, token
        self.log = directory / "requests.jsonl"

    def requests(self) -> list[dict[str, Any]]:
        text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line]

    def config(self, extra: str = "") -> Path:
        path = self.directory / f"probe-{time.monotonic_ns()}.toml"
        path.write_text(f"""
[agent]
timeout = 1.0
method = "connect"
interval = 2
listen = "127.0.0.1:19839"
[dns]
resolvers = ["198.18.2.53"]
[azure]
imds = "http://{IMDS_ADDR}"
arm = "https://{ARM_ADDR}"
ca_file = "{self.ca}"
apim = "{story.APIM}"
{extra}
""", encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("azure")
    scenario = story.scenario(f"https://{ARM_ADDR}")
    with in_lab(scenario, directory) as (ca, _):
        yield Running(directory, ca, scenario.token)


@pytest.fixture(scope="module")
def report(azure: Running) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    before = len(azure.requests())
    proc = run_probe(["--once", "-c", str(azure.config()), "--format", "json"], timeout=120)
    azure.requests_of_run = azure.requests()[before:]  # type: ignore[attr-defined]
    assert proc.stdout, proc.stderr
    return proc, json.loads(proc.stdout)


def test_the_resource_id_alone_gives_the_whole_apim_report(
        report: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    proc, body = report
    assert proc.returncode == 1, proc.stderr  # the lab's SQL is dropped: a required failure
    assert body["azure"]["apim"] == story.APIM
    assert (body["azure"]["agent"]["vm"], body["azure"]["agent"]["region"]) == ("probe-vm",
                                                                          "eastus")
    rows = {(r["host"], r["port"]): r for r in body["tcp"]}
    # the instance's own names and APIM's dependencies, from ARM: nothing typed
    assert rows[("apimlab.azure-api.test", 443)]["state"] == "open"
    assert rows[("apimlab.management.azure-api.test", 3443)]["state"] == "open"
    assert rows[("apimlab-sql.database.windows.test", 1433)]["state"] == "filtered"
    assert all(not host.endswith((".net", ".com")) for host, _ in rows)
    assert {c["status"] for c in body["apim_view"]} <= {"success", "failure", "initializing"}


def test_the_sql_failure_is_traced_to_the_nsg_rule_that_denies_it(
        report: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    found = findings_by_id(report[1])
    (denied,) = found["nsg-denies-dependency"]
    assert denied["severity"] == "critical"
    assert "'DenySqlOut' (priority 200) in NSG nsg-apim" in denied["summary"]
    assert found["apim-view-stale"] and found["apim-platform-retired"]  # a 2019, stv1 recording
    (missing,) = found["azure-permission-missing"]
    assert "effectiveNetworkSecurityGroups/action" in missing["remedy"]
    assert "az role assignment create" in missing["remedy"] and story.NIC in missing["remedy"]


def test_every_arm_request_carried_the_token_and_its_api_version(
        azure: Running, report: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    del report
    requests = azure.requests_of_run  # type: ignore[attr-defined]
    arm = [r for r in requests if r["server"] == "arm"]
    assert arm and all(r["headers"]["Authorization"] == f"Bearer {azure.token}" for r in arm)
    assert all(r["query"]["api-version"] in (story.APIM_API, story.COMPUTE_API) for r in arm)
    assert len(arm) == 11  # 6 reads, the VM once, 2 effective-* POSTs, 2 polls
    imds = [r for r in requests if r["server"] == "imds"]
    assert all(r["headers"]["Metadata"] == "true" for r in imds)


def test_no_output_holds_the_token(azure: Running,
                                   report: tuple[subprocess.CompletedProcess[str],
                                                 dict[str, Any]]) -> None:
    proc, _ = report
    config = azure.config()
    outputs = [proc.stdout, proc.stderr]
    for fmt in ("table", "prom"):
        other = run_probe(["--once", "-c", str(config), "--format", fmt], timeout=120)
        outputs += [other.stdout, other.stderr]
    context = run_probe(["context", "-c", str(config), "--format", "json"], timeout=60)
    outputs += [context.stdout, context.stderr]
    assert json.loads(context.stdout)["arm"]["apim"] == story.APIM
    assert "apim_probe_apim_view_info" in outputs[2] or "apim_probe_apim_view_info" in outputs[4]
    assert all(azure.token not in text for text in outputs)


def test_the_agent_keeps_the_live_context_beside_its_rounds(azure: Running) -> None:
    daemon = Daemon("-c", str(azure.config()), "--log-format", "json",
                    prefix=("ip", "netns", "exec", CLIENT_NS))
    try:
        daemon.wait_for('"event": "azure_read"', timeout=30)
        port = int(json.loads(daemon.wait_for('"event": "listening"'))["port"])
        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            out = in_client([sys.executable, "-c", "import sys, urllib.request; sys.stdout.write("
                             f"urllib.request.urlopen('http://127.0.0.1:{port}/metrics', "
                             "timeout=5).read().decode())"])
            body = out.stdout
            if sample(body, "apim_probe_tcp_success", target="management") is not None \
                    and "apim_probe_apim_view_info" in body:
                break
            time.sleep(0.5)
        assert sample(body, "apim_probe_azure_context_age_seconds") is not None
        assert sample(body, "apim_probe_azure_read_errors_total", call="effective_nsg",
                      code="403") == 1
        assert sample(body, "apim_probe_agent_info", vm="probe-vm", region="eastus") == 1
        assert sample(body, "apim_probe_finding", id="nsg-denies-dependency") is not None \
            or "nsg-denies-dependency" in body
        assert azure.token not in body and all(azure.token not in line for line in daemon.lines)
    finally:
        daemon.stop()


def test_the_dashboards_azure_panels_show_the_live_context(azure: Running,
                                                           tmp_path: Path) -> None:
    from grafana.dashboard import AZURE_PANELS
    from tests.helpers import promlab
    from tests.helpers.generated import RULES, dashboard, panels
    from tests.prometheus.test_queries_lab import RUNNER, substitute

    text = azure.config().read_text(encoding="utf-8").replace(
        'listen = "127.0.0.1:19839"\n', "").replace("interval = 2", "interval = 1")
    wanted = [p for p in panels(dashboard()) if p["title"] in AZURE_PANELS]
    assert len(wanted) == len(AZURE_PANELS)
    items = [{"where": p["title"], "ref": "A", "expr": substitute(p["targets"][0]["expr"])}
             for p in wanted]
    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps(items), encoding="utf-8")
    with promlab.agent_and_prometheus(tmp_path, text, rule_files=[RULES],
                                      scrape_timeout="900ms") as running:
        proc = in_client([sys.executable, "-c", RUNNER, running.base, str(queries), "40",
                          promlab.JOB], timeout=50)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {q["where"]: q for q in json.loads(proc.stdout)["queries"] if q["ref"] == "A"}
    assert all(results[t]["status"] == "success" and results[t]["result"]
               for t in AZURE_PANELS), results
    statuses = {r["metric"]["status"] for r in results["APIM's networkstatus"]["result"]}
    assert statuses <= {"success", "failure", "initializing"} and statuses
    failed = {(r["metric"]["call"], r["metric"]["code"])
              for r in results["Failed Azure reads"]["result"]}
    assert ("effective_nsg", "403") in failed
