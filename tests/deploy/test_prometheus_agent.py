"""deploy/prometheus-agent: the agent-mode config is valid for the Prometheus we
ship beside (promtool, --agent), carries the identity labels the rules keep,
and never rewrites job or instance away from what the rules expect."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "deploy" / "prometheus-agent" / "prometheus-agent.yml"
PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
def test_agent_config_passes_promtool_in_agent_mode() -> None:
    proc = subprocess.run([str(PROMTOOL), "check", "config", "--agent", str(AGENT)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_agent_config_names_the_vnet_and_scrapes_once_a_round() -> None:
    config = yaml.safe_load(AGENT.read_text(encoding="utf-8"))
    assert {"vnet", "region"} <= set(config["global"]["external_labels"])
    assert config["global"]["scrape_interval"] == "15s"
    assert [job["job_name"] for job in config["scrape_configs"]] == ["apim-probe"]
    assert config["remote_write"]


def test_managed_addon_podmonitor_uses_the_addons_api_group() -> None:
    monitor = yaml.safe_load((AGENT.parent / "podmonitor-azure-managed.yaml").read_text())
    assert monitor["apiVersion"] == "azmonitoring.coreos.com/v1"
    labels = {r["targetLabel"] for r in monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]}
    assert labels == {"vnet", "region"}
