"""remote_write, proven with real components (issue 19): three VNet namespaces,
each with the agent and a Prometheus in agent mode remote-writing to a central
Prometheus that evaluates the shipped rules. Every agent arrives as
job="apim-probe", instance="127.0.0.1:9839"; only the external labels vnet and
region differ. Break Storage in one VNet, then DNS in another: the shipped
alerts and the fleet alert fire for exactly that VNet, with its labels, and
resolve after the fix; `probe fleet` against the central Prometheus says the
same."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import fleetlab
from tests.helpers.generated import RULES

pytestmark = pytest.mark.lab

CONNECTIVITY = {"ApimProbeRequiredDependencyUnreachable", "ApimProbeDependencyFailsOnlyHere",
                "ApimProbeDnsResolverDown", "ApimProbeDnsNameUnresolvable"}


@pytest.fixture
def fleet(lab: None, tmp_path: Path) -> Iterator[fleetlab.Fleet]:
    with fleetlab.running(tmp_path, [RULES]) as running:
        running.wait("three agents reach the central Prometheus", lambda: len({
            s["metric"].get("vnet") for s in running.query(
                "apim_probe_tcp_failing_rounds == 0")}) == 3, timeout=90)
        yield running


def firing(fleet: fleetlab.Fleet, names: set[str] = CONNECTIVITY) -> set[tuple[str, str]]:
    return {(a["alertname"], a.get("vnet", "")) for a in fleet.alerts()
            if a["alertname"] in names}


def probe_fleet() -> tuple[int, dict[str, object]]:
    proc = subprocess.run([*fleetlab.ns_exec(fleetlab.HUB), sys.executable, "-m", "probe",
                           "fleet", "--prometheus", fleetlab.CENTRAL, "--format", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, json.loads(proc.stdout or "{}")


def test_alerts_fire_for_exactly_the_broken_vnet_under_remote_write(
        fleet: fleetlab.Fleet) -> None:
    # every agent is the same job and instance centrally: only vnet/region tell them apart
    instances = {(s["metric"]["job"], s["metric"]["instance"])
                 for s in fleet.query("apim_probe_build_info")}
    assert instances == {("apim-probe", "127.0.0.1:9839")}
    assert firing(fleet) == set()
    # the central Prometheus evaluates every rule without errors (no many-to-many)
    code, _ = probe_fleet()
    assert code == 0

    fleetlab.break_storage("b", True)
    fleet.wait("Storage alerts for vnet-b", lambda: {
        ("ApimProbeRequiredDependencyUnreachable", "vnet-b"),
        ("ApimProbeDependencyFailsOnlyHere", "vnet-b")} <= firing(fleet))
    assert firing(fleet) == {("ApimProbeRequiredDependencyUnreachable", "vnet-b"),
                             ("ApimProbeDependencyFailsOnlyHere", "vnet-b")}
    [alert] = [a for a in fleet.alerts() if a["alertname"] == "ApimProbeDependencyFailsOnlyHere"]
    assert (alert["region"], alert["dependency"], alert["host"]) == (
        "westeurope", "storage", fleetlab.STORAGE_NAME)
    code, view = probe_fleet()
    assert code == 1
    assert view["fails_here_works_elsewhere"] == [{
        "dependency": "storage", "host": fleetlab.STORAGE_NAME, "port": "443",
        "failing": ["vnet-b (westeurope)"],
        "working": ["vnet-a (westeurope)", "vnet-c (northeurope)"]}]

    fleetlab.break_storage("b", False)
    fleet.wait("Storage alerts resolved", lambda: not firing(fleet))

    fleet.net.break_dns("c", "servfail")  # the custom DNS server lost its forwarder
    fleet.wait("DNS alerts for vnet-c", lambda: {
        ("ApimProbeDnsResolverDown", "vnet-c"),
        ("ApimProbeDnsNameUnresolvable", "vnet-c")} <= firing(fleet))
    assert {vnet for _, vnet in firing(fleet)} == {"vnet-c"}
    fleet.net.break_dns("c", None)
    fleet.wait("DNS alerts resolved", lambda: not firing(fleet))
    rules = fleet.get(fleetlab.CENTRAL + "/api/v1/rules")["data"]["groups"]
    unhealthy = [(r["name"], r.get("lastError")) for g in rules for r in g["rules"]
                 if r.get("health") != "ok"]
    assert not unhealthy, unhealthy
