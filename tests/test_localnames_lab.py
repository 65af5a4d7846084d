"""Local names in a real round: dnsmasq (logging every question) in a lab of
its own, `probe --once` with raw sockets in the client namespace, and a hosts
file that pins a name to an address DNS does not answer.

- localhost is probed on the client's own loopback, and never asked of dnsmasq;
  a .invalid name is NXDOMAIN without a question either;
- the pinned name is probed where DNS sends it, never at the pin (an nftables
  counter on the way out stays at 0), and finding hosts-file-pin says both;
- `resolvers = [..., "hosts"]` shows the hosts file's answer beside DNS's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.minilab import OPEN_PORT, SERVER_ADDR, MiniLab, minilab

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[1]
PINNED = "gw.pinned.test"
PIN = "198.19.251.77"  # in the lab's subnet, held by nobody: a stale pin
LOOPBACK_PORT = 39839  # nothing listens there in the client namespace: RST


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MiniLab, Path]]:
    log = tmp_path_factory.mktemp("dnsmasq") / "queries.log"
    with minilab("loc") as mini:
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", mini.server_ns, "dnsmasq", "--keep-in-foreground",
             "--no-resolv", "--no-hosts", "--bind-interfaces", f"--listen-address={SERVER_ADDR}",
             "--port=53", "--conf-file=/dev/null", "--pid-file=", "--log-queries",
             f"--log-facility={log}", f"--host-record={PINNED},{SERVER_ADDR}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        subprocess.run(["ip", "netns", "exec", mini.client_ns, "nft", "-f", "-"], check=True,
                       capture_output=True, text=True, timeout=30, input=(
                           "table inet loc {\n counter pin {}\n chain out {\n"
                           "  type filter hook output priority 0;\n"
                           f"  ip daddr {PIN} counter name pin\n }}\n}}\n"))
        try:
            yield mini, log
        finally:
            dnsmasq.terminate()
            dnsmasq.wait(10)


def _pin_packets(mini: MiniLab) -> int:
    out = subprocess.run(["ip", "netns", "exec", mini.client_ns, "nft", "--json", "list",
                          "counter", "inet", "loc", "pin"], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    (counter,) = [o["counter"] for o in json.loads(out)["nftables"] if "counter" in o]
    return int(counter["packets"])


def test_local_names_and_a_pinned_name_in_a_real_round(lab: tuple[MiniLab, Path],
                                                        tmp_path: Path) -> None:
    mini, log = lab
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{PIN} {PINNED}  # pinned by hand, long ago\n")
    config = tmp_path / "probe.toml"
    config.write_text(
        f'[agent]\ntimeout = 1.0\nmethod = "syn"\n\n'
        f'[dns]\nresolvers = ["{SERVER_ADDR}", "hosts"]\nhosts_file = "{hosts}"\n\n'
        f'[[target]]\nname = "gw"\nhost = "{PINNED}"\nport = {OPEN_PORT}\ncount = 1\n\n'
        f'[[target]]\nname = "self"\nhost = "localhost"\nport = {LOOPBACK_PORT}\ncount = 1\n'
        'expect = "closed"\n\n'
        '[[target]]\nname = "nowhere"\nhost = "apim.contoso.invalid"\nport = 443\n'
        "required = false\n", encoding="utf-8")
    before = _pin_packets(mini)
    proc = subprocess.run(["ip", "netns", "exec", mini.client_ns, sys.executable, "-m", "probe",
                           "--once", "-c", str(config), "--format", "json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr  # the failing .invalid target is optional
    report = json.loads(proc.stdout)
    rows = {r["target"]: (r["address"], r["state"], r["reason"]) for r in report["tcp"]}
    assert rows["gw"] == (SERVER_ADDR, "open", "syn-ack")  # where DNS sends it
    assert rows["self"] == ("127.0.0.1", "closed", "reset")  # probed on loopback
    assert rows["nowhere"][1] == "unresolved"
    dns = {(d["name"], d["resolver"]): d for d in report["dns"]}
    assert dns[PINNED, "hosts"]["addresses"] == [PIN]
    assert dns[PINNED, SERVER_ADDR]["addresses"] == [SERVER_ADDR]
    assert dns["localhost", SERVER_ADDR]["addresses"] == ["127.0.0.1"]
    assert "RFC 6761" in dns["apim.contoso.invalid", SERVER_ADDR]["detail"]
    # the pin was never probed, and the local names never asked
    assert _pin_packets(mini) == before
    questions = log.read_text()
    assert PINNED in questions
    assert "localhost" not in questions and ".invalid" not in questions
    pins = [f for f in report["findings"] if f["id"] == "hosts-file-pin"]
    assert [(f["subject"], f["severity"]) for f in pins] == [(PINNED, "warning")]
    assert PIN in pins[0]["summary"] and SERVER_ADDR in pins[0]["summary"]
    assert report["host"]["pinned"] == [{"name": PINNED, "addresses": [PIN]}]
    # the hosts file lists neither other name: no resolver is said to fail them
    assert not [f for f in report["findings"] if f["id"].startswith("dns-resolver")]


def _once(mini: MiniLab, config: Path) -> dict[str, object]:
    proc = subprocess.run(["ip", "netns", "exec", mini.client_ns, sys.executable, "-m", "probe",
                           "--once", "-c", str(config), "--format", "json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    report: dict[str, object] = json.loads(proc.stdout)
    return report


def test_link_down_as_the_failure_table_says(lab: tuple[MiniLab, Path], tmp_path: Path) -> None:
    # README, Failure behaviour, "the network: link down": an address target says
    # filtered/no-route; a hostname target's DNS questions cannot leave either
    mini, _ = lab
    config = tmp_path / "probe.toml"
    config.write_text(
        f'[agent]\ntimeout = 1.0\nmethod = "syn"\n\n[dns]\nresolvers = ["{SERVER_ADDR}"]\n\n'
        f'[[target]]\nname = "by-address"\nhost = "{SERVER_ADDR}"\nport = {OPEN_PORT}\n'
        f'count = 1\n\n[[target]]\nname = "by-name"\nhost = "{PINNED}"\nport = {OPEN_PORT}\n'
        "count = 1\n", encoding="utf-8")
    link = ["ip", "netns", "exec", mini.client_ns, "ip", "link", "set", "apd-loc-c"]
    subprocess.run([*link, "down"], check=True, timeout=30)
    try:
        down = _once(mini, config)
    finally:
        subprocess.run([*link, "up"], check=True, timeout=30)
    rows = {r["target"]: r for r in down["tcp"]}  # type: ignore[attr-defined]
    assert (rows["by-address"]["state"], rows["by-address"]["reason"]) == ("filtered",
                                                                           "no-route")
    assert (rows["by-name"]["state"], rows["by-name"]["reason"]) == ("unresolved", "error")
    assert rows["by-name"]["address"] is None
    [answer] = down["dns"]  # type: ignore[misc]
    assert (answer["status"], answer["detail"]) == ("error", "Network is unreachable")
    # the next round after the link returns probes as before
    up = _once(mini, config)
    assert {r["target"]: r["state"] for r in up["tcp"]} == {  # type: ignore[attr-defined]
        "by-address": "open", "by-name": "open"}
