"""The table a person reads, rendered from a hand-built round."""

from __future__ import annotations

import re

import pytest

from probe.exporters import table
from probe.results import TcpResult
from tests.helpers.report_rounds import (
    ANSI,
    AZURE,
    CUSTOM,
    GATEWAY,
    KV,
    MONITOR,
    SQL,
    V6,
    line_of,
    round_of,
)


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


