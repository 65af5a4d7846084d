"""The generated dashboard (grafana/dashboard.py -> grafana/dashboards/apim-probe.json),
checked without a Grafana: the committed JSON is what the generator produces,
it is templated by data source, job and instance, every selector filters by
job and instance, it covers the brief, and every metric it names is in
docs/metrics.md. tests/prometheus/test_queries_lab.py runs every query against a real
Prometheus; tests/test_findings.py checks the remedy panel against the
finding catalogue.
"""

from __future__ import annotations

import re

from grafana import dashboard as dashboard_generator
from tests.helpers.generated import (
    DASHBOARD,
    METRICS_DOC,
    catalogue,
    dashboard,
    dashboard_queries,
    known,
    label_values_selector,
    panels,
    series_names,
)

# --------------------------------------------------------------------------
# generated file is up to date


def test_dashboard_matches_its_generator() -> None:
    assert DASHBOARD.read_text(encoding="utf-8") == dashboard_generator.render(), (
        "grafana/dashboards/apim-probe.json differs from grafana/dashboard.py: run "
        "`python -m grafana.dashboard` (or `make generated`)")


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
    for needle in ("apim_probe_dns_status_info", "apim_probe_tcp_verdict_info",
                   "apim_probe_target_info", "apim_probe_tcp_rtt_seconds", "quantile_over_time",
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


def test_every_metric_named_exists_in_the_catalogue() -> None:
    metrics = catalogue()
    used: dict[str, str] = {}
    for where, _ref, expr in dashboard_queries(dashboard()):
        for name in series_names(label_values_selector(expr) or expr):
            used[name] = where
    assert len(used) >= 15
    unknown = {name: where for name, where in used.items() if not known(name, metrics)}
    assert not unknown, f"not in {METRICS_DOC.name}: {unknown}"


def test_series_name_reader() -> None:
    expr = ('sum by (le) (rate(apim_probe_tcp_rtt_seconds_bucket{job=~"$job"}[5m])) '
            '/ on (job) group_left (dependency) up == 0 and absent(apim_probe_finding)')
    assert series_names(expr) == {"apim_probe_tcp_rtt_seconds_bucket", "up",
                                  "apim_probe_finding"}
    assert series_names('label_replace(x{a="b"}, "host", "$1", "name", "(.*)")') == {"x"}
    assert known("apim_probe_tcp_rtt_seconds_bucket", {"apim_probe_tcp_rtt_seconds": "histogram"})
    assert not known("apim_probe_nope", {"apim_probe_tcp_rtt_seconds": "histogram"})
