"""The install paths (issue 20) as the README promises them: the Install
section right under the top commands, one or two commands a path naming this
version's artefacts, and the packaging files agreeing on Python >= 3.11."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from probe import MIN_PYTHON, __version__

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def install_section() -> str:
    after_rule = README.split("\n---\n", 1)[1].lstrip("\n")
    assert after_rule.startswith("## Install\n"), after_rule[:80]
    return after_rule.split("\n## ", 1)[0]


def test_install_follows_the_top_commands_with_at_most_two_commands_a_path() -> None:
    section = install_section()
    rows = [line for line in section.splitlines() if line.startswith("| ")
            and not line.startswith("| how")]
    paths = {row.split("|")[1].strip(): row.split("|")[2].strip() for row in rows}
    assert set(paths) == {"pip", "Debian package", "make install", "container"}
    for how, commands in paths.items():
        assert commands.count("&&") <= 1 and ";" not in commands, how
    assert paths["pip"] == (f"`make dist && pip install dist/apim_probe-{__version__}"
                            "-py3-none-any.whl`")
    assert re.fullmatch(rf"`make deb && apt install \./dist/apim-probe_{re.escape(__version__)}"
                        r"_\w+\.deb`", paths["Debian package"]), paths["Debian package"]
    assert paths["container"] == "`make base image`"
    for needed in ("Python 3.11 or newer", "apt-get install git make python3-venv",
                   "make release", "APIM_PYTHON=python3.11 make install"):
        assert needed in section, needed


def test_python_requirement_is_the_same_everywhere() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    need = ".".join(map(str, MIN_PYTHON))
    assert pyproject["project"]["requires-python"] == f">={need}"
    control = (ROOT / "deploy" / "deb" / "control").read_text(encoding="utf-8")
    assert f"Depends: python3 (>= {need})\n" in control
    assert f"(3, {MIN_PYTHON[1]})" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_build_outputs_are_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert {"rootfs/", "dist/", "build/"} <= set(ignored)


def test_the_deb_ships_the_units_and_config_the_repository_has() -> None:
    build = (ROOT / "deploy" / "deb" / "build.sh").read_text(encoding="utf-8")
    for unit in sorted((ROOT / "systemd").glob("*.service")) + sorted(
            (ROOT / "systemd").glob("*.timer")):
        assert f"systemd/{unit.name}" in build, unit.name
    assert "deploy/default/probe.toml" in build
    launcher = (ROOT / "deploy" / "deb" / "probe").read_text(encoding="utf-8")
    assert launcher.startswith("#!/usr/bin/python3 -I\n")
