"""The APIM model's dated changes as findings, where the evidence supports them
(probe/diagnosis/profiles.py): the CAPTCHA host of 30 September 2025 from APIM's
own networkstatus, trusted service connectivity (retired 15 March 2026) from the
imported APIM resource. Pure: REST examples (PROVENANCE-apim.md) and edits of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from probe.apim_reports import targets_from
from probe.apimmodel import DISABLE_OVER_PRIVILEGED
from probe.config import load
from probe.diagnosis import Context, captcha_endpoint, context_from, diagnose
from probe.results import RoundResult, Severity
from probe.targets import expand

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "azure" / "rest-examples"
BARE = RoundResult(datetime(2026, 12, 4, tzinfo=UTC), 0.1, (), (), ())


def _networkstatus(captcha: str) -> Any:
    text = (EXAMPLES / "ApiManagementServiceGetNetworkStatus.2024-05-01.json").read_text()
    return json.loads(text.replace("https://partner.prod.repmap.microsoft.com", captcha))


def test_apims_own_report_naming_the_old_captcha_host() -> None:
    checks = targets_from(_networkstatus("https://client.hip.live.com"), "ns.json",
                          ["Central US EUAP"]).checks
    (f,) = captcha_endpoint(BARE, Context(reports=checks))
    assert (f.id, f.severity, f.subject) == ("captcha-endpoint-changed", Severity.WARNING,
                                             "client.hip.live.com")
    assert "partner.prod.repmap.microsoft.com" in f.remedy and "30 September 2025" in f.remedy


def test_the_current_captcha_host_says_nothing() -> None:
    checks = targets_from(_networkstatus("https://partner.prod.repmap.microsoft.com"),
                          "ns.json", ["Central US EUAP"]).checks
    assert any(c.host == "partner.prod.repmap.microsoft.com" for c in checks)
    assert list(captcha_endpoint(BARE, Context(reports=checks))) == []


def _resource(tmp_path: Path, flag: str | None) -> Context:
    doc = json.loads((EXAMPLES / "ApiManagementServiceGetMultiRegionInternalVnet.2024-05-01"
                      ".json").read_text())
    if flag is not None:
        doc["properties"]["customProperties"][DISABLE_OVER_PRIVILEGED] = flag
    (tmp_path / "apim.json").write_text(json.dumps(doc))
    path = tmp_path / "probe.toml"
    path.write_text("[dns]\nresolvers = ['198.18.2.54']\n[apim]\nname = 'apimservice1'\n"
                    "mode = 'internal'\nimport = 'apim.json'\n")
    return context_from(expand(load(path)))


@pytest.mark.parametrize(("flag", "said"), [(None, "not set"), ("False", "False"),
                                            ("True", None), ("true", None)])
def test_trusted_service_connectivity_from_the_resource(tmp_path: Path, flag: str | None,
                                                        said: str | None) -> None:
    found = [f for f in diagnose(BARE, _resource(tmp_path, flag))
             if f.id == "trusted-service-connectivity"]
    if said is None:
        assert found == []
    else:
        (f,) = found
        assert f.severity is Severity.WARNING and f.subject == "apimservice1"
        assert f"is {said}" in f.summary and "15 March 2026" in f.summary


def test_without_a_resource_nothing_is_claimed() -> None:
    assert not [f for f in diagnose(BARE, Context()) if f.id == "trusted-service-connectivity"]
