"""The dashboard and the alerts, checked without a Grafana or a lab.

* ``promtool check rules`` and ``promtool test rules`` (every alert firing and
  not firing) on the real files; skipped with a reason when promtool (Debian
  package ``prometheus``) is not installed.
* The committed files are what the generators (grafana/dashboard.py,
  prometheus/alerts.py) produce, so an edit in one place cannot drift.
* Structure read from the files themselves: the dashboard JSON parses and uses
  the ``${datasource}`` variable everywhere, every query filters by job and
  instance, every metric named in the dashboard and the rules is in the
  catalogue (docs/metrics.md), the Grafana provisioning has one rule per
  Prometheus alert with the same query, duration and severity, and the remedy
  catalogue covers every finding the diagnosis can emit.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "grafana" / "dashboards" / "apim-probe.json"
RULES = ROOT / "prometheus" / "apim-probe.rules.yml"
RULE_TESTS = ROOT / "prometheus" / "tests" / "apim-probe.test.yml"
GRAFANA_ALERTS = ROOT / "grafana" / "provisioning" / "alerting" / "apim-probe.yaml"
GRAFANA_DATASOURCE = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
GRAFANA_DASHBOARDS = ROOT / "grafana" / "provisioning" / "dashboards" / "apim-probe.yaml"
CATALOGUE = ROOT / "docs" / "metrics.md"
DIAGNOSIS = ROOT / "probe" / "diagnosis.py"

# The contract of issue 4, used only while docs/metrics.md does not exist.
ISSUE_4_METRICS = {
    "apim_probe_dns_success": "gauge", "apim_probe_dns_duration_seconds": "gauge",
    "apim_probe_dns_status": "gauge", "apim_probe_tcp_success": "gauge",
    "apim_probe_tcp_state": "gauge", "apim_probe_tcp_reason": "gauge",
    "apim_probe_tcp_rtt_seconds": "histogram", "apim_probe_tcp_packets_sent_total": "counter",
    "apim_probe_tcp_packets_received_total": "counter",
    "apim_probe_round_duration_seconds": "gauge",
    "apim_probe_last_round_timestamp_seconds": "gauge",
    "apim_probe_config_last_reload_successful": "gauge", "apim_probe_build_info": "gauge",
    "apim_probe_finding": "gauge",
}
# Series Prometheus itself adds to every target.
PROMETHEUS_SERIES = {"up"}

PROMQL_FUNCTIONS_AND_WORDS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "group", "by", "without", "on",
    "ignoring", "group_left", "group_right", "and", "or", "unless", "rate", "irate",
    "increase", "changes", "time", "vector", "label_replace", "label_join", "histogram_quantile",
    "absent", "present_over_time", "max_over_time", "min_over_time", "bool", "offset",
    "le", "inf", "nan",
}


# --------------------------------------------------------------------------
# readers (shared with tests/test_queries_lab.py)


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in board["panels"]:
        yield item
        yield from item.get("panels", [])  # panels inside collapsed rows


def dashboard_queries(board: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(where, refId, expr) for every PromQL expression of the dashboard."""
    for item in panels(board):
        for query in item.get("targets", []):
            if query.get("expr"):
                yield f"panel {item['id']} {item['title']!r}", query["refId"], query["expr"]
    for annotation in board["annotations"]["list"]:
        if annotation.get("expr"):
            yield f"annotation {annotation['name']!r}", "", annotation["expr"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            yield f"variable {variable['name']}", "", text


def label_values_selector(text: str) -> str | None:
    """The series selector inside Grafana's label_values(SELECTOR, label)."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)\s*", text, re.S)
    return match.group(1) if match else None


def _block(lines: list[str], start: int, key_indent: int) -> str:
    """The lines of a YAML `|-` block scalar that starts after line ``start``."""
    body: list[str] = []
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= key_indent:
            break
        body.append(line)
    indent = min(len(x) - len(x.lstrip()) for x in body if x.strip())
    return "\n".join(x[indent:] for x in body).strip("\n")


def yaml_rules(path: Path, key: str) -> dict[str, dict[str, str]]:
    """name -> {expr, for, severity} from a rules file, read as text.

    The files are written by prometheus/alerts.py in one plain style (double-
    quoted scalars, `|-` blocks for expressions); promtool validates them as
    YAML. ``key`` is the field naming a rule: "alert" or "title".
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    rules: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(f"{key}: ") or stripped.startswith(f"- {key}: "):
            name = json.loads(stripped.split(": ", 1)[1])
            assert name not in rules, f"{path.name}: {name} twice"
            current = rules[name] = {}
        if current is None:
            continue
        if stripped.startswith("expr: "):
            value = stripped.split(": ", 1)[1]
            indent = len(line) - len(line.lstrip())
            current["expr"] = _block(lines, i, indent) if value == "|-" else json.loads(value)
        elif stripped.startswith("for: "):
            current["for"] = json.loads(stripped.split(": ", 1)[1])
        elif stripped.startswith("severity: "):
            current["severity"] = json.loads(stripped.split(": ", 1)[1])
    return rules


def rule_exprs() -> dict[str, str]:
    return {name: rule["expr"] for name, rule in yaml_rules(RULES, "alert").items()}


def catalogue() -> dict[str, str]:
    """metric name -> type, from docs/metrics.md (else the issue-4 contract)."""
    if not CATALOGUE.exists():
        return dict(ISSUE_4_METRICS)
    rows = re.findall(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*([a-z]+)\s*\|", CATALOGUE.read_text(
        encoding="utf-8"), re.M)
    assert rows, f"no metric rows found in {CATALOGUE}"
    return dict(rows)


