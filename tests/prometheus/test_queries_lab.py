"""Every PromQL expression of the dashboard and the rules, run by a real Prometheus.

Inside the lab's jump box (``apl-client``) the agent runs in daemon mode on
127.0.0.1, probing the lab's APIM-shaped services; Debian's ``prometheus``
scrapes it every second with the alerting rules loaded. Once two scrapes
have seen two fresh rounds, every expression of the dashboard (Grafana's
variables substituted as "All" would) and every rule (as Prometheus itself
parsed them, from /api/v1/rules) goes through /api/v1/query: none may fail,
every panel's main query must return series, and a few answers must say
what the lab is known to do (custom DNS refuses the storage name and
SERVFAILs the SQL name, the SQL endpoint is dropped, the backend is closed,
management is open).

Prometheus' HTTP API listens on the namespace's own loopback, so the queries
are sent by a small Python script run inside the namespace (RUNNER below).
Both processes are started, and stopped by their PIDs, by tests/helpers/promlab.py.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from grafana.dashboard import AZURE_PANELS
from prometheus import alerts
from tests.conftest import in_client
from tests.helpers import promlab
from tests.helpers.generated import (
    GRAFANA_ALERTS,
    RULES,
    dashboard,
    dashboard_queries,
    label_values_selector,
    panels,
    yaml_rules,
)
from tests.helpers.promlab import JOB

pytestmark = pytest.mark.lab

CUSTOM_DNS = "198.18.2.54"  # the VNet's custom DNS (primary): no forwarder for Azure zones
AZURE_DNS = "198.18.2.53"  # stands in for 168.63.129.16
STORAGE_NAME = "apimlabst.blob.core.windows.test"

LAB_CONFIG = f"""\
[agent]
interval = 1
timeout = 0.5

[dns]
resolvers = ["{CUSTOM_DNS}", "{AZURE_DNS}"]

[[target]]
name = "management"
host = "apimlab.management.azure-api.test"
port = 3443
dependency = "management"

[[target]]
name = "storage"
host = "{STORAGE_NAME}"
port = 443
dependency = "storage"

[[target]]
name = "orders-backend"
host = "orders.backend.test"
port = 8080
dependency = "backend"
required = false

[[target]]
name = "sql"
host = "apimlab-sql.database.windows.test"
port = 1433
dependency = "sql"

[[target]]
name = "sql-endpoint"
host = "198.18.2.12"
port = 1433
dependency = "sql"
count = 2
"""

# What Grafana puts in place of its variables with "All" selected (allValue ".+").
SUBSTITUTIONS = {
    "$__rate_interval": "10s",
    "$__interval": "2s",
    "$__range": "1m",
    "$job": ".+",
    "$instance": ".+",
    "$vnet": ".*",  # the identity variables match series without the label
    "$region": ".*",
    "$dependency": ".+",
}

# Runs inside apl-client: wait for Prometheus and for fresh data, then run every query.
RUNNER = r"""
import json, sys, time, urllib.parse, urllib.request

base, queries_file, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])

def get(path, **params):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            status, body = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body)
    except ValueError:  # /-/ready answers in plain text
        return status, {}

def wait(what, check):
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            print(json.dumps({"timeout": what}))
            sys.exit(3)
        time.sleep(0.25)

def value(expr):
    status, body = get("/api/v1/query", query=expr)
    result = body.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else 0.0

wait("prometheus ready", lambda: get("/-/ready")[0] == 200)
# Two scrapes that each saw a new round: counters have moved, rate() has two points.
wait("two scrapes of fresh rounds", lambda: value(
    'changes(apim_probe_last_round_timestamp_seconds{job="%s"}[1m])' % sys.argv[4]) >= 2
    and value('count_over_time(up{job="%s"}[1m])' % sys.argv[4]) >= 3)
# Every rule evaluated at least once (health leaves "unknown").
wait("rules evaluated", lambda: all(
    rule.get("health") != "unknown"
    for group in get("/api/v1/rules")[1]["data"]["groups"] for rule in group["rules"])
    and get("/api/v1/rules")[1]["data"]["groups"])

