"""The v2 tiers and workspace gateways in the lab: a real round through
`probe --once` in the jump box for each story the issue names, with findings
in the mode's own terms and nothing expected that the mode does not need (no
3443, no SQL, no 1886).

- v2 integration forced through an appliance that drops Storage (the lab's
  router drops the second blob address): a warning, Storage being optional
  for outbound integration;
- Premium v2 injection whose custom DNS cannot resolve *.vault.azure.net (the
  lab's custom DNS does not forward Azure zones): critical, in the profile's
  words;
- an injected workspace gateway whose port 80, the health ping's, is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import findings_by_id, probe_json

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab")]

COMMON = """
[agent]
timeout = 1.0
method = "connect"
[dns]
resolvers = {resolvers}
[apim]
name = "apimlab"
domain = "azure-api.test"
azure_dns = ["198.18.2.53"]
health_check = false
"""


def _round(tmp_path: Path, resolvers: str, apim: str) -> dict[str, Any]:
    path = tmp_path / "probe.toml"
    path.write_text(COMMON.format(resolvers=resolvers) + apim, encoding="utf-8")
    _, report = probe_json(["--once", "-c", str(path)], timeout=120)
    ports = {r["port"] for r in report["tcp"]}
    assert not ports & {3443, 1433, 1886}, ports  # nothing the v2 profiles drop
    return report


def test_v2_integration_through_an_appliance_that_drops_storage(tmp_path: Path) -> None:
    report = _round(tmp_path, '["198.18.2.53"]',
                    'mode = "v2-integration"\nstorage = ["apimlabst.blob.core.windows.test"]\n')
    dropped = findings_by_id(report)["outbound-dropped"]
    assert [(f["severity"], "apimlabst.blob.core.windows.test" in f["subject"])
            for f in dropped] == [("warning", True)]
    assert {(r["dependency"], r["required"]) for r in report["tcp"]} == {
        ("gateway", False), ("storage", False)}


def test_premium_v2_injection_with_a_dns_that_cannot_resolve_key_vault(tmp_path: Path) -> None:
    report = _round(tmp_path, '["198.18.2.54", "198.18.2.53"]',
                    'mode = "internal"\nsku = "PremiumV2"\ninstance_address = "198.18.2.10"\n'
                    'keyvault = ["apimlab-kv.vault.azure.test"]\n'
                    'storage = ["apimlabst.blob.core.windows.test"]\n')
    found = findings_by_id(report)
    (vault,) = found["profile-dns-unresolved"]
    assert vault["severity"] == "critical" and vault["subject"] == "apimlab-kv.vault.azure.test"
    assert "Premium v2, VNet injection" in vault["summary"] and "*.vault.azure.net" in \
        vault["summary"]
    assert "198.18.2.53: 198.18.2.13" in " ".join(vault["evidence"])  # Azure DNS answers
    # Storage is required for injection: the custom DNS refuses it too
    assert any(f["subject"] == "apimlabst.blob.core.windows.test" and f["severity"] == "critical"
               for f in found["dns-custom-not-forwarding"])


def test_workspace_gateway_whose_health_ping_port_is_refused(tmp_path: Path) -> None:
    report = _round(tmp_path, '["198.18.2.53"]',
                    'mode = "workspace-gateway-injection"\n'
                    'gateway_hostname = "apimlab.azure-api.test"\n')
    rows = {(r["port"], r["required"]): (r["state"], r["reason"]) for r in report["tcp"]}
    assert rows == {(443, True): ("open", "syn-ack"), (80, True): ("closed", "reset")}
    (port80,) = findings_by_id(report)["workspace-gateway-health-port"]
    assert port80["severity"] == "critical" and "198.18.2.10:80" in port80["summary"]
    assert "AzureLoadBalancer -> 80" in port80["remedy"]
