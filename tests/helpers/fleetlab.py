"""A fleet in namespaces: three "VNets", each with an agent and a Prometheus in
agent mode remote-writing to a central Prometheus (with the remote-write
receiver and the shipped rules), the shape issue 19 describes.

    apf-hub   bridge br0 198.18.140.1/24 (central Prometheus on :9090),
              Storage 198.18.140.10:443 (a listener), DNS 198.18.140.53 (dnsmasq)
    apf-a     198.18.140.11  agent (vnet-a, westeurope) + Prometheus agent
    apf-b     198.18.140.12  agent (vnet-b, westeurope) + Prometheus agent
    apf-c     198.18.140.13  agent (vnet-c, northeurope) + Prometheus agent

Every agent is scraped by its own Prometheus as 127.0.0.1:<port>, relabelled to
instance="127.0.0.1:9839", so job and instance are the same for all three; the
Prometheus agents' external labels (vnet, region) are what tells them apart
centrally. A VNet is broken with nftables inside its own namespace (Storage
dropped, DNS dropped), so the other VNets keep working. Nothing has a default
route or a link to the host; every address is in 198.18.0.0/15. Processes are
stopped by PID, namespaces deleted at the end.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import stop

HUB = "apf-hub"
HUB_IP = "198.18.140.1"
STORAGE_IP = "198.18.140.10"
DNS_IP = "198.18.140.53"
CENTRAL = f"http://{HUB_IP}:9090"
STORAGE_NAME = "st.blob.core.windows.test"
VNETS = {"a": ("vnet-a", "westeurope", "198.18.140.11"),
         "b": ("vnet-b", "westeurope", "198.18.140.12"),
         "c": ("vnet-c", "northeurope", "198.18.140.13")}

LISTENER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(512)
while True:
    c, _ = s.accept(); c.close()
"""


def _run(args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


def ns_exec(ns: str) -> list[str]:
    return ["ip", "netns", "exec", ns]


def namespaces() -> list[str]:
    return [HUB, *(f"apf-{k}" for k in VNETS)]


def down() -> None:
    present = _run(["ip", "netns", "list"], check=False).stdout.split()
    for ns in namespaces():
        if ns in present:
            _run(["ip", "netns", "del", ns], check=False)


def up() -> None:
    down()
    for ns in namespaces():
        _run(["ip", "netns", "add", ns])
        _run([*ns_exec(ns), "ip", "link", "set", "lo", "up"])
        _run([*ns_exec(ns), "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"], check=False)
    _run([*ns_exec(HUB), "ip", "link", "add", "br0", "type", "bridge"])
    for address in (HUB_IP, STORAGE_IP, DNS_IP):
        _run([*ns_exec(HUB), "ip", "addr", "add", f"{address}/24", "dev", "br0"])
    _run([*ns_exec(HUB), "ip", "link", "set", "br0", "up"])
    for key, (_, _, address) in VNETS.items():
        ns = f"apf-{key}"
        _run(["ip", "link", "add", "e0", "netns", ns, "type", "veth", "peer", f"h{key}",
              "netns", HUB])
        _run([*ns_exec(HUB), "ip", "link", "set", f"h{key}", "master", "br0", "up"])
        _run([*ns_exec(ns), "ip", "addr", "add", f"{address}/24", "dev", "e0"])
        _run([*ns_exec(ns), "ip", "link", "set", "e0", "up"])


def break_storage(key: str, on: bool) -> None:
    """Drop the VNet's SYNs to Storage (an NSG deny, as the VNet sees it), or stop."""
    _nft(key, "storage", f"ip daddr {STORAGE_IP} tcp dport 443 drop", on)


def break_dns(key: str, on: bool) -> None:
    """Drop the VNet's DNS queries (its custom DNS server unreachable), or stop."""
    _nft(key, "dns", f"ip daddr {DNS_IP} meta l4proto {{ udp, tcp }} th dport 53 drop", on)


def _nft(key: str, table: str, rule: str, on: bool) -> None:
    ns = ns_exec(f"apf-{key}")
    _run([*ns, "nft", "delete", "table", "inet", f"apf_{table}"], check=False)
    if on:
        _run([*ns, "nft", f"add table inet apf_{table}"])
        _run([*ns, "nft", f"add chain inet apf_{table} out {{ type filter hook output "
                          "priority 0; policy accept; }"])
        _run([*ns, "nft", f"add rule inet apf_{table} out {rule}"])


@dataclass
class Fleet:
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)

    def start(self, name: str, ns: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        self.logs.append(log)
        proc = subprocess.Popen([*ns_exec(ns), *args], cwd=self.tmp, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query of the central Prometheus (run inside the hub namespace)."""
        url = CENTRAL + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        return list(self._get(url)["data"]["result"])

    def alerts(self) -> list[dict[str, str]]:
        """The firing alerts' labels."""
        answer = self._get(CENTRAL + "/api/v1/alerts")
        return [a["labels"] for a in answer["data"]["alerts"] if a["state"] == "firing"]

    def _get(self, url: str) -> dict[str, Any]:
        code = ("import sys, urllib.request; "
                "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read()"
                ".decode())")
        proc = _run([*ns_exec(HUB), sys.executable, "-c", code, url], check=False)
        if proc.returncode != 0:
            return {"data": {"result": [], "alerts": []}}
        answer: dict[str, Any] = json.loads(proc.stdout)
        return answer

    def wait(self, what: str, predicate: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:.0f} s; alerts now "
                                     f"{self.alerts()}\n--- central\n{self.log('central')}")
            for proc in self.procs:
                assert proc.poll() is None, f"a process died: {proc.args}"
            time.sleep(0.5)


def _agent_config(key: str) -> str:
    vnet, region, _ = VNETS[key]
    return f"""\
[agent]
interval = 1
timeout = 0.3
method = "connect"
labels = {{ vnet = "{vnet}", region = "{region}" }}

[dns]
resolvers = ["{DNS_IP}"]

[[target]]
name = "storage"
host = "{STORAGE_NAME}"
port = 443
dependency = "storage"
count = 1
"""


def _prometheus_agent_config(key: str, agent_port: int) -> str:
    vnet, region, _ = VNETS[key]
    return json.dumps({
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms",
                   "external_labels": {"vnet": vnet, "region": region}},
        "scrape_configs": [{
            "job_name": "apim-probe",
            "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"]}],
            # as in deploy/prometheus-agent: every agent is 127.0.0.1:9839
            "relabel_configs": [{"target_label": "instance", "replacement": "127.0.0.1:9839"}],
        }],
        "remote_write": [{"url": f"{CENTRAL}/api/v1/write",
                          "queue_config": {"batch_send_deadline": "1s"}}],
    })


