"""Time to alert, end to end, with the shipped defaults (issue 19): `make bench-alert`.

    python -m bench.alerting [--cycles 4] [--json]

In a fleet lab of its own (tests/helpers/fleetlab.py with prefix ``apb-alert``
and 198.18.141.0/24: three VNet namespaces, each with the agent, a
blackbox_exporter and a Prometheus in agent mode remote-writing to a central
Prometheus; the central one evaluates the shipped rules and sends to Debian's
Alertmanager, configured as prometheus/alertmanager.example.yml with its
receivers pointed at a webhook recorder in the lab):

* shipped defaults everywhere: agent.interval 15 s, timeout 2 s, count 3;
  scrape and evaluation every 15 s (prometheus.example.yml); Alertmanager's
  group_wait 10 s and group_interval 30 s (alertmanager.example.yml);
* blackbox_exporter (``tcp_connect``, resolving through the VNet's DNS like
  the agent) with the widely used community rule ``probe_success == 0``,
  ``for: 0m``, in the same run, the same VNets, the same faults;
* ``--cycles`` cycles, each breaking all three VNets at once with a different
  fault each (SYN drop, ICMP admin-prohibited reject, DNS SERVFAIL; rotated
  per cycle, so n = 3 x cycles, each kind equally often): from the break to
  the first firing notification for that VNet (ours and blackbox's), then
  from the fix to the resolved notification;
* flap checks: every third SYN lost for 2 minutes, and exactly one failing
  round followed by good ones: no notification of ours may arrive;
* remote_write cost: bytes and samples the VNets' Prometheus agents sent,
  per sample and, at the shipped 15 s scrape, per agent per day.

Writes bench/ALERTING.md and bench/alerting.json. Not a test: nothing asserts,
the goals are stated beside the figures. Takes about 20 minutes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import fleetlab

ROOT = Path(__file__).resolve().parent.parent
NET = fleetlab.Net("apb-alert", 141)
SHIPPED = fleetlab.Timing(interval=15, timeout=2, count=3, scrape="15s", scrape_timeout="10s")
OURS = {"ApimProbeRequiredDependencyUnreachable", "ApimProbeDependencyFailsOnlyHere",
        "ApimProbeDnsResolverDown", "ApimProbeDnsNameUnresolvable"}
BLACKBOX = "BlackboxProbeFailed"
KINDS = ("drop", "reject", "servfail")
GOALS = {"median_notify_s": 60.0, "resolve_s": 90.0}
WEBHOOK = """
import http.server, json, sys, time
out = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for alert in body.get("alerts", []):
            out.write(json.dumps({"t": time.time(), "status": alert["status"],
                                  "labels": alert["labels"]}) + "\\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((sys.argv[1], 5001), H).serve_forever()
"""


def alertmanager_config(tmp: Path) -> Path:
    """The shipped example, its receivers pointed at the lab's webhook recorder."""
    config = yaml.safe_load((ROOT / "prometheus" / "alertmanager.example.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"http://{NET.ip(1)}:5001/{receiver['name']}"
    path = tmp / "alertmanager.yml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def blackbox_rules(tmp: Path) -> Path:
    path = tmp / "blackbox.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "blackbox", "rules": [{
        "alert": BLACKBOX, "expr": "probe_success == 0", "for": "0m",
        "labels": {"severity": "critical"}}]}]}), encoding="utf-8")
    return path


