"""Readers of the generated dashboard and alerting files, shared by their tests
(tests/grafana/, tests/prometheus/, tests/test_findings.py) and the lab test
that runs every query (tests/prometheus/test_queries_lab.py).

The files are read as the generators wrote them, so the tests check what
Grafana and Prometheus will load, not the generators' intentions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "dashboards" / "apim-probe.json"
RULES = ROOT / "prometheus" / "apim-probe.rules.yml"
RULE_TESTS = ROOT / "prometheus" / "tests" / "apim-probe.test.yml"
GRAFANA_ALERTS = ROOT / "grafana" / "provisioning" / "alerting" / "apim-probe.yaml"
GRAFANA_DATASOURCE = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
GRAFANA_DASHBOARDS = ROOT / "grafana" / "provisioning" / "dashboards" / "apim-probe.yaml"
METRICS_DOC = ROOT / "docs" / "metrics.md"

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
# readers


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
    """metric name -> type, from docs/metrics.md."""
    rows = re.findall(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*([a-z]+)\s*\|", METRICS_DOC.read_text(
        encoding="utf-8"), re.M)
    assert rows, f"no metric rows found in {METRICS_DOC}"
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
