"""APIM's view beside ours, end to end: a saved networkstatus against a real lab round.

The saved networkstatus (hand-made, `.test` names only) says two lab
endpoints fail from APIM's subnet: Monitor's gcs endpoint, which the lab
serves on 443 (open from the jump box: the views differ), and SQL, which the
lab's router drops (filtered: corroborated). The findings must reach all three
outputs of `probe --once`: the JSON report, the table and the Prometheus
exposition.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import probe_json, run_probe

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab")]

MONITOR = "gcs.monitoring.core.windows.test"
SQL = "apimlab-sql.database.windows.test"

NETWORKSTATUS = [{"location": "Lab Region", "networkStatus": {
    "dnsServers": ["198.18.2.53"],
    "connectivityStatus": [
        {"name": f"https://{MONITOR}", "status": "failure",
         "error": f"Failed to connect to https://{MONITOR}: The operation has timed out",
         "lastUpdated": "2026-11-30T08:00:00.0000000Z",
         "lastStatusChange": "2026-11-30T07:45:00.0000000Z",
         "resourceType": "Monitoring", "isOptional": False},
        {"name": SQL, "status": "failure",
         "error": f"Failed to connect to {SQL}:1433: A connection attempt failed",
         "lastUpdated": "2026-11-30T08:00:00.0000000Z",
         "lastStatusChange": "2026-11-30T07:30:00.0000000Z",
         "resourceType": "SQLDatabase", "isOptional": False},
        {"name": "LocalGatewayRedis", "status": "success", "error": "",
         "lastUpdated": "2026-11-30T08:00:00.0000000Z",
         "lastStatusChange": "2026-11-01T00:00:00.0000000Z",
         "resourceType": "InternalCache", "isOptional": True},
    ]}}]

CONFIG = """
[agent]
timeout = 1.0
method = "connect"
[dns]
resolvers = ["198.18.2.53"]
[apim]
name = "apimlab"
mode = "internal"
domain = "azure-api.test"
region = "labregion"
azure_dns = ["198.18.2.53"]
instance_address = "198.18.2.10"
health_check = false
import = ["networkstatus.json"]
"""


def _config(tmp_path: Path) -> Path:
    (tmp_path / "networkstatus.json").write_text(json.dumps(NETWORKSTATUS))
    path = tmp_path / "apim.toml"
    path.write_text(CONFIG)
    return path


def test_apims_view_beside_the_agents_in_every_output(tmp_path: Path) -> None:
    config = _config(tmp_path)
    status, report = probe_json(["--once", "-c", str(config)], timeout=120)
    rows = {(r["host"], r["port"]): r for r in report["tcp"]}
    assert rows[(MONITOR, 443)]["state"] == "open"
    assert rows[(SQL, 1433)]["state"] == "filtered"
    assert not any(r["host"] == "localgatewayredis" for r in report["tcp"])
    found = {f["id"]: f for f in report["findings"] if f["id"].startswith("apim-view")}
    assert set(found) == {"apim-view-differs", "apim-view-corroborated"}

    differs = found["apim-view-differs"]
    assert (differs["severity"], differs["subject"]) == ("critical",
                                                         f"{MONITOR}:443 (Lab Region)")
    assert "the difference lies between the APIM subnet and this host's subnet" \
        in differs["summary"]
    evidence = "\n".join(differs["evidence"])
    assert "is failure since 2026-11-30T07:45:00.0000000Z" in evidence
    assert "The operation has timed out" in evidence
    assert "-> 198.18.2.15:443 open/syn-ack by connect" in evidence

    corroborated = found["apim-view-corroborated"]
    assert (corroborated["severity"], corroborated["subject"]) == (
        "critical", f"{SQL}:1433 (Lab Region)")
    assert "corroborated" in corroborated["summary"]
    assert "filtered/no-response by connect" in "\n".join(corroborated["evidence"])
    assert status == 1  # SQL, a required target, is dropped

    table = run_probe(["--once", "-c", str(config), "--color", "never"], timeout=120)
    assert "apim-view-differs" in table.stdout and "apim-view-corroborated" in table.stdout

    prom = run_probe(["--once", "-c", str(config), "--format", "prom"], timeout=120)
    for finding_id in ("apim-view-differs", "apim-view-corroborated"):
        assert any(line.startswith("apim_probe_finding{") and f'id="{finding_id}"' in line
                   for line in prom.stdout.splitlines()), finding_id
