"""`probe --once` end to end: the real CLI inside the lab's jump box.

Every state and reason, every DNS status, per-address fan-out, the exit
status, and the table a person reads. Answers come from real servers:
dnsmasq, listeners, nftables drops and rejects, unreachable routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pytest

from tests.conftest import in_client, probe_json, run_probe

pytestmark = pytest.mark.lab

ROUTER = "198.18.1.1"
CUSTOM_DNS = "198.18.2.54"
AZURE_DNS = "198.18.2.53"
DEAD_DNS = "198.18.2.55"

# (address, port, state, reason, responder): who answers what, and from where.
TCP_CASES: list[tuple[str, int, str, str, str | None]] = [
    ("198.18.2.10", 3443, "open", "syn-ack", "198.18.2.10"),
    ("198.18.2.14", 8080, "closed", "reset", "198.18.2.14"),
    ("198.18.2.12", 1433, "filtered", "no-response", None),
    ("198.18.2.13", 443, "filtered", "admin-prohibited", ROUTER),
    ("198.18.2.15", 1886, "filtered", "port-unreach", "198.18.2.15"),
    ("198.18.2.20", 7000, "filtered", "net-unreach", ROUTER),
    ("198.18.2.20", 7001, "filtered", "host-unreach", ROUTER),
    ("198.18.2.20", 7002, "filtered", "proto-unreach", ROUTER),
    ("198.18.2.20", 7003, "filtered", "port-unreach", ROUTER),
    ("198.18.2.20", 7004, "filtered", "net-prohibited", ROUTER),
    ("198.18.2.20", 7005, "filtered", "host-prohibited", ROUTER),
    ("198.18.2.20", 7006, "filtered", "admin-prohibited", ROUTER),
    ("198.18.4.10", 443, "filtered", "host-unreach", ROUTER),
    ("198.18.5.10", 443, "filtered", "admin-prohibited", ROUTER),
    ("198.18.6.10", 443, "filtered", "no-response", None),
]



def _target_flags(specs: Iterable[str]) -> list[str]:
    return [flag for spec in specs for flag in ("--target", spec)]


def _rows(report: dict[str, Any]) -> dict[tuple[str | None, int], dict[str, Any]]:
    return {(row["address"], row["port"]): row for row in report["tcp"]}


@pytest.mark.parametrize("method", ["connect", "syn"])
def test_every_state_and_reason_with_its_responder(lab: None, method: str) -> None:
    targets = _target_flags(f"t{i}={a}:{p}" for i, (a, p, *_rest) in enumerate(TCP_CASES))
    status, report = probe_json(["--once", "--method", method, "--timeout", "1", "--count", "2",
                                 "--resolver", AZURE_DNS, *targets])
    rows = _rows(report)
    got = {(a, p): (rows[(a, p)]["state"], rows[(a, p)]["reason"], rows[(a, p)]["responder"])
           for a, p, *_ in TCP_CASES}
    want = {(a, p): (state, reason, responder) for a, p, state, reason, responder in TCP_CASES}
    assert got == want
    for row in report["tcp"]:
        assert row["method"] == method
        assert row["sent"] == 2
        answered = row["reason"] != "no-response"
        assert row["received"] == (2 if answered else 0)
        assert len(row["rtt_seconds"]) == row["received"]
        assert all(0 < rtt < 1 for rtt in row["rtt_seconds"])
        assert row["ok"] == (row["state"] == "open")
    # Only one target is open; everything else fails its "open" expectation.
    assert status == 1


def test_dns_statuses_side_by_side(lab: None) -> None:
    names = {
        "apimlab.management.azure-api.test": "management",
        "apimlabst.blob.core.windows.test": "storage",
        "apimlab-sql.database.windows.test": "sql",
        "apimlab-kv.vault.azure.test": "keyvault",
        "gcs.monitoring.core.windows.test": "monitor",
        "nodata.lab.test": "nodata",
        "missing.lab.test": "missing",
    }
    args = ["--once", "--timeout", "1", "--count", "1"]
    for resolver in (CUSTOM_DNS, AZURE_DNS, DEAD_DNS):
        args += ["--resolver", resolver]
    for name, label in names.items():
        args += ["--target", f"{label}={name}:443"]
    status, report = probe_json(args)
    dns = {(d["name"], d["resolver"]): d for d in report["dns"]}
    assert len(dns) == len(names) * 3

    def status_of(name: str, resolver: str) -> str:
        return str(dns[(name, resolver)]["status"])

    # The custom DNS fails each Azure zone in its own way, Azure DNS answers.
    assert status_of("apimlabst.blob.core.windows.test", CUSTOM_DNS) == "refused"
    assert dns[("apimlabst.blob.core.windows.test", CUSTOM_DNS)]["rcode"] == "REFUSED"
    assert status_of("apimlab-sql.database.windows.test", CUSTOM_DNS) == "servfail"
    assert status_of("apimlab-kv.vault.azure.test", CUSTOM_DNS) == "nxdomain"
    assert status_of("gcs.monitoring.core.windows.test", CUSTOM_DNS) == "timeout"
    assert status_of("apimlab.management.azure-api.test", CUSTOM_DNS) == "ok"
    for name in ("apimlabst.blob.core.windows.test", "apimlab-sql.database.windows.test",
                 "apimlab-kv.vault.azure.test", "gcs.monitoring.core.windows.test"):
        assert status_of(name, AZURE_DNS) == "ok"
    assert status_of("nodata.lab.test", AZURE_DNS) == "nodata"
    assert dns[("nodata.lab.test", AZURE_DNS)]["rcode"] == "NOERROR"
    assert status_of("missing.lab.test", AZURE_DNS) == "nxdomain"
    # A dead resolver costs the timeout, not a hang.
    for name in names:
        answer = dns[(name, DEAD_DNS)]
        assert answer["status"] == "timeout"
        assert answer["rcode"] is None
        assert 0.9 <= answer["duration_seconds"] <= 1.5
    assert report["duration_seconds"] < 6

    blob = dns[("apimlabst.blob.core.windows.test", AZURE_DNS)]
    assert sorted(blob["addresses"]) == ["198.18.2.11", "198.18.2.31"]
    sql = dns[("apimlab-sql.database.windows.test", AZURE_DNS)]
    assert sql["cname_chain"] == ["apimlab-sql.privatelink.database.windows.test"]
    assert sql["addresses"] == ["198.18.2.12"]

    # Names failing on the primary (custom) resolver are unresolved, with the DNS status.
    tcp = {row["target"]: row for row in report["tcp"]}
    assert (tcp["storage"]["state"], tcp["storage"]["reason"]) == ("unresolved", "refused")
    assert (tcp["keyvault"]["state"], tcp["keyvault"]["reason"]) == ("unresolved", "nxdomain")
    assert tcp["storage"]["address"] is None
    assert status == 1

    # The report says where the resolvers disagree, and the primary failing is critical.
    findings = {(f["id"], f["subject"]): f for f in report["findings"]}
    blob_finding = findings[("dns-resolver-fails", "apimlabst.blob.core.windows.test")]
    assert blob_finding["severity"] == "critical"
    assert any(CUSTOM_DNS in line and "refused" in line for line in blob_finding["evidence"])


def test_every_address_of_a_name_is_probed(lab: None) -> None:
    status, report = probe_json(["--once", "--timeout", "1", "--count", "2",
                                 "--resolver", AZURE_DNS,
                                 "--target", "storage=apimlabst.blob.core.windows.test:443"])
    rows = _rows(report)
    assert rows[("198.18.2.11", 443)]["state"] == "open"
    assert rows[("198.18.2.31", 443)]["state"] == "filtered"
    assert rows[("198.18.2.31", 443)]["reason"] == "no-response"
    assert {r["target"] for r in report["tcp"]} == {"storage"}
    assert status == 1  # one of the two storage addresses is cut off


def test_exit_status_follows_required_targets(lab: None) -> None:
    common = ["--timeout", "1", "--count", "1", "--resolver", AZURE_DNS]
    healthy = run_probe(["--once", *common,
                         "--target", "mgmt=apimlab.management.azure-api.test:3443",
                         "--target", "gw=apimlab.azure-api.test:443"])
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    broken = run_probe(["--once", *common,
                        "--target", "sql=apimlab-sql.database.windows.test:1433"])
    assert broken.returncode == 1


def test_expectations_closed_and_filtered_can_be_met(lab: None, tmp_path: Any) -> None:
    config = tmp_path / "expect.toml"
    config.write_text(f"""