now = time.time()
rules = get("/api/v1/rules")[1]["data"]["groups"]
out = {"rules": [], "queries": [],
       "alerts": get("/api/v1/alerts")[1]["data"]["alerts"]}
for group in rules:
    for rule in group["rules"]:
        out["rules"].append({"name": rule["name"], "query": rule["query"],
                             "health": rule.get("health"), "lastError": rule.get("lastError", "")})
for item in json.load(open(queries_file)) + [
        {"where": "rule " + r["name"], "ref": "", "expr": r["query"]} for r in out["rules"]]:
    status, body = get("/api/v1/query", query=item["expr"], time=now)
    data = body.get("data", {})
    out["queries"].append({**item, "http": status, "status": body.get("status"),
                           "error": body.get("error", ""), "resultType": data.get("resultType"),
                           "result": data.get("result", [])})
print(json.dumps(out))
"""


def substitute(expr: str) -> str:
    for variable in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace("${" + variable[1:] + "}", SUBSTITUTIONS[variable])
        expr = expr.replace(variable, SUBSTITUTIONS[variable])
    assert "$" not in expr.replace("$1", ""), f"unsubstituted variable in {expr}"
    return expr


def dashboard_items() -> list[dict[str, str]]:
    items = []
    for where, ref, expr in dashboard_queries(dashboard()):
        selector = label_values_selector(expr)
        items.append({"where": where, "ref": ref,
                      "expr": substitute(selector if selector is not None else expr)})
    return items


# Panels that compare agents: one agent in the lab has nobody to disagree
# with (tests/test_fleet.py and the promtool fleet stories cover them).
NEEDS_A_FLEET = ("Fails here, works elsewhere",)
# Panels of the live Azure context: this agent has no [azure] section
# (tests/test_azure_lab.py runs them against the fake IMDS and ARM).
NEEDS_AZURE = AZURE_PANELS


def main_queries() -> set[str]:
    """Each panel's first query: the one that must show data."""
    return {f"panel {p['id']} {p['title']!r}" for p in panels(dashboard())
            if p.get("targets") and p["title"] not in (*NEEDS_A_FLEET, *NEEDS_AZURE)}


@pytest.fixture
def prometheus_and_agent(lab: None, tmp_path: Path) -> Any:
    with promlab.agent_and_prometheus(tmp_path, LAB_CONFIG, rule_files=[RULES],
                                      scrape_timeout="900ms") as running:
        yield running.base, tmp_path, running.agent, running.prom


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {name}\n" + (tmp_path / name).read_text(errors="replace")[-3000:]
                     for name in ("agent.log", "prometheus.log") if (tmp_path / name).exists())


def check_required_split(table: list[dict[str, str]],
                         firing: dict[str, list[dict[str, str]]]) -> None:
    """orders-backend is required = false: the table says so, and it raises the warning,
    never the critical alert; the other failing targets are required."""
    assert {s["target"]: s["required"] for s in table} == {
        "management": "true", "storage": "true", "orders-backend": "false", "sql": "true",
        "sql-endpoint": "true"}
    assert {s["target"] for s in firing["ApimProbeRequiredDependencyUnreachable"]} == {
        "storage", "sql", "sql-endpoint"}
    assert {s["target"] for s in firing["ApimProbeOptionalDependencyUnreachable"]} == {
        "orders-backend"}


