"""`probe lint` itself: exit status, table, JSON, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probe.lint import run
from tests.helpers.lint import AZURE


def test_run_clean_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(AZURE / "nsg-internal-ok.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("LINT (mode internal)\n")
    assert out.endswith("0 finding(s): 0 critical, 0 warning, 0 info; exit 0\n")


def test_run_info_only_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"value": [
        {"addressPrefix": ["0.0.0.0/0"], "nextHopType": "Internet", "nextHopIpAddress": [],
         "source": "Default", "state": "Active", "name": None}]}))
    assert run([str(path), "--destination", "52.224.186.99"]) == 0
    out = capsys.readouterr().out
    assert "INFO route-destination" in out
    assert out.endswith("1 finding(s): 0 critical, 0 warning, 1 info; exit 0\n")


def test_run_findings_exit_1_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(AZURE / "nsg-broken.json"), str(AZURE / "route-table-forced.json"),
                "--control-plane", "52.224.186.99"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].endswith("nsg-broken.json: nsg nsg-apim-broken (nsg)")
    assert lines[2].endswith("route-table-forced.json: route table rt-apim-forced (route-table)")
    assert "CRITICAL nsg-rule-shadowed: nsg nsg-apim-broken: inbound ApiManagement -> " \
           "VirtualNetwork TCP 3443" in lines
    assert out.endswith("6 finding(s): 6 critical, 0 warning, 0 info; exit 1\n")


def test_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(AZURE / "nsg-external-arm.json"), str(AZURE / "nsg-internal-ok.json"),
                "--mode", "external", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "external"
    assert [f["kind"] for f in doc["files"]] == ["nsg", "nsg"]
    assert {f["id"] for f in doc["findings"]} == {"nsg-rule-missing"}
    assert doc["findings"][0]["severity"] == "critical"
    assert set(doc["findings"][0]) == {"id", "severity", "subject", "summary", "evidence",
                                       "remedy"}
    assert doc["exit_status"] == 1


@pytest.mark.parametrize(("file", "fragment"), [
    ("malformed-nsg-port.json",
     "securityRules[0].destinationPortRange: expected a port, a range 'a-b' or '*', got 'https'"),
    ("malformed-nsg-priority.json", "securityRules[2].priority: missing; expected an integer"),
    ("malformed-nsg-truncated.json", "not valid JSON at line"),
    ("malformed-effective-prefix.json", "value[1].addressPrefix: expected a list"),
    ("malformed-vnet-not-lintable.json", "expected the JSON of 'az network nsg show'"),
    ("networkstatus.json", "expected the JSON of 'az network nsg show'"),
    ("does-not-exist.json", "cannot read: No such file or directory"),
])
def test_run_malformed_exit_2(file: str, fragment: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(AZURE / "nsg-internal-ok.json"), str(AZURE / file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing half-reported
    assert captured.err.startswith(f"probe lint: error: {AZURE / file}:")  # :LINE where known
    assert fragment in captured.err
    assert "Traceback" not in captured.err


def test_run_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == 2
    assert run([str(AZURE / "nsg-internal-ok.json"), "--mode", "hybrid"]) == 2
    assert run([str(AZURE / "nsg-internal-ok.json"), "--destination", "apim.net"]) == 2
    assert "expected an IP address, got 'apim.net'" in capsys.readouterr().err
    assert run(["--help"]) == 0


def test_byte_order_mark_and_non_utf8(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    bom = tmp_path / "nsg.json"
    bom.write_bytes(b"\xef\xbb\xbf" + (AZURE / "nsg-internal-ok.json").read_bytes())
    assert run([str(bom)]) == 0
    utf16 = tmp_path / "nsg16.json"  # PowerShell 5's '>' writes UTF-16 with a BOM
    utf16.write_bytes((AZURE / "nsg-internal-ok.json").read_text().encode("utf-16"))
    assert run([str(utf16)]) == 0
    latin = tmp_path / "nsg-latin1.json"
    latin.write_bytes('{"name": "r\u00e9seau"}'.encode("latin-1"))
    assert run([str(latin)]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err


def test_run_with_subnet(capsys: pytest.CaptureFixture[str]) -> None:
    # nsg-broken allows 3443 to 10.0.1.0/24: with a different subnet it allows nothing.
    assert run([str(AZURE / "nsg-broken.json"), "--subnet", "10.0.9.0/24", "--format",
                "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    mgmt = [f for f in doc["findings"] if "3443" in f["subject"]]
    assert [f["id"] for f in mgmt] == ["nsg-rule-missing"]
    assert run([str(AZURE / "nsg-broken.json"), "--subnet", "not-a-prefix"]) == 2
    assert "expected a CIDR prefix" in capsys.readouterr().err


# --------------------------------------------------------------------------
# every shape through the command; bad shapes exit 2, never a traceback

DERIVED = AZURE / "derived"
HAND = AZURE / "hand"


def test_control_plane_and_destination_flags(capsys: pytest.CaptureFixture[str]) -> None:
    tunnel = str(HAND / "route-table-forced-tunnel-rest.json")
    assert run([tunnel, "--destination", "10.100.1.1", "--format", "json"]) == 1  # 0/0 to FW
    doc = json.loads(capsys.readouterr().out)
    by = {f["subject"]: f for f in doc["findings"]}
    assert by["route table rt-apim-tunnel: 10.100.1.1"]["severity"] == "info"
    assert run([tunnel, "--control-plane", "10.100.1.1", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by = {f["subject"]: f for f in doc["findings"]}
    assert by["route table rt-apim-tunnel: 10.100.1.1"]["id"] == \
        "route-destination-via-appliance"
    assert run([tunnel, "--control-plane", "nowhere"]) == 2
    assert "expected an IP address, got 'nowhere'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["az/nsg-show.json", "az/nsg-list.json", "az/nsg-rule-list.json",
                                  "az/nic-list-effective-nsg.json",
                                  "powershell/Get-AzNetworkSecurityGroup-utf16.json",
                                  "powershell/Get-AzEffectiveRouteTable.json"])
def test_every_shape_reads(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = run([str(DERIVED / name), "--destination", "10.1.2.3"])
    out = capsys.readouterr()
    assert status == 1 and out.err == ""
    assert "CRITICAL" in out.out


@pytest.mark.parametrize(("name", "fragment"), [
    ("value-empty.json", "value: nothing to check"),
    ("subnet-route-table-reference.json", "az network route-table show --ids"),
    ("powershell-depth-cut.json", "SecurityRules[0]: expected a security rule object"),
])
def test_refusals_exit_2(name: str, fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(HAND / name)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"probe lint: error: {HAND / name}: ")
    assert fragment in captured.err and "Traceback" not in captured.err


def test_help_lists_every_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("az network nsg rule list", "az network nic list-effective-nsg",
                    "az rest", "Get-AzEffectiveRouteTable", "--control-plane"):
        assert command in out
