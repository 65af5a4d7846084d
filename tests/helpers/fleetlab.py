"""A fleet in namespaces: three "VNets", each with an agent and a Prometheus in
agent mode remote-writing to a central Prometheus (with the remote-write
receiver and the shipped rules), the shape issue 19 describes.

    <p>-hub  bridge br0 198.18.<o>.1/24: central Prometheus :9090 (and, for the
             alert benchmark, Alertmanager :9093 and a webhook receiver :5001),
             Storage 198.18.<o>.10:443 (a listener)
    <p>-a    198.18.<o>.11  agent (vnet-a, westeurope) + Prometheus agent
    <p>-b    198.18.<o>.12  agent (vnet-b, westeurope) + Prometheus agent
    <p>-c    198.18.<o>.13  agent (vnet-c, northeurope) + Prometheus agent

The tests use prefix ``apf`` and 198.18.140.0/24; bench/alerting.py its own
(``apb-alert``, 198.18.141.0/24), so a benchmark never shares a namespace with
a test. Each VNet has its own DNS server on 127.0.0.53 inside its namespace
(the VNet's "custom DNS": tests/helpers/flipdns.py, which answers the Storage
name or SERVFAIL on demand). Every agent is scraped by its own Prometheus as
127.0.0.1:<port>, relabelled to instance="127.0.0.1:9839", so job and
instance are the same for all three; the Prometheus agents' external labels
(vnet, region) are what tells them apart centrally. A VNet is broken inside
its own namespace (nftables drop or reject of Storage, its DNS server set to
SERVFAIL or dropped), so the others keep working. Nothing has a default route
or a link to the host; every address is in 198.18.0.0/15 or loopback.
Processes are stopped by PID and the namespaces deleted at the end.
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

STORAGE_NAME = "st.blob.core.windows.test"
VNET_NAMES = {"a": ("vnet-a", "westeurope"), "b": ("vnet-b", "westeurope"),
              "c": ("vnet-c", "northeurope")}
DNS = "127.0.0.53"  # each VNet's own DNS server, inside its namespace
FLIPDNS = Path(__file__).resolve().parent / "flipdns.py"

LISTENER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(512)
while True:
    c, _ = s.accept(); c.close()
"""


def _run(args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


def ns_exec(ns: str) -> list[str]:
    return ["ip", "netns", "exec", ns]


@dataclass(frozen=True)
class Net:
    """Names and addresses of one fleet lab."""

    prefix: str = "apf"
    octet: int = 140

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"

    def ip(self, last: int) -> str:
        return f"198.18.{self.octet}.{last}"

    @property
    def central(self) -> str:
        return f"http://{self.ip(1)}:9090"

    @property
    def storage(self) -> str:
        return self.ip(10)

    def ns(self, key: str) -> str:
        return f"{self.prefix}-{key}"

    def vnet_ip(self, key: str) -> str:
        return self.ip(11 + sorted(VNET_NAMES).index(key))

    def namespaces(self) -> list[str]:
        return [self.hub, *(self.ns(k) for k in VNET_NAMES)]

    # ------------------------------------------------------------------ set-up

    def down(self) -> None:
        present = _run(["ip", "netns", "list"], check=False).stdout.split()
        for ns in self.namespaces():
            if ns in present:
                _run(["ip", "netns", "del", ns], check=False)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)

    def up(self) -> None:
        self.down()
        for ns in self.namespaces():
            _run(["ip", "netns", "add", ns])
            _run([*ns_exec(ns), "ip", "link", "set", "lo", "up"])
            _run([*ns_exec(ns), "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"], check=False)
        hub = ns_exec(self.hub)
        _run([*hub, "ip", "link", "add", "br0", "type", "bridge"])
        for address in (self.ip(1), self.storage):
            _run([*hub, "ip", "addr", "add", f"{address}/24", "dev", "br0"])
        _run([*hub, "ip", "link", "set", "br0", "up"])
        for key in VNET_NAMES:
            ns = self.ns(key)
            _run(["ip", "link", "add", "e0", "netns", ns, "type", "veth", "peer", f"h{key}",
                  "netns", self.hub])
            _run([*hub, "ip", "link", "set", f"h{key}", "master", "br0", "up"])
            _run([*ns_exec(ns), "ip", "addr", "add", f"{self.vnet_ip(key)}/24", "dev", "e0"])
            _run([*ns_exec(ns), "ip", "link", "set", "e0", "up"])
            # what a program resolving through libc (blackbox_exporter) uses in
            # this namespace: `ip netns exec` binds it over /etc/resolv.conf
            etc = Path("/etc/netns") / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "resolv.conf").write_text(f"nameserver {DNS}\n", encoding="utf-8")

    # ------------------------------------------------------------------ faults

    def break_storage(self, key: str, how: str | None) -> None:
        """Storage from this VNet: "drop" (an NSG deny), "reject" (an appliance that
        answers ICMP admin-prohibited), "lossy" (every third SYN lost) or None (fixed)."""
        rules = {"drop": "drop", "reject": "reject with icmp type admin-prohibited",
                 "lossy": "numgen inc mod 3 0 drop"}
        self._nft(key, "storage", f"ip daddr {self.storage} tcp dport 443 "
                  + rules[how] if how else None)

    def break_dns(self, key: str, how: str | None) -> None:
        """The VNet's DNS server: "servfail", "drop" (unreachable) or None (fixed)."""
        flag = self.tmp_flag(key)
        if how == "servfail":
            flag.write_text("servfail", encoding="utf-8")
        else:
            flag.unlink(missing_ok=True)
        self._nft(key, "dns", f"ip daddr {DNS} meta l4proto {{ udp, tcp }} th dport 53 drop"
                  if how == "drop" else None)

    def tmp_flag(self, key: str) -> Path:
        return Path("/run") / f"{self.ns(key)}-dns-mode"

    def _nft(self, key: str, table: str, rule: str | None) -> None:
        ns = ns_exec(self.ns(key))
        _run([*ns, "nft", "delete", "table", "inet", f"fl_{table}"], check=False)
        if rule:
            _run([*ns, "nft", f"add table inet fl_{table}"])
            _run([*ns, "nft", f"add chain inet fl_{table} out {{ type filter hook output "
                              "priority 0; policy accept; }"])
            _run([*ns, "nft", f"add rule inet fl_{table} out {rule}"])