def test_every_dashboard_and_rule_query_runs(prometheus_and_agent: Any) -> None:
    started = time.monotonic()
    base, tmp_path, agent, prom = prometheus_and_agent
    items = dashboard_items()
    items += [{"where": f"grafana rule {name}", "ref": "A", "expr": rule["expr"]}
              for name, rule in yaml_rules(GRAFANA_ALERTS, "title").items()]
    queries_file = tmp_path / "queries.json"
    queries_file.write_text(json.dumps(items), encoding="utf-8")
    proc = in_client([sys.executable, "-c", RUNNER, base, str(queries_file), "25", JOB],
                     timeout=35)
    assert agent.poll() is None and prom.poll() is None, "agent or prometheus died\n" + _logs(
        tmp_path)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{_logs(tmp_path)}"
    report = json.loads(proc.stdout)
    (tmp_path / "report.json").write_text(proc.stdout, encoding="utf-8")  # for a post-mortem

    # The rules Prometheus loaded are the ones in the file, all healthy.
    loaded = {rule["name"] for rule in report["rules"]}
    assert loaded == set(yaml_rules(RULES, "alert")) | {r.name for r in alerts.RECORDS}
    assert all(r["health"] == "ok" and not r["lastError"] for r in report["rules"]), \
        report["rules"]
    # Pending or, for the alerts that fire at the second failing round with
    # no `for:`, already firing.
    active = {a["labels"]["alertname"] for a in report["alerts"]
              if a["state"] in ("pending", "firing")}
    assert {"ApimProbeRequiredDependencyUnreachable", "ApimProbeOptionalDependencyUnreachable",
            "ApimProbeDnsResolversDisagree", "ApimProbeCriticalFinding"} <= active, active

    results = report["queries"]
    assert len(results) == len(items) + len(loaded)
    failed = [(q["where"], q["ref"], q["expr"], q["error"]) for q in results
              if q["status"] != "success"]
    assert not failed, failed

    by_where: dict[str, list[dict[str, Any]]] = {}
    for q in results:
        by_where.setdefault(q["where"], []).append(q)
    empty = [where for where in main_queries() if not by_where[where][0]["result"]]
    assert not empty, f"panels whose main query returned no series: {empty}"
    for where in ("variable job", "variable instance", "variable dependency"):
        assert by_where[where][0]["result"], where

    # The answers say what the lab does.
    def main_result(title: str) -> list[dict[str, Any]]:
        where = next(k for k in by_where if k.startswith("panel ") and title in k)
        result: list[dict[str, Any]] = by_where[where][0]["result"]
        return result

    def series(title: str) -> list[dict[str, str]]:
        return [s["metric"] for s in main_result(title)]

    disagree = series("'Resolvers disagree'")
    assert {(s["name"], s["resolver"], s["status"]) for s in disagree} >= {
        (STORAGE_NAME, CUSTOM_DNS, "refused")}
    rows = {s["target"]: (s["expected"], s["state"], s["reason"])
            for s in series("'Targets and addresses'")}
    assert rows["management"] == ("open", "open", "syn-ack")
    assert rows["orders-backend"][1:] == ("closed", "reset")
    assert rows["sql-endpoint"][1:] == ("filtered", "no-response")  # the NSG drops 1433
    assert rows["sql"][1:] == ("unresolved", "servfail")  # custom DNS forwards it to a SERVFAIL
    assert rows["storage"][1:] == ("unresolved", "refused")  # custom DNS refuses Azure zones
    matrix = {(r["metric"]["dependency"], r["metric"]["resolver"]): r["value"][1]
              for r in main_result("'Dependency x resolver")}
    assert matrix[("storage", CUSTOM_DNS)] == "0"
    assert matrix[("storage", AZURE_DNS)] == "1"
    assert matrix[("management", "TCP (primary's answer)")] == "1"
    firing = {name: [s["metric"] for s in by_where[f"rule {name}"][0]["result"]]
              for name in loaded}
    check_required_split(series("'Targets and addresses'"), firing)
    assert firing["ApimProbeManagementEndpointUnreachable"] == []
    assert {(s["name"], s["resolver"]) for s in firing["ApimProbeDnsResolversDisagree"]} >= {
        (STORAGE_NAME, CUSTOM_DNS)}
    assert firing["ApimProbeRoundsStale"] == []
    assert firing["ApimProbeMetricsAbsent"] == []
    assert firing["ApimProbeConfigReloadFailed"] == []
    assert time.monotonic() - started < 40