class Notes:
    """The webhook recorder's file, read back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def first(self, since: float, vnet: str, names: set[str], status: str) -> float | None:
        times = [n["t"] for n in self.all() if n["t"] >= since and n["status"] == status
                 and n["labels"].get("vnet") == vnet and n["labels"]["alertname"] in names]
        return min(times) if times else None


def wait_for(predicate: Callable[[], float | None], timeout: float) -> float | None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = predicate()
        if found is not None:
            return found
        time.sleep(0.5)
    return None


def apply(key: str, kind: str | None, previous: str | None = None) -> None:
    if kind == "servfail" or previous == "servfail":
        NET.break_dns(key, "servfail" if kind == "servfail" else None)
    if kind in ("drop", "reject", "lossy") or previous in ("drop", "reject", "lossy"):
        NET.break_storage(key, kind if kind in ("drop", "reject", "lossy") else None)


def rounds(fleet: fleetlab.Fleet, key: str) -> int:
    url = f"http://127.0.0.1:{fleet.agent_ports[key]}/metrics"
    code = ("import sys, urllib.request; "
            "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")
    proc = subprocess.run([*fleetlab.ns_exec(NET.ns(key)), sys.executable, "-c", code, url],
                          capture_output=True, text=True, timeout=30, check=False)
    found = re.search(r"^apim_probe_rounds_total (\S+)", proc.stdout, re.M)
    return int(float(found.group(1))) if found else -1


def trial(fleet: fleetlab.Fleet, notes: Notes, key: str, kind: str,
          out: list[dict[str, Any]]) -> None:
    vnet = fleetlab.VNET_NAMES[key][0]
    # The VNets break at independent moments of the agents' and Prometheus'
    # cycles, so parallel trials are not one trial counted three times.
    time.sleep(random.Random(f"{vnet}{kind}{len(out)}").uniform(0, 15))
    broke = time.time()
    apply(key, kind)
    ours = wait_for(lambda: notes.first(broke, vnet, OURS, "firing"), 300)
    bb = wait_for(lambda: notes.first(broke, vnet, {BLACKBOX}, "firing"), 60)
    fixed = time.time()
    apply(key, None, kind)
    ours_res = wait_for(lambda: notes.first(fixed, vnet, OURS, "resolved"), 300)
    bb_res = wait_for(lambda: notes.first(fixed, vnet, {BLACKBOX}, "resolved"), 60)
    out.append({"vnet": vnet, "kind": kind,
                "notify_s": None if ours is None else ours - broke,
                "blackbox_notify_s": None if bb is None else bb - broke,
                "resolve_s": None if ours_res is None else ours_res - fixed,
                "blackbox_resolve_s": None if bb_res is None else bb_res - fixed})


def flap_lossy(fleet: fleetlab.Fleet, notes: Notes) -> dict[str, Any]:
    start = time.time()
    apply("a", "lossy")
    time.sleep(120)
    apply("a", None, "lossy")
    time.sleep(60)
    return {"kind": "every third SYN lost for 120 s",
            "ours": len([n for n in notes.all() if n["t"] >= start and n["status"] == "firing"
                         and n["labels"]["alertname"] in OURS
                         and n["labels"].get("vnet") == "vnet-a"]),
            "blackbox": len([n for n in notes.all() if n["t"] >= start
                             and n["status"] == "firing" and n["labels"]["alertname"] == BLACKBOX
                             and n["labels"].get("vnet") == "vnet-a"])}


def flap_one_round(fleet: fleetlab.Fleet, notes: Notes) -> dict[str, Any]:
    start = time.time()
    seen = rounds(fleet, "b")
    wait_for(lambda: 1.0 if rounds(fleet, "b") > seen else None, 60)
    apply("b", "drop")  # the next round fails
    broken_at = rounds(fleet, "b")
    wait_for(lambda: 1.0 if rounds(fleet, "b") > broken_at else None, 60)
    apply("b", None, "drop")  # and the one after it is good
    time.sleep(90)
    return {"kind": "one failing round, then good ones",
            "ours": len([n for n in notes.all() if n["t"] >= start and n["status"] == "firing"
                         and n["labels"]["alertname"] in OURS
                         and n["labels"].get("vnet") == "vnet-b"]),
            "blackbox": len([n for n in notes.all() if n["t"] >= start
                             and n["status"] == "firing" and n["labels"]["alertname"] == BLACKBOX
                             and n["labels"].get("vnet") == "vnet-b"])}


def remote_write_cost(fleet: fleetlab.Fleet) -> dict[str, Any]:
    code = ("import sys, urllib.request; "
            "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")
    per_agent = []
    for key in fleetlab.VNET_NAMES:
        proc = subprocess.run([*fleetlab.ns_exec(NET.ns(key)), sys.executable, "-c", code,
                               "http://127.0.0.1:9091/metrics"], capture_output=True, text=True,
                              timeout=30, check=False)
        values: dict[str, float] = {}
        for name in ("prometheus_remote_storage_bytes_total",
                     "prometheus_remote_storage_samples_total",
                     "prometheus_remote_storage_sent_bytes_total"):
            found = re.search(rf"^{name}{{[^}}]*}} (\S+)", proc.stdout, re.M)
            if found:
                values[name] = float(found.group(1))
        per_agent.append(values)
    scraped = fleet.query('scrape_samples_scraped{job="apim-probe"}')
    samples = statistics.median(float(s["value"][1]) for s in scraped) if scraped else None
    sent = [v.get("prometheus_remote_storage_bytes_total",
                  v.get("prometheus_remote_storage_sent_bytes_total", 0.0)) for v in per_agent]
    count = [v.get("prometheus_remote_storage_samples_total", 0.0) for v in per_agent]
    per_sample = sum(sent) / sum(count) if sum(count) else None
    series = samples + 5 if samples is not None else None  # + up, scrape_* per target
    per_day = (per_sample * series * 86400 / 15) if per_sample and series else None
    return {"bytes_per_sample": per_sample, "agent_series_per_scrape": series,
            "bytes_per_agent_per_day_at_15s": per_day}


def report(trials: list[dict[str, Any]], flaps: list[dict[str, Any]],
           cost: dict[str, Any]) -> str:
    def med(key: str, kind: str | None = None) -> str:
        values = [t[key] for t in trials if t[key] is not None and kind in (None, t["kind"])]
        return f"{statistics.median(values):.0f} s" if values else "none"

    def worst(key: str) -> str:
        values = [t[key] for t in trials if t[key] is not None]
        return f"{max(values):.0f} s" if values else "none"

    missed = sum(1 for t in trials if t["notify_s"] is None)
    by_kind = ", ".join(f"{k}: {sum(t['kind'] == k for t in trials)}" for k in KINDS)
    lines = [
        "# Time to alert (`make bench-alert`)", "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; bench/alerting.py, its "
        "docstring says how. Shipped defaults: agent.interval 15 s, scrape and evaluation "
        "15 s, Alertmanager group_wait 10 s, group_interval 30 s. blackbox_exporter with the "
        "community rule (`probe_success == 0`, `for: 0m`) in the same run.", "",
        f"n = {len(trials)} ({by_kind}); missed notifications: {missed}.", "",
        "| | apim-probe | blackbox_exporter | goal |", "|---|---|---|---|",
        f"| median break to notification | {med('notify_s')} | {med('blackbox_notify_s')} | "
        f"<= {GOALS['median_notify_s']:.0f} s |",
        f"| worst break to notification | {worst('notify_s')} | {worst('blackbox_notify_s')} | |",
        f"| median fix to resolved | {med('resolve_s')} | {med('blackbox_resolve_s')} | |",
        f"| worst fix to resolved | {worst('resolve_s')} | {worst('blackbox_resolve_s')} | "
        f"<= {GOALS['resolve_s']:.0f} s |",
    ]
    for kind in KINDS:
        lines.append(f"| median, {kind} | {med('notify_s', kind)} | "
                     f"{med('blackbox_notify_s', kind)} | |")
    lines += ["", "Flap checks (notifications that must not come):", "",
              "| fault | apim-probe | blackbox_exporter |", "|---|---|---|"]
    lines += [f"| {f['kind']} | {f['ours']} | {f['blackbox']} |" for f in flaps]
    per_day = cost.get("bytes_per_agent_per_day_at_15s")
    lines += ["", "remote_write cost (the VNets' Prometheus agents, Prometheus "
              f"{prometheus_version()}): "
              f"{cost.get('bytes_per_sample') or 0:.1f} bytes per sample sent; "
              f"{cost.get('agent_series_per_scrape') or 0:.0f} series per agent scrape in "
              "this lab (one Storage target, one resolver); at a 15 s scrape "
              f"{(per_day or 0) / 1e6:.1f} MB per agent per day. The lab's APIM-shaped agent "
              "(172 series, tests/golden/lab-round.prom, plus Prometheus' 5 per target) costs "
              f"{(cost.get('bytes_per_sample') or 0) * 177 * 86400 / 15 / 1e6:.1f} MB per day.",
              ""]
    return "\n".join(lines)


def prometheus_version() -> str:
    proc = subprocess.run(["prometheus", "--version"], capture_output=True, text=True,
                          check=False)
    found = re.search(r"version (\S+)", proc.stdout + proc.stderr)
    return found.group(1) if found else "?"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerting")
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    trials: list[dict[str, Any]] = []
    flaps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="apim-probe-bench-alert-") as tmp_name:
        tmp = Path(tmp_name)
        rules = [ROOT / "prometheus" / "apim-probe.rules.yml", blackbox_rules(tmp)]
        with fleetlab.running(tmp, rules, net=NET, timing=SHIPPED,
                              alertmanager=alertmanager_config(tmp), blackbox=True) as fleet:
            notes = Notes(tmp / "notifications.jsonl")
            fleet.start("webhook", NET.hub, [sys.executable, "-c", WEBHOOK, NET.ip(1),
                                             str(notes.path)])
            fleet.wait("three agents report", lambda: len(fleet.query(
                'apim_probe_tcp_failing_rounds == 0')) == 3, timeout=120)
            time.sleep(30)
            for cycle in range(args.cycles):
                threads = [threading.Thread(target=trial, args=(
                    fleet, notes, key, KINDS[(cycle + i) % len(KINDS)], trials))
                    for i, key in enumerate(fleetlab.VNET_NAMES)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                print(f"cycle {cycle + 1}/{args.cycles}: {trials[-3:]}", file=sys.stderr)
                time.sleep(20)
            flaps.append(flap_lossy(fleet, notes))
            flaps.append(flap_one_round(fleet, notes))
            cost = remote_write_cost(fleet)
    result = {"trials": trials, "flaps": flaps, "remote_write": cost, "goals": GOALS}
    (ROOT / "bench" / "alerting.json").write_text(json.dumps(result, indent=2) + "\n")
    text = report(trials, flaps, cost)
    (ROOT / "bench" / "ALERTING.md").write_text(text, encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


if __name__ == "__main__":

    sys.exit(main(sys.argv[1:]))
