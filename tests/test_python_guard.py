"""The Python >= 3.11 guard (issue 20): an older interpreter gets one line
saying what to do, from `probe`, `python -m probe` and the Makefile's venv and
`make install` (which run `import probe`), instead of a traceback."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import probe

ROOT = Path(__file__).resolve().parents[1]


def test_older_pythons_get_the_message_naming_their_version() -> None:
    for version, shown in (((3, 10, 12), "3.10"), ((3, 8), "3.8"), ((2, 7, 18), "2.7")):
        message = probe.python_too_old(version)
        assert message is not None
        assert message.startswith(f"apim-probe needs Python >= 3.11 (this is {shown}): ")
        assert "deadsnakes PPA or use pyenv" in message
        assert "APIM_PYTHON=python3.11 make install" in message
        assert "container image" in message


def test_3_11_and_later_pass() -> None:
    for version in ((3, 11), (3, 11, 0), (3, 12, 1), (3, 13, 0), (4, 0)):
        assert probe.python_too_old(version) is None


def test_the_package_init_parses_as_python_3_7() -> None:
    """The guard must run before anything 3.11-only: probe/__init__.py itself
    has to parse on the old interpreter (no `match`, walrus in comprehensions
    at class level, `except*`, evaluated `X | Y` annotations)."""
    text = (ROOT / "probe" / "__init__.py").read_text(encoding="utf-8")
    tree = ast.parse(text, feature_version=(3, 7))
    future = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
              and n.module == "__future__"]
    assert not future  # `from __future__ import annotations` is 3.7+: not needed here
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                for alias in n.names}
    assert imported <= {"signal", "sys"}, imported


def test_makefile_checks_the_interpreter_before_making_a_venv() -> None:
    for name in ("Makefile", "systemd/install.mk"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "python_guard" in text, name


def test_this_interpreter_imports_probe_quietly() -> None:
    proc = subprocess.run([sys.executable, "-B", "-c", "import probe"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