[agent]
timeout = 1.0
[dns]
resolvers = ["{AZURE_DNS}"]
[[target]]
name = "backend-down-on-purpose"
host = "orders.backend.test"
port = 8080
expect = "closed"
[[target]]
name = "sql-must-be-blocked"
host = "apimlab-sql.database.windows.test"
port = 1433
expect = "filtered"
count = 1
[[target]]
name = "optional-broken"
host = "198.18.6.10"
port = 443
required = false
count = 1
""")
    status, report = probe_json(["--once", "-c", str(config)])
    tcp = {row["target"]: row for row in report["tcp"]}
    assert tcp["backend-down-on-purpose"]["ok"] is True
    assert tcp["sql-must-be-blocked"]["ok"] is True
    assert tcp["optional-broken"]["ok"] is False
    assert status == 0


def test_system_resolver_is_the_namespace_resolv_conf(lab: None) -> None:
    status, report = probe_json(["--once", "--timeout", "1", "--count", "1",
                                 "--resolver", "system", "--resolver", AZURE_DNS,
                                 "--target", "mgmt=apimlab.management.azure-api.test:3443"])
    assert report["resolvers"] == [CUSTOM_DNS, AZURE_DNS]
    assert status == 0


def test_demo_table_reads_at_a_glance_and_is_plain_when_piped(lab: None) -> None:
    proc = run_probe(["--once", "-c", "examples/lab.toml"])
    out = proc.stdout
    assert proc.returncode == 1, proc.stderr
    assert "\x1b[" not in out
    assert re.search(r"management\s+management\s+198\.18\.2\.10:3443\s+open\s+syn-ack", out)
    assert re.search(r"orders-backend\s+backend\s+198\.18\.2\.14:8080\s+closed\s+reset", out)
    assert re.search(r"keyvault\s+keyvault\s+apimlab-kv\.vault\.azure\.test:443\s+unresolved"
                     r"\s+nxdomain", out)
    assert "resolvers disagree" in out
    assert "dns-resolver-fails" in out
    coloured = run_probe(["--once", "-c", "examples/lab.toml", "--color", "always"])
    assert "\x1b[32m" in coloured.stdout


def test_a_round_of_200_targets_takes_about_one_timeout(lab: None) -> None:
    """200 silent ports probed concurrently: the round costs about one timeout, not 200."""
    # The router drops every TCP segment to the second storage address.
    targets = _target_flags(f"p{p}=198.18.2.31:{p}" for p in range(2000, 2200))
    single = probe_json(["--once", "--method", "connect", "--timeout", "1", "--count", "1",
                         "--resolver", AZURE_DNS, "--target", "one=198.18.2.31:1999"])[1]
    many = probe_json(["--once", "--method", "connect", "--timeout", "1", "--count", "1",
                       "--resolver", AZURE_DNS, *targets], timeout=120)[1]
    assert len(many["tcp"]) == 200
    assert all(row["state"] == "filtered" for row in many["tcp"])
    assert many["duration_seconds"] < single["duration_seconds"] * 3 + 1


def test_namespace_has_no_route_out(lab: None) -> None:
    """Safety: the jump box reaches the lab only; there is no default route."""
    routes = in_client(["ip", "route", "show"]).stdout
    assert "default" not in routes
    assert "198.18.0.0/15" in routes


def test_dns_time_is_the_resolvers_not_the_agents(lab: None) -> None:
    """With 80 questions in flight, each duration is still the resolver's answer
    time on the wire (dnsmasq answers in well under a millisecond here), not the
    time our own event loop spent serving the other questions."""
    targets = _target_flags(f"n{i}=n{i}.missing.lab.test:443" for i in range(80))
    _status, report = probe_json(["--once", "--timeout", "2", "--count", "1",
                                  "--resolver", AZURE_DNS, *targets])
    durations = sorted(d["duration_seconds"] for d in report["dns"])
    assert len(durations) == 80
    assert all(d["status"] == "nxdomain" for d in report["dns"])
    assert durations[len(durations) // 2] < 0.005