def series_names(expr: str) -> set[str]:
    """Metric names an expression selects (identifiers that are not PromQL words)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    without_matchers = re.sub(r"\{[^}]*\}", "{}", without_strings)
    without_ranges = re.sub(r"\[[^\]]*\]", "[]", without_matchers)
    without_grouping = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
                              r"\1", without_ranges)
    words = set(re.findall(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", without_grouping))
    return {w for w in words if w.lower() not in PROMQL_FUNCTIONS_AND_WORDS
            and not w.startswith("__")}


def known(name: str, metrics: dict[str, str]) -> bool:
    if name in metrics or name in PROMETHEUS_SERIES:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if name.endswith(suffix) and metrics.get(base) == "histogram":
            return True
    return False


# --------------------------------------------------------------------------
# promtool

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)")


@needs_promtool
def test_promtool_check_rules() -> None:
    proc = subprocess.run([str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(rule_exprs())} rules found" in proc.stdout


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    proc = subprocess.run([str(PROMTOOL), "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@needs_promtool
def test_example_prometheus_config_is_valid() -> None:
    proc = subprocess.run([str(PROMTOOL), "check", "config", "prometheus.example.yml"],
                          cwd=RULES.parent, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 1 rule files found" in proc.stdout


def test_unit_tests_cover_every_alert_firing_and_not_firing() -> None:
    text = RULE_TESTS.read_text(encoding="utf-8")
    checks = re.findall(r'alertname: "([^"]+)"\n\s+exp_alerts:( \[\])?', text)
    firing = {name for name, empty in checks if not empty}
    silent = {name for name, empty in checks if empty}
    alerts = set(rule_exprs())
    assert alerts, "no alerts found in the rules file"
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - silent == set(), "alerts never tested not firing"
    assert (firing | silent) <= alerts, "tests for alerts that do not exist"


# --------------------------------------------------------------------------
# generated files are up to date


def test_alert_files_match_their_generator() -> None:
    alerts = load_module(ROOT / "prometheus" / "alerts.py")
    for path, text in alerts.render().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} differs from prometheus/alerts.py: run "
            "`python prometheus/alerts.py`")


def test_dashboard_matches_its_generator() -> None:
    generator = load_module(ROOT / "grafana" / "dashboard.py")
    assert DASHBOARD.read_text(encoding="utf-8") == generator.render(), (
        "grafana/dashboards/apim-probe.json differs from grafana/dashboard.py: run "
        "`python grafana/dashboard.py`")


# --------------------------------------------------------------------------
# the dashboard


def test_dashboard_is_templated_by_datasource_job_and_instance() -> None:
    board = dashboard()
    assert board["uid"] == "apim-probe"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert variables[name]["multi"] and variables[name]["includeAll"]
    assert '$job' in variables["instance"]["definition"], "instance choices follow the job"


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    board = dashboard()
    expected = {"type": "prometheus", "uid": "${datasource}"}
    checked = 0
    for item in panels(board):
        if item["type"] in ("row", "text"):
            continue
        assert item.get("datasource") == expected, f"panel {item['title']!r}"
        assert item["targets"], f"panel {item['title']!r} has no query"
        for query in item["targets"]:
            assert query.get("datasource") == expected, f"panel {item['title']!r}"
            checked += 1
    for annotation in board["annotations"]["list"]:
        if not annotation.get("builtIn"):
            assert annotation["datasource"] == expected
    assert checked >= 30
    # No hard-coded data source anywhere in the file.
    uids = set(re.findall(r'"uid": "([^"]*)"', DASHBOARD.read_text(encoding="utf-8")))
    assert uids <= {"${datasource}", "-- Grafana --", "apim-probe"}


def test_every_selector_filters_by_job_and_instance() -> None:
    for where, ref, expr in dashboard_queries(dashboard()):
        if where == "variable job":
            continue  # the job list itself spans every job
        selectors = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr)
        names = series_names(label_values_selector(expr) or expr)
        assert names, f"{where} {ref}: no metric in {expr}"
        without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
        for name in names:
            bare = re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])(?!\s*\{{)",
                             without_strings)
            assert bare is None, f"{where} {ref}: {name} without a label filter in {expr}"
        for name, matchers in selectors:
            if where == "variable instance":
                assert 'job=~"$job"' in matchers
                continue
            assert 'job=~"$job"' in matchers and 'instance=~"$instance"' in matchers, (
                f"{where} {ref}: {name}{{{matchers}}} lacks the job/instance filter")


def test_dashboard_covers_the_brief() -> None:
    """Matrix, DNS disagreements, TCP state/reason, RTT, loss, findings, agent health."""
    board = dashboard()
    exprs = "\n".join(expr for _w, _r, expr in dashboard_queries(board))
    for needle in ("apim_probe_dns_status", "apim_probe_tcp_state", "apim_probe_tcp_reason",
                   "apim_probe_tcp_rtt_seconds_bucket", "histogram_quantile",
                   "apim_probe_tcp_packets_received_total", "apim_probe_finding",
                   "apim_probe_last_round_timestamp_seconds",
                   "apim_probe_round_duration_seconds",
                   "apim_probe_config_last_reload_successful"):
        assert needle in exprs, needle
    kinds = {item["type"] for item in panels(board)}
    assert {"heatmap", "table", "stat", "timeseries", "text"} <= kinds
    matrices = [item for item in panels(board)
                if any(t["id"] == "groupingToMatrix" for t in item.get("transformations", []))]
    assert {m["transformations"][0]["options"]["rowField"] for m in matrices} >= {"dependency",
                                                                                  "name"}
    ids = [item["id"] for item in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_remedy_catalogue_covers_every_finding() -> None:
    board = dashboard()
    text = next(item["options"]["content"] for item in panels(board)
                if item["title"] == "Finding remedies")
    emitted = set(re.findall(r'\bid="([a-z0-9-]+)"', DIAGNOSIS.read_text(encoding="utf-8")))
    assert emitted, "no finding ids found in probe/diagnosis.py"
    missing = sorted(fid for fid in emitted if f"`{fid}`" not in text)
    assert not missing, f"add these finding ids to REMEDIES in grafana/dashboard.py: {missing}"


# --------------------------------------------------------------------------
# metric names against the catalogue


def test_every_metric_named_exists_in_the_catalogue() -> None:
    metrics = catalogue()
    used: dict[str, str] = {}
    for where, _ref, expr in dashboard_queries(dashboard()):
        for name in series_names(label_values_selector(expr) or expr):
            used[name] = where
    for alert, expr in rule_exprs().items():
        for name in series_names(expr):
            used[name] = f"alert {alert}"
    assert len(used) >= 15
    unknown = {name: where for name, where in used.items() if not known(name, metrics)}
    assert not unknown, f"not in {CATALOGUE.name}: {unknown}"


def test_series_name_reader() -> None:
    expr = ('sum by (le) (rate(apim_probe_tcp_rtt_seconds_bucket{job=~"$job"}[5m])) '
            '/ on (job) group_left (dependency) up == 0 and absent(apim_probe_finding)')
    assert series_names(expr) == {"apim_probe_tcp_rtt_seconds_bucket", "up",
                                  "apim_probe_finding"}
    assert series_names('label_replace(x{a="b"}, "host", "$1", "name", "(.*)")') == {"x"}
    assert known("apim_probe_tcp_rtt_seconds_bucket", {"apim_probe_tcp_rtt_seconds": "histogram"})
    assert not known("apim_probe_nope", {"apim_probe_tcp_rtt_seconds": "histogram"})


# --------------------------------------------------------------------------
# Grafana-managed alerts: one per Prometheus alert, the same query


def test_grafana_has_one_rule_per_prometheus_alert() -> None:
    prometheus = yaml_rules(RULES, "alert")
    grafana = yaml_rules(GRAFANA_ALERTS, "title")
    assert set(grafana) == set(prometheus)
    for name, rule in prometheus.items():
        assert grafana[name] == rule, f"{name}: Grafana rule differs from the Prometheus one"
    required = {"ApimProbeRequiredDependencyUnreachable", "ApimProbeManagementEndpointUnreachable",
                "ApimProbeDnsResolverDown", "ApimProbeDnsResolversDisagree", "ApimProbeTcpLossHigh",
                "ApimProbeTcpRttHigh", "ApimProbeRoundsStale", "ApimProbeMetricsAbsent",
                "ApimProbeAgentDown", "ApimProbeConfigReloadFailed", "ApimProbeCriticalFinding"}
    assert required <= set(prometheus)


def test_grafana_rules_fire_on_any_series_and_query_the_provisioned_datasource() -> None:
    text = GRAFANA_ALERTS.read_text(encoding="utf-8")
    datasource_uid = re.search(r"^\s+uid: (\S+)", GRAFANA_DATASOURCE.read_text(encoding="utf-8"),
                               re.M)
    assert datasource_uid is not None
    count = len(yaml_rules(GRAFANA_ALERTS, "title"))
    assert text.count(f'datasourceUid: "{datasource_uid.group(1)}"') == count
    assert text.count('expression: "is_number($A) || is_nan($A) || is_inf($A)"') == count
    assert text.count('condition: "B"') == count
    assert text.count('noDataState: "OK"') == count
    uids = re.findall(r'- uid: "([^"]+)"', text)
    assert len(uids) == len(set(uids)) == count
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid) for uid in uids)


def test_required_and_optional_alerts_follow_the_exported_flag() -> None:
    """Required or optional is the target's `required` flag, not a guess from its group."""
    exprs = rule_exprs()
    for name in ("ApimProbeRequiredDependencyUnreachable",
                 "ApimProbeOptionalDependencyUnreachable"):
        expr = exprs[name]
        assert "apim_probe_tcp_required" in expr, name
        assert re.search(r"on \(job, instance, target, dependency, host, address, port\)",
                         expr), name
        groups = re.findall(r'dependency\s*(?:=|!=|=~|!~)\s*"([^"]*)"', expr)
        assert groups == ["management"], f"{name} still selects dependency groups: {groups}"


