"""The table (for a human) and the JSON report (the contract scripts read),
rendered from hand-built rounds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from probe.exporters import jsonreport, table
from probe.results import (
    Attempt,
    DnsResult,
    DnsStatus,
    Finding,
    PortState,
    RoundResult,
    Severity,
    TcpResult,
)

OPEN, CLOSED, FILTERED, UNRESOLVED = (PortState.OPEN, PortState.CLOSED, PortState.FILTERED,
                                      PortState.UNRESOLVED)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
README = Path(__file__).resolve().parent.parent / "README.md"

SYN_ACK = Attempt(OPEN, "syn-ack", 0.010, "10.0.0.5")
SILENT = Attempt(FILTERED, "no-response")
ADMIN = Attempt(FILTERED, "admin-prohibited", 0.002, "10.0.1.1", 63)


def tcp(target: str, address: str | None, port: int, state: PortState, reason: str,
        attempts: tuple[Attempt, ...] = (), *, host: str = "contoso.azure-api.net",
        expected: PortState = OPEN, required: bool = True, dependency: str = "gateway",
        responder: str | None = None, reply_ttl: int | None = None) -> TcpResult:
    return TcpResult(target, dependency, host, address, port, state, reason, expected,
                     state == expected, required, "connect", attempts, responder, reply_ttl)


GATEWAY = tcp("gateway", "10.0.0.5", 443, OPEN, "syn-ack",
              (Attempt(OPEN, "syn-ack", 0.010, "10.0.0.5"), SILENT,
               Attempt(OPEN, "syn-ack", 0.030, "10.0.0.5")), responder="10.0.0.5")
SQL = tcp("sql", "10.0.3.4", 1433, FILTERED, "admin-prohibited", (ADMIN, ADMIN, ADMIN),
          host="contoso-sql.database.windows.net", dependency="sql", responder="10.0.1.1",
          reply_ttl=63)
MONITOR = tcp("monitor", "10.0.4.4", 1886, FILTERED, "no-response", (SILENT, SILENT, SILENT),
              host="gcs.prod.monitoring.core.windows.net", dependency="monitor", required=False)
KV = tcp("keyvault", None, 443, UNRESOLVED, "nxdomain", host="contoso-kv.vault.azure.net",
         dependency="keyvault")
V6 = tcp("gateway-v6", "2001:db8::5", 443, OPEN, "syn-ack",
         (Attempt(OPEN, "syn-ack", 0.020, "2001:db8::5"),), responder="2001:db8::5")

CUSTOM, AZURE = "10.0.0.4", "168.63.129.16"
DNS = (
    DnsResult("contoso.azure-api.net", CUSTOM, DnsStatus.OK, "NOERROR", ("10.0.0.5",),
              ("apimgmt.cloudapp.net",), 0.0021),
    DnsResult("contoso.azure-api.net", AZURE, DnsStatus.OK, "NOERROR", ("10.0.0.5",),
              ("apimgmt.cloudapp.net",), 0.0030),
    DnsResult("contoso-kv.vault.azure.net", CUSTOM, DnsStatus.NXDOMAIN, "NXDOMAIN", (), (),
              0.0012),
    DnsResult("contoso-kv.vault.azure.net", AZURE, DnsStatus.OK, "NOERROR", ("10.0.2.4",),
              ("contoso-kv.privatelink.vaultcore.azure.net",), 0.0040),
    DnsResult("gcs.prod.monitoring.core.windows.net", CUSTOM, DnsStatus.OK, "NOERROR",
              ("10.0.4.4",), (), 0.001),
    DnsResult("gcs.prod.monitoring.core.windows.net", AZURE, DnsStatus.TIMEOUT, None, (), (),
              2.0, "no answer within 2 s"),
)
FINDING = Finding("dns-custom-not-forwarding", Severity.CRITICAL, "contoso-kv.vault.azure.net",
                  "contoso-kv.vault.azure.net fails on custom DNS 10.0.0.4 (nxdomain)",
                  ("10.0.0.4: nxdomain (NXDOMAIN) (1.2 ms)", "168.63.129.16: 10.0.2.4 (4.0 ms)"),
                  "Add a conditional forwarder to Azure DNS 168.63.129.16.")
STARTED = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def round_of(tcp_rows: tuple[TcpResult, ...] = (GATEWAY, SQL, MONITOR, KV, V6),
             dns: tuple[DnsResult, ...] = DNS,
             findings: tuple[Finding, ...] = (FINDING,)) -> RoundResult:
    return RoundResult(STARTED, 0.5, (CUSTOM, AZURE), dns, tcp_rows, findings)


def line_of(text: str, start: str) -> str:
    (line,) = [x for x in text.splitlines() if x.startswith(start)]
    return line


# --------------------------------------------------------------------------
# table

def test_plain_table_has_no_escape_codes() -> None:
    assert "\x1b" not in table.render(round_of(), colour=False)


def test_colour_table_paints_verdicts() -> None:
    out = table.render(round_of(), colour=True)
    assert "\x1b[" in out
    assert re.search(r"\x1b\[32mok\s*\x1b\[0m", line_of(out, "\x1b[1mgateway "))
    assert re.search(r"\x1b\[31mFAIL \(expected open\)", out)
    assert re.search(r"\x1b\[33mwarn \(expected open, optional\)", out)


def test_colour_changes_nothing_but_colour() -> None:
    plain = table.render(round_of(), colour=False, exit_status=1)
    coloured = table.render(round_of(), colour=True, exit_status=1)
    assert [x.rstrip() for x in ANSI.sub("", coloured).splitlines()] == plain.splitlines()


def test_tcp_rows() -> None:
    out = table.render(round_of(), colour=False)
    gateway = line_of(out, "gateway ")
    assert gateway.split() == ["gateway", "gateway", "10.0.0.5:443", "open", "syn-ack",
                               "20.0", "ms", "33%", "ok"]
    # a reject from a router: who answered is shown, and the row fails
    sql = line_of(out, "sql ")
    assert "admin-prohibited" in sql
    assert "from 10.0.1.1" in sql
    assert sql.endswith("FAIL (expected open)")
    # an optional target failing warns
    monitor = line_of(out, "monitor ")
    assert "100%" in monitor
    assert monitor.endswith("warn (expected open, optional)")
    # no address: the name and the DNS reason
    kv = line_of(out, "keyvault ")
    assert kv.split()[:5] == ["keyvault", "keyvault", "contoso-kv.vault.azure.net:443",
                              "unresolved", "nxdomain"]
    # IPv6 written the way it can be pasted
    assert "[2001:db8::5]:443" in line_of(out, "gateway-v6 ")


def test_the_target_itself_answering_is_not_shown_as_a_responder() -> None:
    out = table.render(round_of(), colour=False)
    assert "from" not in line_of(out, "gateway ")


def test_columns_line_up() -> None:
    out = table.render(round_of(), colour=False)
    lines = [line_of(out, "TARGET"), *(line_of(out, f"{t} ") for t in
                                       ("gateway", "sql", "monitor", "keyvault", "gateway-v6"))]
    column = lines[0].index("STATE")
    assert all(x[column:].split()[0] in ("STATE", "open", "filtered", "unresolved")
               for x in lines)


def test_dns_grid_flags_disagreement_only() -> None:
    out = table.render(round_of(), colour=False)
    header = line_of(out, "NAME")
    assert header.split() == ["NAME", CUSTOM, AZURE]
    agree = line_of(out, "contoso.azure-api.net")
    assert "disagree" not in agree
    assert agree.startswith("contoso.azure-api.net -> apimgmt.cloudapp.net")
    kv = line_of(out, "contoso-kv.vault.azure.net")
    assert "NXDOMAIN" in kv and "10.0.2.4" in kv
    assert kv.endswith("<- resolvers disagree")
    monitor = line_of(out, "gcs.prod.monitoring.core.windows.net")
    assert "timeout" in monitor and "10.0.4.4" in monitor
    assert monitor.endswith("<- resolvers disagree")


def test_dns_cell_under_its_resolver() -> None:
    out = table.render(round_of(), colour=False)
    azure_column = line_of(out, "NAME").index(AZURE)
    kv = line_of(out, "contoso-kv.vault.azure.net")
    assert kv[azure_column:].startswith("10.0.2.4")


def test_findings_section() -> None:
    out = table.render(round_of(), colour=False)
    assert "FINDINGS" in out
    assert ("CRITICAL dns-custom-not-forwarding: contoso-kv.vault.azure.net fails on custom DNS"
            in out)
    assert "    10.0.0.4: nxdomain (NXDOMAIN) (1.2 ms)" in out
    assert "    remedy: Add a conditional forwarder" in out
    assert "FINDINGS" not in table.render(round_of(findings=()), colour=False)


@pytest.mark.parametrize(("rows", "exit_status", "summary"), [
    ((GATEWAY, SQL, MONITOR, KV, V6), 1,
     "2/4 required target addresses as expected, 1 finding(s), round took 0.50 s, exit 1"),
    ((GATEWAY, MONITOR), 0,
     "1/1 required target addresses as expected, 1 finding(s), round took 0.50 s, exit 0"),
    ((GATEWAY,), None,
     "1/1 required target addresses as expected, 1 finding(s), round took 0.50 s"),
])
def test_summary_line(rows: tuple[TcpResult, ...], exit_status: int | None, summary: str) -> None:
    out = table.render(round_of(rows), colour=False, exit_status=exit_status)
    assert out.splitlines()[-1] == summary


def test_summary_is_red_when_a_required_target_fails() -> None:
    failing = table.render(round_of((GATEWAY, SQL)), colour=True).splitlines()[-1]
    passing = table.render(round_of((GATEWAY, MONITOR)), colour=True).splitlines()[-1]
    assert failing.startswith("\x1b[31m")
    assert passing.startswith("\x1b[32m")


def test_empty_round() -> None:
    out = table.render(round_of((), (), ()), colour=False)
    assert "no targets" in out
    assert "DNS" not in out
    assert "\x1b" not in out


# --------------------------------------------------------------------------
# JSON: the documented contract (README "JSON report")

TOP_KEYS = {"started", "duration_seconds", "resolvers", "dns", "tcp", "findings", "traces",
            "health"}
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