NET = Net()
HUB = NET.hub
CENTRAL = NET.central
VNETS = {k: (*v, NET.vnet_ip(k)) for k, v in VNET_NAMES.items()}


def break_storage(key: str, on: bool) -> None:
    NET.break_storage(key, "drop" if on else None)


def break_dns(key: str, on: bool) -> None:
    NET.break_dns(key, "drop" if on else None)


@dataclass
class Fleet:
    net: Net
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Any] = field(default_factory=list)
    agent_ports: dict[str, int] = field(default_factory=dict)

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
        url = self.net.central + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        return list(self.get(url)["data"]["result"])

    def alerts(self) -> list[dict[str, str]]:
        """The firing alerts' labels."""
        answer = self.get(self.net.central + "/api/v1/alerts")
        return [a["labels"] for a in answer["data"]["alerts"] if a["state"] == "firing"]

    def get(self, url: str, ns: str | None = None) -> dict[str, Any]:
        code = ("import sys, urllib.request; "
                "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read()"
                ".decode())")
        proc = _run([*ns_exec(ns or self.net.hub), sys.executable, "-c", code, url],
                    check=False)
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


@dataclass(frozen=True)
class Timing:
    """The tests' fast clock, or the shipped defaults (bench/alerting.py)."""

    interval: float = 1.0        # agent.interval
    timeout: float = 0.3         # agent.timeout
    count: int = 1               # attempts per address
    scrape: str = "1s"           # scrape and evaluation interval
    scrape_timeout: str = "900ms"


def agent_config(key: str, timing: Timing) -> str:
    vnet, region = VNET_NAMES[key]
    return f"""\
[agent]
interval = {timing.interval}
timeout = {timing.timeout}
method = "connect"
labels = {{ vnet = "{vnet}", region = "{region}" }}

[dns]
resolvers = ["{DNS}"]

[[target]]
name = "storage"
host = "{STORAGE_NAME}"
port = 443
dependency = "storage"
count = {timing.count}
"""


