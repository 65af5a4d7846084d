"""The SYN engine against real targets, from inside the lab's client namespace.

Runs tests/helpers/syn_driver.py in apl-client (the prober needs that
namespace's routes) and checks states, reasons, responders and TTLs against
lab.topology's measured table and against nmap itself; that forged answers
never count; that no half-open connection is left on the targets.

By default this uses the shared lab (fixture ``lab``). With SYN_LAB=scratch
it runs on the engine's own scratch lab (tests/helpers/synlab.py, namespaces
syn-*, addresses 198.19.x.y standing for the lab's 198.18.x.y) on the rows
that lab reproduces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab import topology as topo

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
DRIVER = HELPERS / "syn_driver.py"
SPOOF = HELPERS / "syn_spoof.py"

pytestmark = pytest.mark.lab

# (address, port) rows of topo.TCP_EXPECTED the scratch lab reproduces.
_SCRATCH_ROWS = {
    (topo.GATEWAY_ADDR, 443), (topo.GATEWAY_ADDR, 3443), (topo.SQL_ADDR, 1433),
    (topo.KEYVAULT_ADDR, 443), (topo.BACKEND_ADDR, 8080), (topo.MONITOR_ADDR, 1886),
    *((topo.ZOO_ADDR, port) for port in (*topo.ZOO_PORTS, 7007)),
    (topo.UNREACH_ADDR, 443), (topo.PROHIBIT_ADDR, 443), (topo.BLACKHOLE_ADDR, 443),
}


@dataclass(frozen=True)
class Lab:
    client_ns: str
    router_ns: str
    svc_ns: str
    scratch: bool

    def addr(self, address: str) -> str:
        """The lab address as this lab spells it (scratch: 198.18 -> 198.19)."""
        return address.replace("198.18.", "198.19.", 1) if self.scratch else address

    def rows(self) -> list[topo.TcpExpectation]:
        return [row for row in topo.TCP_EXPECTED
                if not self.scratch or (row.address, row.port) in _SCRATCH_ROWS]

    def run(self, ns: str, args: list[str], timeout: float = 90
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True,
                              text=True, timeout=timeout, check=False)

    def driver(self, spec: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
        proc = self.run(self.client_ns, [sys.executable, str(DRIVER), json.dumps(spec)],
                        timeout)
        assert proc.returncode == 0, proc.stderr
        result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
        return result


@pytest.fixture(scope="module")
def syn_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    if os.environ.get("SYN_LAB") == "scratch":
        if os.geteuid() != 0:
            pytest.skip("the scratch lab needs root")
        from tests.helpers import synlab

        with synlab.running():
            yield Lab(synlab.CLIENT, synlab.ROUTER, synlab.SERVICE, scratch=True)
        return
    request.getfixturevalue("lab")
    yield Lab(topo.CLIENT_NS, topo.ROUTER_NS, topo.SVC_NS, scratch=False)


def job(lab: Lab, row: topo.TcpExpectation, count: int) -> list[Any]:
    return [lab.addr(row.address), row.port, count]


def check_attempt(lab: Lab, row: topo.TcpExpectation, attempt: dict[str, Any]) -> None:
    where = f"{row.address}:{row.port} ({row.note})"
    assert (attempt["state"], attempt["reason"]) == (row.state, row.reason), where
    responder = lab.addr(row.responder) if row.responder else None
    assert attempt["responder"] == responder, where
    assert attempt["ttl"] == row.ttl, where
    if row.reason == "no-response":
        assert attempt["rtt"] is None, where
    else:
        assert 0 < attempt["rtt"] < 0.1, where


def test_every_lab_target_gets_its_state_reason_responder_and_ttl(syn_lab: Lab) -> None:
    rows = syn_lab.rows()
    # Route errors are rate-limited per source (5, then 1/s): one attempt each.
    jobs = [job(syn_lab, row, 1 if row.route_error else 3) for row in rows]
    out = syn_lab.driver({"jobs": jobs, "timeout": 1.0, "rate": 200})
    assert out["unsolicited"] == 0
    # veth stamps every SYN it sends: each RTT starts at the kernel's send time.
    assert out["kernel_tx_stamps"] == sum(j[2] for j in jobs)
    for row, first in zip(rows, out["attempts"], strict=True):
        assert len(first) == (1 if row.route_error else 3)
        attempts = first
        if row.route_error and first[0]["reason"] == "no-response":
            time.sleep(1.1)  # an earlier test may have spent the burst: wait for a token
            attempts = syn_lab.driver({"jobs": [job(syn_lab, row, 1)], "timeout": 1.0}
                                      )["attempts"][0]
        for attempt in attempts:
            check_attempt(syn_lab, row, attempt)


def nmap_reasons(lab: Lab, rows: list[topo.TcpExpectation]) -> dict[tuple[str, int], str]:
    by_addr: dict[str, set[int]] = {}
    for row in rows:
        by_addr.setdefault(lab.addr(row.address), set()).add(row.port)
    found: dict[tuple[str, int], str] = {}
    for address, ports in by_addr.items():
        proc = lab.run(lab.client_ns, ["nmap", "-sS", "-Pn", "-n", "--reason", "-T4",
                                       "-p", ",".join(map(str, sorted(ports))), "-oX", "-",
                                       address])
        assert proc.returncode == 0, proc.stderr
        for port in ET.fromstring(proc.stdout).iter("port"):
            state = port.find("state")
            assert state is not None
            found[(address, int(port.get("portid", "0")))] = (
                f"{state.get('state')}/{state.get('reason')}")
    return found


def test_same_verdicts_as_nmap(syn_lab: Lab) -> None:
    rows = [row for row in syn_lab.rows() if not row.route_error]
    nmap = nmap_reasons(syn_lab, rows)
    out = syn_lab.driver({"jobs": [job(syn_lab, row, 2) for row in rows], "timeout": 1.0})
    for row, attempts in zip(rows, out["attempts"], strict=True):
        ours = {f"{a['state']}/{a['reason']}" for a in attempts}
        assert ours == {nmap[(syn_lab.addr(row.address), row.port)]}, row.note


def test_forged_answers_never_count(syn_lab: Lab) -> None:
    """SYN-ACKs, RSTs and ICMP errors aimed at our ports while we probe a
    silently dropped port: the port stays filtered/no-response."""
    sql = syn_lab.addr(topo.SQL_ADDR)
    # The batch outlives the forger by seconds (timeout 4 s), so every forged
    # packet arrives while it runs and is counted.
    spec = {"jobs": [[sql, 1433, 3]], "timeout": 4.0, "spacing": 0.4, "pause": 0.3,
            "ports": 16}
    driver = subprocess.Popen(["ip", "netns", "exec", syn_lab.client_ns, sys.executable,
                               str(DRIVER), json.dumps(spec)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert driver.stdout is not None
        ports = json.loads(driver.stdout.readline())["ports"]
        # While the ports are held, nobody else can bind them.
        taken = syn_lab.run(syn_lab.client_ns, [
            sys.executable, "-c", f"import socket; socket.socket().bind(('0.0.0.0', {ports[0]}))"])
        assert "Address already in use" in taken.stderr
        spoof = syn_lab.run(syn_lab.router_ns, [sys.executable, str(SPOOF), json.dumps({
            "client": syn_lab.addr(topo.CLIENT_ADDR), "ports": ports, "target": sql,
            "tport": 1433, "icmp_from": syn_lab.addr(topo.ROUTER_CLIENT_ADDR),
            "duration": 1.5})])
        assert spoof.returncode == 0, spoof.stderr
        sent = json.loads(spoof.stdout)["sent"]
        stdout, stderr = driver.communicate(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, stderr
    out = json.loads(stdout.splitlines()[-1])
    assert [(a["state"], a["reason"]) for a in out["attempts"][0]] == [
        ("filtered", "no-response")] * 3
    # Every forged packet reached our sockets and was refused as not ours.
    assert sent > 0
    assert out["unsolicited"] == sent


def test_no_half_open_connections_left_on_targets(syn_lab: Lab) -> None:
    rows = [row for row in syn_lab.rows() if row.state == "open"]
    out = syn_lab.driver({"jobs": [job(syn_lab, row, 3) for row in rows], "timeout": 1.0,
                          "rate": 2000})
    assert all(a["reason"] == "syn-ack" for attempts in out["attempts"] for a in attempts)
    client = syn_lab.addr(topo.CLIENT_ADDR)
    # A SYN-ACK left unanswered keeps SYN-RECV on the target for ~a minute of
    # retransmissions: our kernel's RST must have removed every one of them.
    svc = syn_lab.run(syn_lab.svc_ns, ["ss", "-tanH", "state", "syn-recv"])
    assert client not in svc.stdout, svc.stdout
    established = syn_lab.run(syn_lab.svc_ns, ["ss", "-tanH", "state", "established"])
    assert client not in established.stdout, established.stdout
    # Nor anything on our side.
    mine = syn_lab.run(syn_lab.client_ns, ["ss", "-tanH", "state", "syn-sent"])
    assert mine.stdout.strip() == ""


def test_attempt_counts_and_batch_time(syn_lab: Lab) -> None:
    """count attempts per job, all in about timeout after the last SYN."""
    sql = syn_lab.addr(topo.SQL_ADDR)
    gateway = syn_lab.addr(topo.GATEWAY_ADDR)
    spec = {"jobs": [[sql, 1433, 4], [gateway, 443, 2], [sql, 1433, 1], [gateway, 3443, 0]],
            "timeout": 0.5, "spacing": 0.1}
    started = time.monotonic()
    out = syn_lab.driver(spec)
    elapsed = time.monotonic() - started
    assert [len(a) for a in out["attempts"]] == [4, 2, 1, 0]
    assert {a["reason"] for a in out["attempts"][0]} == {"no-response"}
    assert {a["reason"] for a in out["attempts"][1]} == {"syn-ack"}
    # 3 spacings + one timeout, plus interpreter start: far from 4 x 0.5 s per job in turn.
    assert elapsed < 0.3 + 0.5 + 0.6, elapsed


def test_cancelled_batch_frees_the_prober_and_concurrent_batches_take_turns(
        syn_lab: Lab) -> None:
    sql = syn_lab.addr(topo.SQL_ADDR)
    gateway = syn_lab.addr(topo.GATEWAY_ADDR)
    backend = syn_lab.addr(topo.BACKEND_ADDR)
    # 500 SYNs at 200 pps: 2.5 s of sending, cancelled after 0.3 s.
    out = syn_lab.driver({"jobs": [[sql, 1433, 500]], "timeout": 2.0, "spacing": 0.0,
                          "cancel_after": 0.3})
    assert out["cancelled_in"] < 0.01  # the event loop is never held up
    assert out["free_in"] < 0.5  # the worker noticed within one 50 ms poll (+ 50 ms batch)
    jobs = [[gateway, 443, 2], [backend, 8080, 2], [sql, 1433, 1]]
    out = syn_lab.driver({"jobs": jobs, "timeout": 0.5, "concurrent": 3})
    for attempts in out["concurrent"]:
        assert [[a["reason"] for a in job] for job in attempts] == [
            ["syn-ack", "syn-ack"], ["reset", "reset"], ["no-response"]]
    assert out["unsolicited"] == 0 and out["late"] == 0


def test_global_rate_cap_holds_on_the_wire(syn_lab: Lab) -> None:
    """100 SYNs at 200 pps take >= ~0.5 s to leave, however many jobs share them."""
    sql = syn_lab.addr(topo.SQL_ADDR)
    gateway = syn_lab.addr(topo.GATEWAY_ADDR)
    jobs = [[gateway, 443, 1]] * 50 + [[sql, 1433, 1]] * 50
    out = syn_lab.driver({"jobs": jobs, "timeout": 0.3, "rate": 200})
    spread = (out["last_send_ns"] - out["first_send_ns"]) / 1e9
    assert spread >= 99 / 200 * 0.95, spread
    assert spread < 99 / 200 * 1.5, spread  # and the cap is not a crawl


def test_time_exceeded_like_nmap(syn_lab: Lab) -> None:
    """A routing loop (scratch lab only: the shared lab has none)."""
    if not syn_lab.scratch:
        pytest.skip("the shared lab has no routing loop")
    import synlab

    out = syn_lab.driver({"jobs": [[synlab.LOOP_ADDR, 443, 2]], "timeout": 1.0})
    proc = syn_lab.run(syn_lab.client_ns, ["nmap", "-sS", "-Pn", "-n", "--reason", "-p", "443",
                                           "-oX", "-", synlab.LOOP_ADDR])
    state = next(ET.fromstring(proc.stdout).iter("state"))
    for attempt in out["attempts"][0]:
        assert (attempt["state"], attempt["reason"]) == ("filtered", "time-exceeded")
        assert (attempt["state"], attempt["reason"]) == (state.get("state"), state.get("reason"))
        assert attempt["ttl"] == int(state.get("reason_ttl", "-1"))
        assert attempt["responder"] == state.get("reason_ip")
