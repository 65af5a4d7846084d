"""The systemd units: hardening score, `systemd-analyze verify`, the essentials."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
SERVICES = ("apim-probe.service", "apim-probe-textfile.service")
ALL_UNITS = (*SERVICES, "apim-probe-textfile.timer")
INSTALLED_BINARY = "/opt/apim-probe/bin/probe"

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze not installed (apt-get install "
                                          "systemd)")


def settings(unit: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@needs_analyze
@pytest.mark.parametrize("unit", SERVICES)
def test_security_exposure_at_most_1_6(unit: str) -> None:
    """1.5 before issue 16; AF_PACKET, which the traceroute of failing targets
    needs under the unit's sandbox, costs 0.1 of it (and nothing else may grow)."""
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                           str(UNITS / unit)], capture_output=True, text=True, timeout=60,
                          check=False)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout + proc.stderr)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 1.6, proc.stdout


@needs_analyze
def test_verify_is_clean(tmp_path: Path) -> None:
    """The units as installed, with ExecStart pointing at a stand-in binary
    (verify checks that it exists and is executable)."""
    binary = tmp_path / "probe"
    binary.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    binary.chmod(0o755)
    for unit in ALL_UNITS:
        text = (UNITS / unit).read_text(encoding="utf-8")
        (tmp_path / unit).write_text(text.replace(INSTALLED_BINARY, str(binary)),
                                     encoding="utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           *(str(tmp_path / u) for u in ALL_UNITS)], capture_output=True,
                          text=True, timeout=60, check=False)
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "apim-probe" in line]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


def test_runs_unprivileged_with_cap_net_raw_only() -> None:
    for unit in SERVICES:
        s = settings(unit)
        assert s["DynamicUser"] == ["yes"]
        assert s["AmbientCapabilities"] == ["CAP_NET_RAW"]
        assert s["CapabilityBoundingSet"] == ["CAP_NET_RAW"]
        assert s["NoNewPrivileges"] == ["yes"]
        assert "PrivateUsers" not in s  # would void CAP_NET_RAW in the host netns
        assert INSTALLED_BINARY in s["ExecStart"][0]


def test_agent_unit_reloads_with_sighup_and_restarts_on_failure() -> None:
    s = settings("apim-probe.service")
    # --check-config first: a bad config fails `systemctl reload` and no SIGHUP is sent
    assert s["ExecReload"] == [f"{INSTALLED_BINARY} --check-config -c /etc/apim-probe/probe.toml",
                               "/bin/sh -c 'kill -HUP \"$MAINPID\"'"]
    assert s["Restart"] == ["on-failure"]
    assert s["RestartPreventExitStatus"] == ["2"]
    assert "--once" not in s["ExecStart"][0]
    assert s["WantedBy"] == ["multi-user.target"]


def test_units_allow_the_address_families_the_code_opens() -> None:
    """scapy's traceroute opens AF_PACKET sockets; psutil and the host context
    netlink; the rest is IP and the journal's socket."""
    for unit in SERVICES:
        families = set(settings(unit)["RestrictAddressFamilies"][0].split())
        assert families == {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_PACKET"}, unit


def test_textfile_unit_and_timer() -> None:
    s = settings("apim-probe-textfile.service")
    assert s["Type"] == ["oneshot"]
    assert "--once" in s["ExecStart"][0] and "--textfile" in s["ExecStart"][0]
    assert s["SuccessExitStatus"] == ["1"]  # a failing target is data, not a failed unit
    timer = settings("apim-probe-textfile.timer")
    assert timer["WantedBy"] == ["timers.target"]
    assert timer["OnUnitInactiveSec"]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_install_dry_run(tmp_path: Path) -> None:
    proc = subprocess.run(["make", "-n", "-f", str(UNITS / "install.mk"), "install",
                           f"DESTDIR={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"-m venv {tmp_path}/opt/apim-probe" in proc.stdout
    assert "deploy/default/probe.toml" in proc.stdout  # the safe default, not an example
    assert f"ln -sfn /opt/apim-probe/bin/probe {tmp_path}/usr/local/bin/probe" in proc.stdout
    for unit in ALL_UNITS:
        assert unit in proc.stdout
