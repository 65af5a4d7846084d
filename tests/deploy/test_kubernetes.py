"""deploy/kubernetes/ as kustomize renders it (`kubectl kustomize`, as
`kubectl apply -k` does): every rendering through the Kubernetes schemas in
strict mode, the PodMonitor by its own structure, one namespace, the pinned
tag, and the hardening, NetworkPolicy and overlays the README promises."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import probe
from probe.apim import ApimConfig
from probe.apim_reports import targets_from
from probe.apimmodel import Mode, ports_of
from probe.targets import apim_targets

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
RENDERINGS = ("base", "overlays/restricted", "overlays/prometheus-operator",
              "overlays/workload-identity")
KUBERNETES_VERSION = "1.32.0"  # AKS's supported range includes it; strict = no unknown fields
NAMESPACE = "apim-probe"
CLUSTER_SCOPED = {"Namespace"}

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None,
                                reason="kubectl (its built-in kustomize) is not installed")


@functools.cache
def rendered(name: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(["kubectl", "kustomize", str(KUSTOMIZE / name)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    docs = tuple(d for d in yaml.safe_load_all(out) if d)
    assert all(isinstance(d, dict) for d in docs)
    return docs


def by_kind(kind: str, name: str = "base") -> dict[str, Any]:
    found = [d for d in rendered(name) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in {name}, found {len(found)}"
    return found[0]


def container(name: str = "base") -> dict[str, Any]:
    containers = by_kind("Deployment", name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", RENDERINGS)
def test_every_rendering_passes_the_strict_schema(name: str) -> None:
    known = [d for d in rendered(name) if d["apiVersion"] != "monitoring.coreos.com/v1"]
    extra = {"ServiceAccount"} if name == "overlays/workload-identity" else set()
    assert {d["kind"] for d in known} == {"Namespace", "ConfigMap", "Deployment", "Service",
                                          "NetworkPolicy"} | extra
    for doc in known:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_strict_schema_would_catch_a_misspelt_field() -> None:
    """The validation above can fail: a typo in the securityContext is rejected."""
    deployment = yaml.safe_load(yaml.safe_dump(by_kind("Deployment")))
    pod = deployment["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", RENDERINGS)
def test_one_namespace_everywhere(name: str) -> None:
    for doc in rendered(name):
        if doc["kind"] in CLUSTER_SCOPED:
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["kind"]


@pytest.mark.parametrize("name", RENDERINGS)
def test_the_image_is_pinned_to_this_version(name: str) -> None:
    image = container(name)["image"]
    assert image.endswith(f":{probe.__version__}") and not image.endswith(":latest")


def test_base_probes_with_syn_as_uid_0_holding_net_raw_alone() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]["securityContext"]
    ctx = container()["securityContext"]
    assert pod["runAsUser"] == 0  # containerd: NET_RAW reaches no non-root process
    assert ctx["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
    assert pod["seccompProfile"] == ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in ctx and "--method=connect" not in container()["args"]


def test_restricted_overlay_meets_the_restricted_pod_security_standard() -> None:
    name = "overlays/restricted"
    namespace = by_kind("Namespace", name)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = by_kind("Deployment", name)["spec"]["template"]["spec"]["securityContext"]
    ctx = container(name)["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 65532
    assert ctx["capabilities"] == {"drop": ["ALL"]}  # nothing added back
    assert ctx["allowPrivilegeEscalation"] is False and ctx["runAsNonRoot"] is True
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container(name)["args"][-1] == "--method=connect"


def test_podmonitor_is_optional_and_carries_a_release_label() -> None:
    assert not [d for d in rendered("base") if d["kind"] == "PodMonitor"]
    name = "overlays/prometheus-operator"
    monitor = by_kind("PodMonitor", name)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(monitor["spec"]) == {"selector", "podMetricsEndpoints"}
    pod_labels = by_kind("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in {p["name"] for p in container(name)["ports"]}
    assert endpoint["path"] == "/metrics"


def _ports(rule: dict[str, Any]) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for p in rule.get("ports", []):
        out.update((p["protocol"], port) for port in range(p["port"], p.get("endPort",
                                                                          p["port"]) + 1))
    return out


def test_networkpolicy_lets_in_prometheus_only_and_out_dns_and_the_probed_ports() -> None:
    policy = by_kind("NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    pod_labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    (ingress,) = policy["ingress"]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}]
    assert _ports(ingress) == {("TCP", 9839)}
    egress = set().union(*(_ports(rule) for rule in policy["egress"]))
    assert {("UDP", 53), ("TCP", 53)} <= egress
    # every port the agent probes for an APIM instance, from the model
    hosts = {"storage": ("s.blob.core.windows.net",), "sql": ("d.database.windows.net",),
             "keyvault": ("k.vault.azure.net",), "monitor": ("m.monitor.azure.com",)}
    probed = {t.port for mode in (Mode.INTERNAL, Mode.EXTERNAL)
              for t in apim_targets(ApimConfig(name="c", mode=mode, **hosts))}
    probed |= {p for group in ("eventhub", "cache") for p in ports_of(group)}
    assert {("TCP", p) for p in probed} <= egress
    # and the ports an imported outboundNetworkDependenciesEndpoints document yields
    doc = json.loads((ROOT / "tests/data/azure/rest-examples/"
                      "ApiManagementServiceGetOutboundNetworkDependenciesEndpoints.2024-05-01.json"
                      ).read_text())
    imported = {t.port for t in targets_from(doc, "outbound.json").targets}
    assert {("TCP", p) for p in imported} <= egress, imported
    assert all(set(rule) == {"ports"} for rule in policy["egress"])  # no other destination


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


def test_resources_health_probes_and_the_service() -> None:
    c = container()
    for kind in ("requests", "limits"):
        assert set(c["resources"][kind]) == {"cpu", "memory"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    spec = by_kind("Deployment")["spec"]
    assert spec["replicas"] == 1
    (port,) = by_kind("Service")["spec"]["ports"]
    assert port["port"] == 9839 and port["targetPort"] == "metrics"


def test_workload_identity_overlay_federates_the_pod_and_keeps_the_selector() -> None:
    docs = rendered("overlays/workload-identity")
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert account["metadata"]["namespace"] == NAMESPACE
    assert "azure.workload.identity/client-id" in account["metadata"]["annotations"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
    # the selector is immutable on a live Deployment: the label stays out of it
    assert "azure.workload.identity/use" not in deployment["spec"]["selector"]["matchLabels"]
    assert not [d for d in rendered("base") if d["kind"] == "ServiceAccount"]
