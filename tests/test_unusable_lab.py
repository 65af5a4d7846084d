"""Answers that cannot be the dependency, from a real DNS server (dnsmasq) in a
lab of its own: 0.0.0.0, ::, loopback, the agent's own address, multicast,
broadcast (limited and the subnet's), link-local and the metadata address.
`probe --once` with raw sockets (SYN, traces for failing targets) reports
each `unusable` with its kind and a finding, and sends them nothing: an
nftables counter in the client namespace counts every packet leaving for
anything but the lab server, and it stays at 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.minilab import CLIENT_ADDR, OPEN_PORT, SERVER_ADDR, MiniLab, minilab

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[1]

# name -> (answer, the kind the round must report; None: probed as usual)
ANSWERS: dict[str, tuple[str, str | None]] = {
    "sink.unusable.test": ("0.0.0.0", "sinkhole"),
    "sink6.unusable.test": ("::", "sinkhole"),
    "loop.unusable.test": ("127.0.0.1", "loopback"),
    "self.unusable.test": (CLIENT_ADDR, "own-address"),
    "mcast.unusable.test": ("224.0.0.1", "multicast"),
    "bcast.unusable.test": ("255.255.255.255", "broadcast"),
    "subnet-bcast.unusable.test": ("198.19.251.255", "broadcast"),
    "imds.unusable.test": ("169.254.169.254", "link-local"),
    "ok.unusable.test": (SERVER_ADDR, None),
}


@pytest.fixture(scope="module")
def lab() -> Iterator[MiniLab]:
    with minilab("unu") as mini:
        # (dnsmasq refuses the A question of a name it holds only an AAAA for)
        records = [f"--host-record={name},{'0.0.0.0,' if ':' in address else ''}{address}"
                   for name, (address, _) in ANSWERS.items()]
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", mini.server_ns, "dnsmasq", "--keep-in-foreground",
             "--no-resolv", "--no-hosts", "--bind-interfaces", f"--listen-address={SERVER_ADDR}",
             "--port=53", "--conf-file=/dev/null", "--pid-file=", *records],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # counts every TCP or UDP packet the client sends to anything but the lab
        # server (the kernel's own IGMP, MLD and neighbour discovery are not ours)
        subprocess.run(["ip", "netns", "exec", mini.client_ns, "nft", "-f", "-"], check=True,
                       capture_output=True, text=True, timeout=30, input=(
                           "table inet unu {\n counter stray {}\n chain out {\n"
                           "  type filter hook output priority 0;\n"
                           f"  ip daddr != {SERVER_ADDR} meta l4proto {{ tcp, udp }} "
                           "counter name stray\n"
                           "  meta nfproto ipv6 meta l4proto { tcp, udp } counter name stray\n"
                           " }\n}\n"))
        try:
            yield mini
        finally:
            dnsmasq.terminate()
            dnsmasq.wait(10)


def _stray(mini: MiniLab) -> int:
    out = subprocess.run(["ip", "netns", "exec", mini.client_ns, "nft", "--json", "list",
                          "counter", "inet", "unu", "stray"], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    (counter,) = [o["counter"] for o in json.loads(out)["nftables"] if "counter" in o]
    return int(counter["packets"])


def test_unusable_answers_are_reported_and_never_probed(lab: MiniLab, tmp_path: Path) -> None:
    config = tmp_path / "probe.toml"
    config.write_text(
        f'[agent]\ntimeout = 1.0\nmethod = "syn"\n\n[dns]\nresolvers = ["{SERVER_ADDR}"]\n'
        "aaaa = true\n\n"
        + "".join(f'[[target]]\nname = "{name.split(".")[0]}"\nhost = "{name}"\n'
                  f"port = {OPEN_PORT}\ncount = 1\ntrace = true\n"
                  f"required = {'false' if name.startswith('imds') else 'true'}\n\n"
                  for name in ANSWERS), encoding="utf-8")
    before = _stray(lab)
    proc = subprocess.run(["ip", "netns", "exec", lab.client_ns, sys.executable, "-m", "probe",
                           "--once", "-c", str(config), "--format", "json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    rows = {(r["host"], r["address"]): (r["state"], r["reason"]) for r in report["tcp"]}
    for name, (address, kind) in ANSWERS.items():
        expected = ("open", "syn-ack") if kind is None else ("unusable", kind)
        assert rows.get((name, address)) == expected, (name, rows, report["dns"])
    # nothing was sent to any of them: no SYN, no trace, no health check
    assert _stray(lab) == before
    traced = {t["address"] for t in report.get("traces", [])}
    assert traced <= {SERVER_ADDR}, traced
    findings = {(f["subject"], f["severity"]) for f in report["findings"]
                if f["id"] == "dns-answer-unusable"}
    assert findings == {(name, "warning" if name.startswith("imds") else "critical")
                        for name, (_, kind) in ANSWERS.items() if kind is not None}
    sink = next(f for f in report["findings"] if f["subject"] == "sink.unusable.test")
    assert "DNS sinkhole or a blocking policy" in sink["remedy"]
    assert sink["summary"].startswith("sink.unusable.test resolves to 0.0.0.0 on "
                                      f"{SERVER_ADDR} (sinkhole)")
