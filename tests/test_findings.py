"""The finding catalogue (probe/findings.py): every finding id reported
anywhere is in it, and the dashboard, the alerts and the docs cover it."""

from __future__ import annotations

import ast
import re

import pytest

from grafana import dashboard as dashboard_generator
from probe import findings
from probe.findings import DIAGNOSIS, FINDINGS, LINT, finding, of
from probe.results import Severity
from prometheus import alert_tests
from tests.helpers.generated import ROOT, RULES, dashboard, panels, yaml_rules

PROBE = ROOT / "probe"
FINDINGS_DOC = ROOT / "docs" / "findings.md"


def _literal_ids(node: ast.expr, where: str) -> list[str]:
    """The ids an ``id=`` argument can take: a string, or either side of a conditional."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literal_ids(node.body, where) + _literal_ids(node.orelse, where)
    if isinstance(node, ast.Name):
        return []  # a variable: the kinds it takes are literals elsewhere in the module
    raise AssertionError(f"{where}: a finding id must be a literal, got {ast.dump(node)}")


def emitted_ids() -> dict[str, str]:
    """id -> where, for every id probe/ gives ``Finding(`` or ``finding(``, or assigns
    to a name that then is the id (``kind = "outbound-dropped"``)."""
    found: dict[str, str] = {}
    for path in sorted(PROBE.rglob("*.py")):
        if path.name == "findings.py" and path.parent == PROBE:
            continue  # the catalogue itself
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name not in ("Finding", "finding"):
                    continue
                ids = [k.value for k in node.keywords if k.arg == "id"]
                if name == "finding" and node.args:  # finding("id", severity, ...)
                    ids.append(node.args[0])
                for value in ids:
                    found.update(dict.fromkeys(_literal_ids(value, where), where))
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                # kind = "..." / kind, remedy = "...", {...}: the rules' chosen id
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target, value in _pairs(targets, node.value):
                    if (getattr(target, "id", "") == "kind" and isinstance(value, ast.Constant)
                            and isinstance(value.value, str)):
                        found[value.value] = where
    return found


def _pairs(targets: list[ast.expr], value: ast.expr | None,
           ) -> list[tuple[ast.expr, ast.expr | None]]:
    out: list[tuple[ast.expr, ast.expr | None]] = []
    for target in targets:
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            out.extend(zip(target.elts, value.elts, strict=False))
        else:
            out.append((target, value))
    return out


def test_every_finding_id_in_probe_is_in_the_catalogue() -> None:
    ids = emitted_ids()
    # The reader finds the diagnosis' and the lint's findings at all.
    assert {"dns-custom-not-forwarding", "outbound-dropped", "path-forbidden-hop",
            "nsg-rule-missing", "route-default-none"} <= set(ids)
    unknown = {fid: where for fid, where in ids.items() if fid not in FINDINGS}
    assert not unknown, f"add these ids to probe/findings.py FINDINGS: {unknown}"


def test_every_catalogued_id_is_reported_somewhere() -> None:
    assert set(FINDINGS) - set(emitted_ids()) == set(), "catalogued ids nothing reports"


def test_catalogue_entries_are_complete() -> None:
    for fid, kind in FINDINGS.items():
        assert kind.id == fid
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", fid), fid
        assert kind.source in (DIAGNOSIS, LINT), fid
        assert kind.severities and len(set(kind.severities)) == len(kind.severities), fid
        assert kind.title and kind.remedy and kind.check, fid
        assert "{" not in kind.check, f"{fid}: the general advice has no fields"
        names = [name for name, _ in kind.variants]
        assert len(set(names)) == len(names), fid
        for name, template in kind.variants:
            assert template and template != kind.remedy, f"{fid}: variant {name}"
            assert kind.template(name) == template


def test_every_finding_is_built_from_the_catalogue() -> None:
    # finding() takes the remedy from FINDINGS: a Finding(...) built anywhere else in
    # probe/ would carry a remedy of its own, which the docs and the dashboard never see.
    built = []
    for path in sorted(PROBE.rglob("*.py")):
        if path == PROBE / "findings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Finding":
                built.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert built == [], "build these with probe.findings.finding()"


def test_finding_fills_the_remedy_and_refuses_what_is_not_catalogued() -> None:
    made = finding(id="outbound-dropped", severity=Severity.WARNING, subject="s",
                   summary="dropped", evidence=("e",), advice="an outbound NSG rule")
    assert made.remedy.startswith("Add an outbound NSG rule above any deny")
    assert (made.id, made.severity, made.subject, made.evidence) == (
        "outbound-dropped", Severity.WARNING, "s", ("e",))
    with pytest.raises(KeyError):
        finding(id="no-such-finding", severity=Severity.WARNING, subject="s", summary="",
                evidence=())
    with pytest.raises(ValueError, match="dns-answers-differ is warning, not critical"):
        finding(id="dns-answers-differ", severity=Severity.CRITICAL, subject="s", summary="",
                evidence=())
    with pytest.raises(KeyError):  # a remedy field left unfilled
        finding(id="outbound-dropped", severity=Severity.WARNING, subject="s", summary="",
                evidence=())


def test_finding_takes_a_variant_remedy_for_the_case_it_names() -> None:
    control_plane = finding("route-destination-none", Severity.CRITICAL, "s", "", (),
                            destination="20.1.1.1")
    backend = finding("route-destination-none", Severity.CRITICAL, "s", "", (),
                      variant="backend", destination="10.1.2.3")
    assert control_plane.remedy.startswith("Add a route for 20.1.1.1/32 (or service tag "
                                           "ApiManagement) with next hop Internet")
    assert backend.remedy.startswith("Add a route for 10.1.2.3's prefix with the next hop "
                                     "that reaches it")
    with pytest.raises(KeyError):
        finding("route-destination-none", Severity.CRITICAL, "s", "", (), variant="nope",
                destination="10.1.2.3")


def test_severity_order_is_defined_once() -> None:
    assert [s.rank for s in (Severity.CRITICAL, Severity.WARNING, Severity.INFO)] == [0, 1, 2]
    for path in PROBE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"_SEVERITY_ORDER\s*=", text), path
        # a table of its own ({Severity.CRITICAL: 0, ...}) instead of Severity.rank
        assert not re.search(r"Severity\.[A-Z]+\s*:\s*\d", text), path


# --------------------------------------------------------------------------
# the dashboard, the alerts and the docs cover the catalogue


def test_dashboard_remedy_panel_lists_every_diagnosis_finding() -> None:
    text = next(item["options"]["content"] for item in panels(dashboard())
                if item["title"] == "Finding remedies")
    for kind in of(DIAGNOSIS):
        assert f"| `{kind.id}` | {kind.severity} | " in text, kind.id
    assert "route-default-none" not in text, "lint findings are not the agent's"
    assert text == dashboard_generator.remedies_markdown()


def test_alerts_fire_for_every_severity_the_agent_reports() -> None:
    exprs = {name: rule["expr"] for name, rule in yaml_rules(RULES, "alert").items()}
    selected = {m for expr in exprs.values()
                for m in re.findall(r'apim_probe_finding\{severity="([a-z]+)"\}', expr)}
    # Information is for the table and the dashboard; it never pages.
    reported = {s.value for kind in of(DIAGNOSIS) for s in kind.severities
                if s is not Severity.INFO}
    assert reported <= selected


def test_alert_stories_use_catalogued_ids_at_their_severity() -> None:
    used = 0
    for case in alert_tests.CASES:
        for series, _values in case.series:
            match = re.search(r'id="([^"]+)",severity="([a-z]+)"', series)
            if match:
                kind = FINDINGS[match.group(1)]
                assert Severity(match.group(2)) in kind.severities, series
                used += 1
    assert used >= 2


def test_findings_doc_is_generated_from_the_catalogue() -> None:
    assert FINDINGS_DOC.read_text(encoding="utf-8") == findings.markdown(), (
        "docs/findings.md is out of date: run `python -m probe.findings > docs/findings.md` "
        "(or `make generated`)")
    for fid in FINDINGS:
        assert f"`{fid}`" in findings.markdown()


def test_readme_names_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/findings.md" in readme
