"""The alerts (prometheus/alerts.py -> the rules, their promtool tests and the
Grafana-managed twin), checked without a Prometheus or a Grafana.

* ``promtool check rules`` and ``promtool test rules`` (every alert firing and
  not firing) on the real files; skipped with a reason when promtool (Debian
  package ``prometheus``) is not installed.
* The committed files are what the generator produces, so an edit in one
  place cannot drift.
* Structure read from the files themselves: every metric named is in
  docs/metrics.md, the Grafana provisioning has one rule per Prometheus alert
  with the same query, duration and severity, the README lists every alert.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess

import pytest
import yaml

from prometheus import alerts
from tests.helpers.generated import (
    GRAFANA_ALERTS,
    GRAFANA_DASHBOARDS,
    GRAFANA_DATASOURCE,
    METRICS_DOC,
    ROOT,
    RULE_TESTS,
    RULES,
    catalogue,
    known,
    rule_exprs,
    series_names,
    yaml_rules,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)")


@needs_promtool
def test_promtool_check_rules() -> None:
    proc = subprocess.run([str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(rule_exprs()) + len(alerts.RECORDS)} rules found" in proc.stdout


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


AMTOOL = shutil.which("amtool")


@pytest.mark.skipif(AMTOOL is None,
                    reason="amtool not installed (Debian: apt-get install prometheus-alertmanager)")
def test_example_alertmanager_config_is_valid_and_routes_by_vnet() -> None:
    example = RULES.parent / "alertmanager.example.yml"
    proc = subprocess.run([str(AMTOOL), "check-config", str(example)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert {"vnet", "region", "dependency"} <= set(config["route"]["group_by"])
    names = {a.name for a in alerts.ALERTS}
    for rule in config["inhibit_rules"]:
        for matcher in (*rule["source_matchers"], *rule["target_matchers"]):
            pattern = re.fullmatch(r'alertname=~?"?([^"]+)"?', matcher)
            assert pattern, matcher
            assert set(pattern.group(1).split("|")) <= names, matcher


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


def test_alert_files_match_their_generator() -> None:
    for path, text in alerts.render().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} differs from prometheus/alerts.py: run "
            "`python -m prometheus.alerts` (or `make generated`)")


def test_every_metric_an_alert_names_exists_in_the_catalogue() -> None:
    metrics = catalogue()
    used = {name: alert for alert, expr in rule_exprs().items() for name in series_names(expr)}
    assert len(used) >= 10
    unknown = {name: where for name, where in used.items() if not known(name, metrics)}
    assert not unknown, f"not in {METRICS_DOC.name}: {unknown}"


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
        assert re.search(r'apim_probe_target_info\{[^}]*required\s*!?=\s*"false"', expr), name
        assert re.search(r"ignoring \(dependency, host, port, expected, required\) "
                         r"group_left \(dependency, host, port\)", expr), name
        groups = re.findall(r'dependency\s*(?:=|!=|=~|!~)\s*"([^"]*)"', expr)
        assert groups == ["management"], f"{name} still selects dependency groups: {groups}"


def test_every_rule_is_label_agnostic() -> None:
    """Issue 19: under remote_write or federation every agent may be
    job="apim-probe", instance="127.0.0.1:9839", told apart only by external
    labels. A rule that groups or matches by (job, instance, ...) keeps only
    those: many-to-many errors, or alerts without the VNet that is broken."""
    exprs = [*rule_exprs().values(), *(r.expr for r in alerts.RECORDS)]
    for expr in exprs:
        for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
            names = {n.strip() for n in clause.split(",")}
            assert not names & {"job", "instance"}, expr
        assert "group_left" not in expr or "ignoring" in expr, expr
    for name in ("ApimProbeDependencyFailsOnlyHere", "ApimProbeDependencyFailsEverywhere"):
        assert "by (dependency, host, port)" in rule_exprs()[name], name


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


def test_generated_yaml_reads_back_as_the_data_it_was_written_from() -> None:
    """The small YAML writer (prometheus/yamltext.py) loses nothing: a YAML parser
    reads each file back as the structure the generator wrote."""
    written = alerts.render()
    assert yaml.safe_load(written[alerts.RULES_FILE]) == alerts.prometheus_rules()
    assert yaml.safe_load(written[alerts.GRAFANA_FILE]) == alerts.grafana_rules()
    assert yaml.safe_load(written[alerts.TEST_FILE]) == alerts.promtool_tests()


def test_yaml_files_parse() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    grafana = yaml.safe_load(GRAFANA_ALERTS.read_text(encoding="utf-8"))
    prom = {r["alert"]: r for group in rules["groups"] for r in group["rules"] if "alert" in r}
    graf = {r["title"]: r for r in grafana["groups"][0]["rules"]}
    assert set(prom) == set(graf)
    for name, rule in prom.items():
        assert graf[name]["data"][0]["model"]["expr"] == rule["expr"]
        assert graf[name]["for"] == rule["for"]
        assert graf[name]["annotations"]["summary"] == rule["annotations"]["summary"]
    for path in (GRAFANA_DATASOURCE, GRAFANA_DASHBOARDS):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["apiVersion"] == 1


# --------------------------------------------------------------------------
# the generators' imports


def test_stories_are_data_and_no_generator_patches_the_path() -> None:
    """alert_tests.py imports nothing of the project (alerts.py reads it, not the
    other way round), and no generator or test reaches a module by sys.path."""
    stories = ast.parse((ROOT / "prometheus" / "alert_tests.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(stories)
                if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(stories) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert imported <= {"__future__", "dataclasses"}, imported
    for folder in ("grafana", "prometheus", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            calls = re.findall(r"^\s*sys\.path\.insert\(", path.read_text(encoding="utf-8"),
                               re.M)
            assert not calls, path
