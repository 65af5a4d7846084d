"""The JSON report: the contract scripts read (README "JSON report")."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from probe.exporters import jsonreport
from tests.helpers.report_rounds import AZURE, CUSTOM, FINDING, README, round_of

TOP_KEYS = {"started", "duration_seconds", "method", "resolvers", "dns", "tcp", "findings",
            "traces", "health", "host", "stage_failures"}
DNS_KEYS = {"name", "resolver", "status", "rcode", "addresses", "cname_chain",
            "duration_seconds", "detail"}
TCP_KEYS = {"target", "dependency", "host", "address", "port", "state", "reason", "expected",
            "ok", "required", "method", "sent", "received", "loss_ratio", "rtt_seconds",
            "responder", "reply_ttl", "attempts"}
ATTEMPT_KEYS = {"state", "reason", "rtt_seconds", "responder", "reply_ttl"}
FINDING_KEYS = {"id", "severity", "subject", "summary", "evidence", "remedy"}
# what scripts were promised first: these must never go away
MUST_DNS = {"name", "resolver", "status", "rcode", "addresses", "cname_chain",
            "duration_seconds"}
MUST_TCP = {"target", "dependency", "host", "address", "port", "state", "reason", "expected",
            "ok", "method", "sent", "received", "rtt_seconds"}


def report(**kwargs: Any) -> dict[str, Any]:
    text = jsonreport.render(round_of(), **kwargs)
    assert text.endswith("\n")
    return json.loads(text)


def test_json_keys_are_the_contract() -> None:
    out = report(exit_status=1)
    assert set(out) == TOP_KEYS | {"exit_status"}
    assert all(set(d) == DNS_KEYS for d in out["dns"])
    assert all(set(t) == TCP_KEYS for t in out["tcp"])
    assert all(set(a) == ATTEMPT_KEYS for t in out["tcp"] for a in t["attempts"])
    assert all(set(f) == FINDING_KEYS for f in out["findings"])
    assert MUST_DNS <= DNS_KEYS and MUST_TCP <= TCP_KEYS


def test_exit_status_only_when_given() -> None:
    assert "exit_status" not in report()
    assert report(exit_status=0)["exit_status"] == 0


def test_readme_example_documents_the_same_keys() -> None:
    text = README.read_text()
    match = re.search(r"## JSON report.*?```json\n(.*?)```", text, re.S)
    assert match, "README has a JSON report example"
    example = json.loads(match.group(1))
    assert set(example) == TOP_KEYS | {"exit_status"}
    assert set(example["dns"][0]) == DNS_KEYS
    assert set(example["tcp"][0]) == TCP_KEYS
    assert set(example["tcp"][0]["attempts"][0]) == ATTEMPT_KEYS
    assert set(example["findings"][0]) == FINDING_KEYS


def test_json_values() -> None:
    out = report(exit_status=1)
    assert out["started"] == "2026-03-04T05:06:07.890123Z"
    assert out["duration_seconds"] == 0.5
    assert out["resolvers"] == [CUSTOM, AZURE]
    assert out["dns"][0] == {
        "name": "contoso.azure-api.net", "resolver": CUSTOM, "status": "ok",
        "rcode": "NOERROR", "addresses": ["10.0.0.5"], "cname_chain": ["apimgmt.cloudapp.net"],
        "duration_seconds": 0.0021, "detail": ""}
    timeout = out["dns"][5]
    assert (timeout["status"], timeout["rcode"], timeout["addresses"]) == ("timeout", None, [])
    gateway, sql, monitor, kv, v6 = out["tcp"]
    assert (gateway["state"], gateway["reason"], gateway["ok"]) == ("open", "syn-ack", True)
    assert (gateway["sent"], gateway["received"]) == (3, 2)
    assert gateway["loss_ratio"] == pytest.approx(1 / 3, abs=1e-4)
    assert gateway["rtt_seconds"] == [0.01, 0.03]  # answered attempts only
    assert gateway["attempts"][1] == {"state": "filtered", "reason": "no-response",
                                      "rtt_seconds": None, "responder": None,
                                      "reply_ttl": None}
    assert (sql["responder"], sql["reply_ttl"], sql["ok"]) == ("10.0.1.1", 63, False)
    assert (monitor["required"], monitor["loss_ratio"]) == (False, 1.0)
    assert kv == {**kv, "address": None, "state": "unresolved", "reason": "nxdomain",
                  "sent": 0, "received": 0, "loss_ratio": None, "rtt_seconds": [],
                  "attempts": [], "ok": False}
    assert v6["address"] == "2001:db8::5"
    assert out["findings"] == [{
        "id": "dns-custom-not-forwarding", "severity": "critical",
        "subject": "contoso-kv.vault.azure.net", "summary": FINDING.summary,
        "evidence": list(FINDING.evidence), "remedy": FINDING.remedy}]


def test_json_types() -> None:
    out = report()
    for d in out["dns"]:
        assert isinstance(d["addresses"], list) and isinstance(d["cname_chain"], list)
        assert isinstance(d["duration_seconds"], float)
    for t in out["tcp"]:
        assert isinstance(t["port"], int) and isinstance(t["ok"], bool)
        assert isinstance(t["sent"], int) and isinstance(t["received"], int)
        assert all(isinstance(x, float) for x in t["rtt_seconds"])


def test_json_of_an_empty_round() -> None:
    out = json.loads(jsonreport.render(round_of((), (), ())))
    assert (out["dns"], out["tcp"], out["findings"]) == ([], [], [])


def test_json_is_strict_json() -> None:
    # no NaN or Infinity, which JSON parsers outside Python refuse
    text = jsonreport.render(round_of(), exit_status=1)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