def _listening_port(fleet: Fleet, name: str, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in fleet.log(name).splitlines():
            if "event=listening" in line:
                return int(line.split("port=")[1].split()[0])
        assert proc.poll() is None, fleet.log(name)
        time.sleep(0.1)
    raise AssertionError(f"{name} never listened:\n{fleet.log(name)}")


@contextlib.contextmanager
def running(tmp: Path, rule_files: Sequence[Path]) -> Iterator[Fleet]:
    prometheus = shutil.which("prometheus")
    dnsmasq = shutil.which("dnsmasq")
    if prometheus is None or dnsmasq is None:
        pytest.skip("needs Debian's prometheus and dnsmasq-base")
    up()
    fleet = Fleet(tmp)
    try:
        fleet.start("storage", HUB, [sys.executable, "-c", LISTENER, STORAGE_IP, "443"])
        fleet.start("dnsmasq", HUB, [
            dnsmasq, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            f"--listen-address={DNS_IP}", "--bind-interfaces", "--user=root",
            f"--address=/{STORAGE_NAME}/{STORAGE_IP}", "--log-facility=-"])
        central = tmp / "central.yml"
        central.write_text(json.dumps({
            "global": {"evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files]}), encoding="utf-8")
        fleet.start("central", HUB, [
            prometheus, f"--config.file={central}", f"--storage.tsdb.path={tmp / 'central-db'}",
            f"--web.listen-address={HUB_IP}:9090", "--web.enable-remote-write-receiver",
            "--log.level=warn"])
        for key in VNETS:
            ns = f"apf-{key}"
            config = tmp / f"agent-{key}.toml"
            config.write_text(_agent_config(key), encoding="utf-8")
            agent = fleet.start(f"agent-{key}", ns, [
                sys.executable, "-m", "probe", "-c", str(config), "--listen", "127.0.0.1:0"])
            port = _listening_port(fleet, f"agent-{key}", agent)
            prom_config = tmp / f"prom-{key}.yml"
            prom_config.write_text(_prometheus_agent_config(key, port), encoding="utf-8")
            fleet.start(f"prom-{key}", ns, [
                prometheus, "--enable-feature=agent", f"--config.file={prom_config}",
                f"--storage.agent.path={tmp / f'wal-{key}'}",
                "--web.listen-address=127.0.0.1:9091", "--log.level=warn"])
        yield fleet
    finally:
        for proc in reversed(fleet.procs):
            stop(proc)
        for log in fleet.logs:
            log.close()
        down()
