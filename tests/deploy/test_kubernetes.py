"""deploy/kubernetes/: offline against the Kubernetes schemas (strict), the
PodMonitor by its own structure, and the hardening the README promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.32.0"  # AKS's supported range includes it; strict = no unknown fields


def documents(name: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((MANIFESTS / name).read_text(encoding="utf-8")) if d]
    assert all(isinstance(d, dict) for d in docs)
    return docs


def by_kind(kind: str) -> dict[str, Any]:
    found = [d for f in sorted(MANIFESTS.glob("*.yaml")) for d in documents(f.name)
             if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container() -> dict[str, Any]:
    containers = by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["ConfigMap", "Deployment", "Service"])
def test_core_resources_pass_the_strict_schema(kind: str) -> None:
    kubernetes_validate.validate(by_kind(kind), KUBERNETES_VERSION, strict=True)


def test_the_strict_schema_would_catch_a_misspelt_field() -> None:
    """The validation above can fail: a typo in the securityContext is rejected."""
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_podmonitor_scrapes_the_deployments_pods_on_the_metrics_port() -> None:
    """The PodMonitor is a CRD the schema package does not know: its shape by hand."""
    monitor = by_kind("PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(monitor["spec"]) == {"selector", "podMetricsEndpoints"}
    pod_labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
    port_names = {p["name"] for p in container()["ports"]}
    assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"


def test_one_replica_selected_by_its_own_labels() -> None:
    spec = by_kind("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_runs_non_root_read_only_with_net_raw_as_its_only_capability() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]["securityContext"]
    ctx = container()["securityContext"]
    assert pod["runAsNonRoot"] is True and ctx["runAsNonRoot"] is True
    assert isinstance(pod["runAsUser"], int) and pod["runAsUser"] != 0
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in ctx


def test_resources_and_health_probes() -> None:
    c = container()
    for kind in ("requests", "limits"):
        assert set(c["resources"][kind]) == {"cpu", "memory"}
    # readiness waits for the first round; liveness only for a stuck agent
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in {p["name"] for p in c["ports"]}


def test_service_exposes_9839_to_the_pods() -> None:
    service = by_kind("Service")
    (port,) = service["spec"]["ports"]
    assert port["port"] == 9839 and port["targetPort"] == "metrics"
    assert container()["ports"][0]["containerPort"] == 9839
    pod_labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_the_configmap_is_the_safe_default_mounted_where_the_agent_reads_it(
        tmp_path: Path) -> None:
    """Issue 20: applied as shipped, the pod probes nothing (no placeholder name
    is ever resolved) and says what to edit, exit 2."""
    config = tmp_path / "probe.toml"
    text = by_kind("ConfigMap")["data"]["probe.toml"]
    config.write_text(text, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "probe", "--check-config", "-c", str(config)],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"edit {config}: no instance or targets yet" in proc.stderr
    names = re.findall(r'"([a-z0-9-]+(?:\.[a-z0-9-]+)+)"', text)
    assert names and all(n.endswith((".example", ".invalid")) or n[0].isdigit() for n in names)
    c = container()
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["config"]["mountPath"] == "/etc/apim-probe" and mounts["config"]["readOnly"]
    assert c["args"][:2] == ["-c", "/etc/apim-probe/probe.toml"]
    assert "0.0.0.0:9839" in c["args"]
