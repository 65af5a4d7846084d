"""`probe fleet`: the grid, the disagreements and what fails everywhere, built
from Prometheus answers (pure, exhaustive), and the command against a real
Prometheus on loopback scraping three agents' expositions that differ only by
the labels Prometheus puts on them (as under remote_write)."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from probe import fleet
from probe.exporters import prometheus as prom
from probe.results import PortState
from tests.helpers.metrics_data import sample_round
from tests.helpers.processes import stop

LOCAL = {"job": "apim-probe", "instance": "127.0.0.1:9839"}


def agent(vnet: str, region: str = "westeurope") -> dict[str, str]:
    return {**LOCAL, "vnet": vnet, "region": region}


def streak(who: dict[str, str], dependency: str, host: str, port: str, runs: int,
           target: str | None = None) -> tuple[dict[str, str], str]:
    return ({**who, "target": target or dependency, "dependency": dependency, "host": host,
             "port": port}, str(runs))


A, B, C = agent("vnet-a"), agent("vnet-b"), agent("vnet-c", "northeurope")
BLOB = ("storage", "st.blob.core.windows.net", "443")
KV = ("keyvault", "kv.vault.azure.net", "443")
SQL = ("sql", "sql.database.windows.net", "1433")


def test_fails_here_works_elsewhere_names_the_vnet() -> None:
    f = fleet.build("http://p", [
        streak(A, *BLOB, 0), streak(B, *BLOB, 3), streak(C, *BLOB, 0),
        streak(A, *KV, 2), streak(B, *KV, 5), streak(C, *KV, 2),
        streak(A, *SQL, 1), streak(B, *SQL, 0),  # one bad round: not failing yet
    ], [(A, "4"), (B, "5"), (C, "6")], [])
    assert [a.name for a in f.agents] == ["vnet-a (westeurope)", "vnet-b (westeurope)",
                                          "vnet-c (northeurope)"]
    [local] = f.disagreements()
    assert (local.dependency, local.host, local.port) == BLOB
    assert [f.name(k) for k in local.failing()] == ["vnet-b (westeurope)"]
    assert sorted(f.name(k) for k in local.working()) == ["vnet-a (westeurope)",
                                                          "vnet-c (northeurope)"]
    [everywhere] = f.everywhere()
    assert everywhere.dependency == "keyvault"
    assert fleet.exit_status(f) == 1
    text = fleet.render_table(f)
    assert ("storage st.blob.core.windows.net:443 fails from vnet-b (westeurope), works from "
            "vnet-a (westeurope), vnet-c (northeurope): local to the failing VNet's NSG, "
            "routes or DNS") in text
    assert "keyvault kv.vault.azure.net:443 fails from all 3 agents" in text
    assert "ok? 1" in text and "FAIL 3" in text
    data = json.loads(fleet.render_json(f))
    assert data["fails_here_works_elsewhere"] == [{
        "dependency": "storage", "host": "st.blob.core.windows.net", "port": "443",
        "failing": ["vnet-b (westeurope)"],
        "working": ["vnet-a (westeurope)", "vnet-c (northeurope)"]}]
    assert data["fails_everywhere"][0]["agents"] == 3
    assert {a["name"]: a["last_round_age_seconds"] for a in data["agents"]} == {
        "vnet-a (westeurope)": 4.0, "vnet-b (westeurope)": 5.0, "vnet-c (northeurope)": 6.0}


def test_a_healthy_fleet_exits_0_and_says_none() -> None:
    f = fleet.build("http://p", [streak(A, *BLOB, 0), streak(B, *BLOB, 1)], [], [])
    assert fleet.exit_status(f) == 0
    assert not f.disagreements() and not f.everywhere()
    assert fleet.render_table(f).count("  none") == 2


def test_one_agent_alone_is_neither_story() -> None:
    f = fleet.build("http://p", [streak(A, *BLOB, 4)], [(A, "1")], [])
    assert not f.disagreements() and not f.everywhere()
    assert fleet.exit_status(f) == 1


def test_agents_told_apart_by_instance_when_centrally_scraped() -> None:
    one = {"job": "apim-probe", "instance": "jump1:9839"}
    two = {"job": "apim-probe", "instance": "jump2:9839"}
    f = fleet.build("http://p", [streak(one, *BLOB, 2), streak(two, *BLOB, 0)],
                    [], [({**one, "vnet": "hub"}, "1")])
    # agent_info adds the agent's own [agent] labels to its name
    assert [a.name for a in f.agents] == ["hub", "jump2:9839"]
    assert f.agents[0].labels == {"vnet": "hub"}
    assert [f.name(k) for k in f.disagreements()[0].failing()] == ["hub"]


def test_two_targets_on_one_endpoint_count_the_worse() -> None:
    f = fleet.build("http://p", [streak(A, *BLOB, 0, target="blob-1"),
                                 streak(A, *BLOB, 3, target="blob-2"),
                                 streak(B, *BLOB, 0)], [], [])
    [endpoint] = f.endpoints
    assert endpoint.streaks[fleet.agent_key(A, fleet.PER_TARGET)] == 3


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-3", "1e400"])
def test_odd_numbers_from_the_api_count_as_no_streak(value: str) -> None:
    f = fleet.build("http://p", [streak(A, *BLOB, 0)], [(A, value)], [])
    text = fleet.render_table(f)
    assert "nan" not in text.lower() and "inf" not in text.lower()


def test_hostile_label_values_cannot_forge_lines() -> None:
    evil = agent("vnet-a\n  storage x fails from every agent\x1b[2J")
    f = fleet.build("http://p", [streak(evil, *BLOB, 3), streak(B, *BLOB, 0)], [], [])
    text = fleet.render_table(f)
    assert "\x1b" not in text
    assert "\n  storage x fails" not in text
    assert "\\u000a" in text


# --------------------------------------------------------------------------
# the command, against a real Prometheus on loopback

PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Serve(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[dict[str, bytes]] = {}
    status = 200

    def do_GET(self) -> None:
        body = self.bodies.get(self.path.split("?")[0], b"")
        self.send_response(self.status if body or self.status != 200 else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def agents() -> Iterator[int]:
    """Three agents' /metrics on one loopback server (/a, /b, /c): vnet-b's
    storage fails (second failing round), the others reach it."""
    result = sample_round()
    broken = replace(result, tcp=tuple(
        replace(r, state=PortState.FILTERED, reason="no-response", ok=False)
        if r.target == "management" else r for r in result.tcp))
    first, _ = prom.one_round(broken)
    bodies = {"/a": prom.one_round(result)[0],
              "/b": prom.one_round(broken, previous=first.decode())[0],
              "/c": prom.one_round(result)[0]}
    handler = type("Handler", (_Serve,), {"bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def prometheus(agents: int, tmp_path: Path) -> Iterator[str]:
    if PROMETHEUS is None:
        pytest.skip("prometheus not installed (Debian: apt-get install prometheus)")
    port = _free_port()
    jobs = []
    for path, vnet, region in (("/a", "vnet-a", "westeurope"), ("/b", "vnet-b", "westeurope"),
                               ("/c", "vnet-c", "northeurope")):
        # Every agent is job="apim-probe", instance="127.0.0.1:9839", told apart
        # only by vnet and region: the shape remote_write gives a central store.
        jobs.append({"job_name": f"agent-{vnet}", "metrics_path": path,
                     "static_configs": [{"targets": [f"127.0.0.1:{agents}"],
                                        "labels": {"vnet": vnet, "region": region}}],
                     "relabel_configs": [
                         {"target_label": "instance", "replacement": "127.0.0.1:9839"},
                         {"target_label": "job", "replacement": "apim-probe"}]})
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}),
                      encoding="utf-8")
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        query = base + "/api/v1/query?" + urllib.parse.urlencode(
            {"query": "count(apim_probe_target_info)"})
        while True:
            try:
                with urllib.request.urlopen(query, timeout=2) as answer:
                    result = json.loads(answer.read())["data"]["result"]
                if result and result[0]["value"][1] == str(3 * 4):  # 4 targets x 3 agents
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            time.sleep(0.3)
        yield base
    finally:
        stop(proc)
        log.close()


def probe_fleet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "probe", "fleet", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_probe_fleet_against_a_real_prometheus(prometheus: str) -> None:
    proc = probe_fleet("--prometheus", prometheus)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FLEET  3 agent(s)" in proc.stdout
    assert ("management apimlab.management.azure-api.test:3443 fails from vnet-b (westeurope), "
            "works from vnet-a (westeurope), vnet-c (northeurope)") in proc.stdout, proc.stdout
    data = json.loads(probe_fleet("--prometheus", prometheus, "--format", "json").stdout)
    assert [a["name"] for a in data["agents"]] == [
        "vnet-a (westeurope)", "vnet-b (westeurope)", "vnet-c (northeurope)"]
    assert all(a["last_round_age_seconds"] is not None for a in data["agents"])
    # sql is dropped from every agent in the sample round, but its streak is 1
    # on two agents (a single --once run): not failing everywhere yet
    assert data["fails_everywhere"] == []


def test_probe_fleet_says_what_is_wrong_with_the_api(tmp_path: Path) -> None:
    port = _free_port()  # nobody listens
    proc = probe_fleet("--prometheus", f"http://127.0.0.1:{port}")
    assert proc.returncode == 2
    assert f"http://127.0.0.1:{port}: cannot query" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = probe_fleet("--prometheus", "ftp://x")
    assert proc.returncode == 2 and "expected an http:// or https:// URL" in proc.stderr
    token = tmp_path / "token"
    token.write_text("two words\n", encoding="utf-8")
    proc = probe_fleet("--prometheus", "http://127.0.0.1:1", "--bearer-token-file", str(token))
    assert proc.returncode == 2 and "expected one bearer token" in proc.stderr


def test_probe_fleet_names_an_auth_failure_and_a_non_prometheus_answer() -> None:
    for status, body, message in ((401, b"no", "HTTP 401"),
                                  (200, b"<html>login</html>", "expected a Prometheus query")):
        handler = type("Handler", (_Serve,), {"bodies": {"/api/v1/query": body},
                                              "status": status})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            proc = probe_fleet("--prometheus", f"http://127.0.0.1:{server.server_address[1]}")
        finally:
            server.shutdown()
            server.server_close()
        assert proc.returncode == 2, proc.stdout
        assert message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