def prometheus_agent_config(key: str, agent_port: int, net: Net, timing: Timing,
                            blackbox_port: int | None = None) -> str:
    vnet, region = VNET_NAMES[key]
    jobs: list[dict[str, Any]] = [{
        "job_name": "apim-probe",
        "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"]}],
        # as in deploy/prometheus-agent: every agent is 127.0.0.1:9839
        "relabel_configs": [{"target_label": "instance", "replacement": "127.0.0.1:9839"}],
    }]
    if blackbox_port is not None:
        jobs.append({
            "job_name": "blackbox", "metrics_path": "/probe",
            "params": {"module": ["tcp_connect"]},
            "static_configs": [{"targets": [f"{STORAGE_NAME}:443"]}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": f"127.0.0.1:{blackbox_port}"}],
        })
    return json.dumps({
        "global": {"scrape_interval": timing.scrape, "scrape_timeout": timing.scrape_timeout,
                   "external_labels": {"vnet": vnet, "region": region}},
        "scrape_configs": jobs,
        "remote_write": [{"url": f"{net.central}/api/v1/write",
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
def running(tmp: Path, rule_files: Sequence[Path], *, net: Net = NET,
            timing: Timing = Timing(), alertmanager: Path | None = None,
            blackbox: bool = False) -> Iterator[Fleet]:
    """The fleet lab, started; ``alertmanager``: its config (the central Prometheus
    sends to it); ``blackbox``: a blackbox_exporter per VNet probing Storage too."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("needs Debian's prometheus")
    net.up()
    fleet = Fleet(net, tmp)
    try:
        hub = net.hub
        fleet.start("storage", hub, [sys.executable, "-c", LISTENER, net.storage, "443"])
        central: dict[str, Any] = {"global": {"evaluation_interval": timing.scrape},
                                   "rule_files": [str(p) for p in rule_files]}
        if alertmanager is not None:
            central["alerting"] = {"alertmanagers": [
                {"static_configs": [{"targets": [f"{net.ip(1)}:9093"]}]}]}
            fleet.start("alertmanager", hub, [
                shutil.which("prometheus-alertmanager") or "alertmanager",
                f"--config.file={alertmanager}", f"--storage.path={tmp / 'am'}",
                f"--web.listen-address={net.ip(1)}:9093", "--cluster.listen-address=",
                "--log.level=warn"])
        config = tmp / "central.yml"
        config.write_text(json.dumps(central), encoding="utf-8")
        fleet.start("central", hub, [
            prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'central-db'}",
            f"--web.listen-address={net.ip(1)}:9090", "--web.enable-remote-write-receiver",
            "--log.level=warn"])
        for key in VNET_NAMES:
            ns = net.ns(key)
            net.tmp_flag(key).unlink(missing_ok=True)
            fleet.start(f"dns-{key}", ns, [sys.executable, str(FLIPDNS), DNS, STORAGE_NAME,
                                          net.storage, str(net.tmp_flag(key))])
            agent_file = tmp / f"agent-{key}.toml"
            agent_file.write_text(agent_config(key, timing), encoding="utf-8")
            agent = fleet.start(f"agent-{key}", ns, [
                sys.executable, "-m", "probe", "-c", str(agent_file), "--listen", "127.0.0.1:0"])
            port = _listening_port(fleet, f"agent-{key}", agent)
            fleet.agent_ports[key] = port
            blackbox_port = None
            if blackbox:
                blackbox_port = 9115
                bb_config = tmp / "blackbox.yml"
                bb_config.write_text(json.dumps({"modules": {"tcp_connect": {
                    "prober": "tcp", "timeout": "5s",
                    "tcp": {"preferred_ip_protocol": "ip4"}}}}), encoding="utf-8")
                fleet.start(f"blackbox-{key}", ns, [
                    shutil.which("prometheus-blackbox-exporter") or "blackbox_exporter",
                    f"--config.file={bb_config}",
                    f"--web.listen-address=127.0.0.1:{blackbox_port}", "--log.level=warn"])
            prom_file = tmp / f"prom-{key}.yml"
            prom_file.write_text(prometheus_agent_config(key, port, net, timing, blackbox_port),
                                 encoding="utf-8")
            fleet.start(f"prom-{key}", ns, [
                prometheus, "--enable-feature=agent", f"--config.file={prom_file}",
                f"--storage.agent.path={tmp / f'wal-{key}'}",
                "--web.listen-address=127.0.0.1:9091", "--log.level=warn"])
        yield fleet
    finally:
        for proc in reversed(fleet.procs):
            stop(proc)
        for log in fleet.logs:
            log.close()
        for key in VNET_NAMES:
            net.tmp_flag(key).unlink(missing_ok=True)
        net.down()
