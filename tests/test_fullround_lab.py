"""The failure stories, reproduced in the lab through the [apim] preset.

Each round runs inside the lab's jump box: the preset generates the targets,
a real round probes them, failing targets are traced, the gateway's health
path is requested, and the diagnosis names the story. Two vantage points:
the VNet's custom DNS as primary (the DNS stories), and the reference
resolver as primary (the network stories: drops, rejects, refusals, a
forbidden hop).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_client

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab")]

ROUTER = "198.18.1.1"

# The round exactly as `probe --once` runs it: probe, trace, health, diagnose.
_SNIPPET = """
import asyncio, dataclasses, json, sys
from pathlib import Path
from probe.config import load
from probe.fullround import complete_round
from probe.probers import make_prober
from probe.targets import expand

config = expand(load(Path(sys.argv[1])))
prober = make_prober(config.agent, warn=lambda m: None)
result = asyncio.run(complete_round(config, prober, can_trace=True))
print(json.dumps({"findings": [dataclasses.asdict(f) for f in result.findings],
                  "health": [dataclasses.asdict(h) for h in result.health]}))
"""

LAB_CA = Path(__file__).resolve().parent.parent / "lab" / "tls" / "gateway.crt"

PRESET = """
[agent]
timeout = 1.0
method = "connect"
[dns]
resolvers = {resolvers}
[apim]
name = "apimlab"
mode = "internal"
domain = "azure-api.test"
azure_dns = ["198.18.2.53"]
instance_address = "198.18.2.10"
storage = ["apimlabst.blob.core.windows.test"]
sql = ["apimlab-sql.database.windows.test"]
keyvault = ["apimlab-kv.vault.azure.test"]
monitor = ["gcs.monitoring.core.windows.test"]
forbidden_hops = ["198.18.1.1"]
ca_file = "{ca_file}"
[[target]]
name = "orders-backend"
host = "orders.backend.test"
port = 8080
dependency = "backend"
"""


def _findings(tmp_path: Path, resolvers: str) -> dict[tuple[str, str], dict[str, Any]]:
    path = tmp_path / "apim.toml"
    path.write_text(PRESET.format(resolvers=resolvers, ca_file=LAB_CA))
    proc = in_client([sys.executable, "-c", _SNIPPET, str(path)], timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # The gateway serves its status path over TLS with the lab's certificate.
    assert [(h["address"], h["status"], h["ok"]) for h in out["health"]] == [
        ("198.18.2.10", 200, True)]
    return {(f["id"], f["subject"]): f for f in out["findings"]}


def test_dns_stories_with_the_custom_dns_as_primary(tmp_path: Path) -> None:
    found = _findings(tmp_path, '["198.18.2.54", "198.18.2.53"]')
    ids = {key: f["severity"] for key, f in found.items()}
    for name in ("apimlabst.blob.core.windows.test", "apimlab-sql.database.windows.test",
                 "apimlab-kv.vault.azure.test", "gcs.monitoring.core.windows.test"):
        assert ids[("dns-custom-not-forwarding", name)] == "critical", sorted(ids)
    blob = found[("dns-custom-not-forwarding", "apimlabst.blob.core.windows.test")]
    assert "198.18.2.54: refused (REFUSED)" in " ".join(blob["evidence"])
    # The stale developer-portal record on the custom DNS.
    portal = "apimlab.developer.azure-api.test"
    assert ids[("apim-address-mismatch", portal)] == "critical"
    assert ids[("dns-answers-differ", portal)] == "warning"
    assert ("backend-refused", "orders-backend orders.backend.test:8080") in ids
    assert not any(i == "gateway-unhealthy" for i, _ in ids)
    assert not any(i == "management-unreachable" for i, _ in ids)


def test_network_stories_with_the_reference_resolver(tmp_path: Path) -> None:
    found = _findings(tmp_path, '["198.18.2.53"]')
    ids = {key: f["severity"] for key, f in found.items()}
    sql = "sql:apimlab-sql.database.windows.test:1433 apimlab-sql.database.windows.test:1433"
    assert ids[("outbound-dropped", sql)] == "critical"
    storage = ("storage:apimlabst.blob.core.windows.test:443 "
               "apimlabst.blob.core.windows.test:443")
    assert ids[("outbound-dropped", storage)] == "critical"  # the second A record
    kv = "keyvault:apimlab-kv.vault.azure.test:443 apimlab-kv.vault.azure.test:443"
    assert ids[("outbound-rejected-path", kv)] == "critical"
    assert ROUTER in found[("outbound-rejected-path", kv)]["summary"]
    monitor = ("monitor:gcs.monitoring.core.windows.test:1886 "
               "gcs.monitoring.core.windows.test:1886")
    assert ids[("outbound-rejected-host", monitor)] == "critical"
    assert ("backend-refused", "orders-backend orders.backend.test:8080") in ids
    # Forced tunnelling stand-in: the router is a forbidden hop on every traced path.
    hops = [f for (i, _), f in found.items() if i == "path-forbidden-hop"]
    assert hops and all(f["severity"] == "critical" for f in hops)
    assert any("hop 1" in f["summary"] for f in hops)
    assert not any(i.startswith(("dns-", "apim-address", "management-")) for i, _ in ids)


SELF_HOSTED = """
[agent]
timeout = 1.0
method = "connect"
[dns]
resolvers = ["198.18.2.53"]
[apim]
name = "apimlab"
mode = "internal"
domain = "azure-api.test"
azure_dns = ["198.18.2.53"]
instance_address = "198.18.2.10"
self_hosted_gateway = true
health_check = false
# The management endpoint, as seen from a network whose NSG drops 3443.
[[target]]
name = "management"
host = "198.18.2.31"
port = 3443
dependency = "management"
"""


def test_self_hosted_gateway_cut_off_and_management_unreachable(tmp_path: Path) -> None:
    """A self-hosted gateway whose configuration endpoint does not resolve (no
    record for apimlab.configuration.azure-api.test) and a management endpoint
    behind a dropping firewall."""
    path = tmp_path / "selfhosted.toml"
    path.write_text(SELF_HOSTED)
    proc = in_client([sys.executable, "-c", _SNIPPET, str(path)], timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = {f["id"]: f for f in json.loads(proc.stdout)["findings"]}
    config = found["configuration-unreachable"]
    assert config["severity"] == "critical"
    assert "apimlab.configuration.azure-api.test" in config["subject"]
    assert "nxdomain" in config["summary"]
    management = found["management-unreachable"]
    assert management["severity"] == "critical"
    assert "no-response" in management["summary"] and "3443" in management["remedy"]
