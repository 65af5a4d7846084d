"""probe.apim: the [apim] section sits below probe.config (config imports apim, never the
reverse); its own behaviour is tested through parse() in tests/test_targets.py."""

from __future__ import annotations

import ast
from pathlib import Path

import probe.apim
import probe.apimmodel

PROBE = Path(probe.apim.__file__).parent


def _imports(module: str) -> set[str]:
    tree = ast.parse((PROBE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_apim_does_not_import_config() -> None:
    # not even under TYPE_CHECKING: the TOML reader it needs is probe.tomldoc
    assert "probe.config" not in _imports("apim")
    assert "probe.apim" in _imports("config")


def test_bottom_layer_modules_import_only_the_error_tree() -> None:
    for module in ("boundary", "files"):
        ours = {m for m in _imports(module) if m.startswith("probe")}
        assert ours <= {"probe.errors"}, module
    # the TOML reader decides what text is through the one input boundary
    assert {m for m in _imports("tomldoc") if m.startswith("probe")} == {
        "probe.errors", "probe.boundary"}
    assert {m for m in _imports("schema") if m.startswith("probe")} == {
        "probe.tomldoc", "probe.errors"}


def test_modes_are_the_models() -> None:
    assert probe.apim.MODES is probe.apimmodel.MODES
    assert probe.apimmodel.MODES[:2] == ("internal", "external")
