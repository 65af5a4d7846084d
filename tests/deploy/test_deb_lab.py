"""The Debian package (`make deb`, deploy/deb/) on Debian with systemd as PID 1:
`systemd-nspawn -b` boots the cached debootstrap rootfs (tests/helpers/nspawn.py)
in a lab namespace of its own, with no network beyond it. The package installs
offline with apt (its one dependency, python3 >= 3.11, is in the rootfs),
puts `probe` on PATH, leaves the units disabled with the safe default config,
runs the agent under its unit with a lab config, keeps an edited conffile on
reinstall, and `dpkg --purge` leaves nothing behind.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe import __version__
from tests.deploy.test_systemd_live_lab import SILENT_DNS, missing, show
from tests.helpers import nspawn, rootfs
from tests.helpers.minilab import MiniLab, minilab, verdicts, wait_healthy, wait_metrics

pytestmark = [pytest.mark.lab, pytest.mark.deploy]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "/etc/apim-probe/probe.toml"
UNIT = "apim-probe.service"
UNITS = (UNIT, "apim-probe-textfile.service", "apim-probe-textfile.timer")


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = missing()
    if why:
        pytest.skip(why)
    out = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    # build.sh alone, into a directory of the test's own: dist/ is not touched.
    subprocess.run(["make", "--no-print-directory", "wheels"], cwd=ROOT, check=True,
                   capture_output=True, timeout=600)
    proc = subprocess.run(["deploy/deb/build.sh", "build/wheels", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False,
                          env={"PATH": nspawn.ENV["PATH"], "PYTHON": "build/pip-venv/bin/python"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"make wheels + build.sh: {time.monotonic() - started:.1f} s; {proc.stdout.strip()}")
    (found,) = out.glob(f"apim-probe_{__version__}_*.deb")
    return found


@pytest.fixture(scope="module")
def lab() -> Iterator[MiniLab]:
    with minilab("deb") as mini:
        yield mini


@pytest.fixture(scope="module")
def machine(lab: MiniLab, deb: Path, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[nspawn.Machine]:
    root = rootfs.rootfs(nspawn.PACKAGES)
    log = tmp_path_factory.mktemp("nspawn") / "console.log"
    with nspawn.booted(root, lab.client_ns, log, binds=[(deb.parent, "/debs")],
                       name="apd-deb") as m:
        m.write("/etc/resolv.conf", f"nameserver {SILENT_DNS}\n")
        started = time.monotonic()
        proc = m.run(["apt-get", "install", "-y", "--no-install-recommends",
                      f"/debs/{deb.name}"], timeout=300,
                     ).stdout
        print(f"apt-get install: {time.monotonic() - started:.1f} s")
        assert "Setting up apim-probe" in proc, proc
        yield m


def test_probe_is_on_path_and_byte_compiled(machine: nspawn.Machine) -> None:
    out = machine.run(["sh", "-c", "command -v probe && probe --version"]).stdout
    assert "/usr/bin/probe" in out and f"probe {__version__}" in out, out
    assert machine.run(["dpkg-query", "-W", "-f=${Status}", "apim-probe"]).stdout == (
        "install ok installed")
    pyc = machine.run(["find", "/opt/apim-probe/probe", "-name", "cli.cpython-*.pyc"]).stdout
    assert pyc.strip(), "postinst compiled no byte code"


def test_units_installed_neither_enabled_nor_started(machine: nspawn.Machine) -> None:
    for unit in UNITS:
        assert machine.run(["test", "-f", f"/lib/systemd/system/{unit}"],
                           check=False).returncode == 0, unit
        state = machine.run(["systemctl", "is-enabled", unit], check=False).stdout.strip()
        assert state in ("disabled", "static"), (unit, state)
        assert show(machine, "ActiveState", unit) == "inactive"


def test_shipped_config_probes_nothing_and_says_what_to_edit(machine: nspawn.Machine) -> None:
    assert machine.run(["cat", "/var/lib/dpkg/info/apim-probe.conffiles"]).stdout == (
        f"{CONFIG}\n")
    proc = machine.run(["probe", "--check-config", "-c", CONFIG], check=False)
    assert proc.returncode == 2, proc
    assert f"edit {CONFIG}: no instance or targets yet" in proc.stderr, proc.stderr


def test_the_unit_runs_the_agent_with_a_lab_config(
        machine: nspawn.Machine, lab: MiniLab) -> None:
    machine.write(CONFIG, lab.toml(listen="127.0.0.1:9839"))
    machine.run(["probe", "--check-config", "-c", CONFIG])
    started = time.monotonic()
    machine.run(["systemctl", "start", UNIT])
    wait_healthy(lab.client_ns, within=30)
    print(f"serving {time.monotonic() - started:.2f} s after systemctl start")
    body = wait_metrics(lab.client_ns, "apim_probe_rounds_total 1.0")
    assert 'apim_probe_tcp_probe_method{method="syn"} 1.0' in body
    assert verdicts(body) == {"open": ("open", "syn-ack"), "closed": ("closed", "reset")}
    # Debian's python3 runs it (the rootfs's, not the build host's).
    python = machine.run(["python3", "-c", "import platform; print(platform.python_version())"],
                         ).stdout.strip()
    assert f'apim_probe_build_info{{version="{__version__}",python="{python}"}} 1.0' in body


def test_reinstall_keeps_the_edited_config_and_restarts_the_agent(
        machine: nspawn.Machine, lab: MiniLab, deb: Path) -> None:
    pid = show(machine, "MainPID")
    machine.run(["dpkg", "-i", f"/debs/{deb.name}"], timeout=120)
    assert "198.19.251.1" in machine.run(["cat", CONFIG]).stdout
    assert show(machine, "ActiveState") == "active"
    assert show(machine, "MainPID") not in (pid, "0")
    wait_healthy(lab.client_ns, within=30)


def test_purge_leaves_nothing_behind(machine: nspawn.Machine) -> None:
    machine.run(["systemctl", "enable", UNIT])
    machine.run(["dpkg", "--purge", "apim-probe"], timeout=120)
    assert show(machine, "ActiveState") == "inactive"
    for path in ("/usr/bin/probe", "/opt/apim-probe", "/etc/apim-probe",
                 "/etc/systemd/system/multi-user.target.wants/apim-probe.service",
                 *(f"/lib/systemd/system/{unit}" for unit in UNITS)):
        assert machine.run(["test", "-e", path], check=False).returncode == 1, path
    assert machine.run(["dpkg-query", "-W", "apim-probe"], check=False).returncode != 0
    assert machine.run(["systemctl", "cat", UNIT], check=False).returncode != 0