def test_rules_carry_summary_description_and_severity() -> None:
    text = RULES.read_text(encoding="utf-8")
    count = len(rule_exprs())
    assert text.count("summary: ") == text.count("description: ") == count
    severities = re.findall(r'severity: "([a-z]+)"', text)
    assert len(severities) == count and set(severities) <= {"critical", "warning", "info"}
    for phrase in ("NSG", "3443", "168.63.129.16", "forced tunnelling", "user-defined route"):
        assert phrase in text, f"annotations should speak APIM: {phrase!r}"


def test_readme_lists_every_alert_as_defined() -> None:
    readme = (ROOT / "prometheus" / "README.md").read_text(encoding="utf-8")
    rows = {name: (severity, duration) for name, severity, duration in re.findall(
        r"^\| (ApimProbe\w+) \| (\w+) \| (\w+) \|", readme, re.M)}
    rules = yaml_rules(RULES, "alert")
    assert rows == {name: (r["severity"], r["for"]) for name, r in rules.items()}


def test_yaml_files_parse_when_pyyaml_is_installed() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed; promtool validates the "
                                              "rules YAML, the text readers the rest")
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    grafana = yaml.safe_load(GRAFANA_ALERTS.read_text(encoding="utf-8"))
    prom = {r["alert"]: r for r in rules["groups"][0]["rules"]}
    graf = {r["title"]: r for r in grafana["groups"][0]["rules"]}
    assert set(prom) == set(graf)
    for name, rule in prom.items():
        assert graf[name]["data"][0]["model"]["expr"] == rule["expr"]
        assert graf[name]["for"] == rule["for"]
        assert graf[name]["annotations"]["summary"] == rule["annotations"]["summary"]
    for path in (GRAFANA_DATASOURCE, GRAFANA_DASHBOARDS):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["apiVersion"] == 1
