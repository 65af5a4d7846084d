"""Side-by-side runs against peers: nmap (correctness) and blackbox_exporter.

Imported by bench/run.py; ``python -m bench.peers bbx-client`` is the HTTP
client that runs inside the scratch lab's client namespace (the exporter
listens on 127.0.0.1 there), reading its spec on stdin.

* ``correctness``: on the shared lab (lab/netlab.py, deterministic route
  errors, under the machine-wide lab lock), our CLI ``probe --once --method
  syn`` and ``nmap -sS -Pn -n --reason`` on every ``TCP_EXPECTED`` target,
  round after round; a round agrees when (state, reason) are equal for every
  target.
* ``blackbox``: 100 scratch-lab targets (open, closed, dropped, ICMP-rejected),
  blackbox_exporter's tcp prober on all of them at once (100 parallel
  ``/probe`` requests) against one ``probe --once`` round, syn and connect.

Every packet goes to a lab namespace or to 127.0.0.1 inside one.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import ipaddress
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.helpers.processes import stop

ROOT = Path(__file__).resolve().parent.parent
LAB_LOCK = Path("/run/apim-probe-lab.lock")
LAB_NETS = (ipaddress.ip_network("198.18.0.0/15"),)
BBX_PORT = 9115
BBX_MODULE = "tcp_connect"
BBX_TIMEOUT_S = 2.0


def _assert_lab(address: str) -> None:
    """Refuse, loudly, any target outside the lab's address space."""
    if not any(ipaddress.ip_address(address) in net for net in LAB_NETS):
        raise RuntimeError(f"{address} is not a lab address")


def _in_ns(ns: str, args: list[str], timeout: float = 120, stdin: str | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True,
                          timeout=timeout, check=False, input=stdin, cwd=ROOT)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _timed_child(ns: str, args: list[str], timeout: float = 120
                 ) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run a child in a namespace: (result, wall s, CPU s of the child from getrusage).

    ``ip netns exec`` execs the command in place, so the child's rusage is the
    command's own (plus ip's few syscalls before the exec).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = _in_ns(ns, args, timeout=timeout)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, wall, cpu


def _probe_argv(targets: list[tuple[str, int]], *, method: str, timeout: float, count: int,
                resolver: str, rate: float | None = None) -> list[str]:
    argv = [sys.executable, "-m", "probe", "--once", "--format", "json", "--method", method,
            "--timeout", str(timeout), "--count", str(count), "--resolver", resolver]
    if rate is not None:
        argv += ["--rate", str(rate)]
    for i, (address, port) in enumerate(targets):
        _assert_lab(address)
        argv += ["--target", f"t{i}={address}:{port}"]
    return argv


def _probe_rows(stdout: str) -> dict[tuple[str, int], dict[str, Any]]:
    report = json.loads(stdout)
    return {(row["address"], int(row["port"])): row for row in report["tcp"]}


# -- correctness against nmap on the shared lab --------------------------------

def nmap_xml(text: str) -> dict[tuple[str, int], tuple[str, str]]:
    """(address, port) -> (state, reason) from ``nmap -oX -``."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    root = ET.fromstring(text)
    for host in root.iter("host"):
        addr = next((a.get("addr") for a in host.iter("address")
                     if a.get("addrtype") == "ipv4"), None)
        if addr is None:
            continue
        for port in host.iter("port"):
            state = port.find("state")
            if state is None:
                continue
            out[(addr, int(port.get("portid", "0")))] = (state.get("state", "?"),
                                                         state.get("reason", "?"))
    return out


def _nmap_round(ns: str, by_address: dict[str, list[int]]
                ) -> dict[tuple[str, int], tuple[str, str]]:
    """nmap on every address at once (one process per address, in parallel)."""
    def one(address: str) -> dict[tuple[str, int], tuple[str, str]]:
        _assert_lab(address)
        ports = ",".join(str(p) for p in sorted(by_address[address]))
        proc = _in_ns(ns, ["nmap", "-sS", "-Pn", "-n", "--reason", "-p", ports, "-oX", "-",
                           address])
        if proc.returncode != 0:
            raise RuntimeError(f"nmap {address}: {proc.stderr}")
        return nmap_xml(proc.stdout)

    merged: dict[tuple[str, int], tuple[str, str]] = {}
    with concurrent.futures.ThreadPoolExecutor(len(by_address)) as pool:
        for part in pool.map(one, by_address):
            merged.update(part)
    return merged


def correctness(rounds: int) -> dict[str, Any]:
    """Our (state, reason) vs nmap's for every shared-lab target, ``rounds`` rounds in a row."""
    from lab import netlab
    from lab import topology as topo

    targets = [(row.address, row.port) for row in topo.TCP_EXPECTED]
    by_address: dict[str, list[int]] = {}
    for address, port in targets:
        by_address.setdefault(address, []).append(port)
    argv = _probe_argv(targets, method="syn", timeout=1.0, count=2, resolver=topo.REFERENCE_DNS)
    per_round: list[dict[str, Any]] = []
    LAB_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LAB_LOCK.open("w") as lock:
        waited = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)  # other sessions use the same namespaces
        waited = time.monotonic() - waited
        with netlab.running(deterministic_route_errors=True):
            for i in range(rounds):
                proc, ours_wall, _ = _timed_child(topo.CLIENT_NS, argv)
                if not proc.stdout:
                    raise RuntimeError(f"probe --once printed nothing: {proc.stderr}")
                rows = _probe_rows(proc.stdout)
                t0 = time.monotonic()
                theirs = _nmap_round(topo.CLIENT_NS, by_address)
                nmap_wall = time.monotonic() - t0
                diffs = []
                for key in targets:
                    row = rows.get(key)
                    ours = (row["state"], row["reason"]) if row else ("missing", "missing")
                    nm = theirs.get(key, ("missing", "missing"))
                    if ours != nm:
                        diffs.append({"target": f"{key[0]}:{key[1]}", "ours": list(ours),
                                      "nmap": list(nm)})
                per_round.append({"round": i + 1, "agree": not diffs, "diffs": diffs,
                                  "ours_wall_s": ours_wall, "nmap_wall_s": nmap_wall})
                print(f"correctness round {i + 1}: {len(diffs)} disagreements", file=sys.stderr,
                      flush=True)
    # The last round's table, for the record.
    last = {f"{a}:{p}": {"ours": [rows[(a, p)]["state"], rows[(a, p)]["reason"]],
                         "nmap": list(theirs.get((a, p), ("missing", "missing")))}
            for a, p in targets}
    return {
        "rounds": rounds,
        "targets": len(targets),
        "agreeing_rounds": sum(r["agree"] for r in per_round),
        "disagreements": sum(len(r["diffs"]) for r in per_round),
        "per_round": per_round,
        "ours_wall_s": _median([r["ours_wall_s"] for r in per_round]),
        "nmap_wall_s": _median([r["nmap_wall_s"] for r in per_round]),
        "lock_wait_s": waited,
        "last": last,
    }


# -- 100 targets vs blackbox_exporter (scratch lab) ----------------------------

def bbx_targets() -> list[tuple[str, int, str]]:
    """(address, port, kind): 60 open, 20 closed, 13 dropped, 7 ICMP-rejected."""
    from tests.helpers import synlab

    out = [(synlab.OPEN_ADDR, 20000 + i, "open") for i in range(60)]
    out += [(synlab.CLOSED_ADDR, 30000 + i, "closed") for i in range(20)]
    out += [(synlab.ALL_DROP_ADDR, 40000 + i, "dropped") for i in range(13)]
    out += [(synlab.CODES_ADDR, port, "rejected") for port in sorted(synlab.CODE_PORTS)]
    return out


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process, seconds, from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


def bbx_client(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside the client namespace: one batch of parallel /probe requests."""
    base = f"http://127.0.0.1:{spec['port']}/probe?module={spec['module']}"
    pid = int(spec["pid"])

    def get(target: str, debug: bool = False) -> tuple[str, dict[str, float] | str]:
        url = f"{base}&target={target}" + ("&debug=true" if debug else "")
        with urllib.request.urlopen(url, timeout=30) as r:
            body = r.read().decode()
        return target, (body if debug else _metrics(body))

    targets = spec["targets"]
    cpu0 = _proc_cpu(pid)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        answers = dict(pool.map(get, targets))
    wall = time.monotonic() - t0
    cpu = _proc_cpu(pid) - cpu0
    debug = {t: get(t, True)[1] for t in spec.get("debug", [])}
    return {"wall": wall, "cpu": cpu, "answers": answers, "debug": debug}


def _wait_listening(ns: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 10
                    ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("blackbox_exporter exited at start")
        out = _in_ns(ns, ["ss", "-Htln", f"sport = :{port}"]).stdout
        if out.strip():
            return
        time.sleep(0.1)
    raise RuntimeError("blackbox_exporter did not listen")


def _debug_error(text: str) -> str:
    """The error line of a blackbox debug log, e.g. 'connect: connection refused'."""
    for line in text.splitlines():
        if "Error dialing TCP" in line or "err=" in line:
            return line.split("err=", 1)[-1].strip().strip('"')
    return "?"


def blackbox(runs: int) -> dict[str, Any]:
    """Run inside the scratch lab (synlab.running() already entered)."""
    from tests.helpers import synlab

    targets = bbx_targets()
    for address, _, _ in targets:
        _assert_lab(address)  # 198.19.0.0/16 is inside 198.18.0.0/15
    kinds = {f"{a}:{p}": k for a, p, k in targets}
    closed = next(f"{a}:{p}" for a, p, k in targets if k == "closed")
    dropped = next(f"{a}:{p}" for a, p, k in targets if k == "dropped")
    rejected = f"{synlab.CODES_ADDR}:7006"
    samples = [closed, dropped, rejected]
    exe = "prometheus-blackbox-exporter"
    result: dict[str, Any] = {"targets": len(targets),
                              "mix": {k: sum(1 for *_, kk in targets if kk == k)
                                      for k in ("open", "closed", "dropped", "rejected")},
                              "timeout_s": BBX_TIMEOUT_S, "port": BBX_PORT,
                              "module": BBX_MODULE}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "blackbox.yml"
        config.write_text(f"modules:\n  {BBX_MODULE}:\n    prober: tcp\n"
                          f"    timeout: {BBX_TIMEOUT_S:g}s\n"
                          "    tcp:\n      preferred_ip_protocol: ip4\n")
        version = subprocess.run([exe, "--version"], capture_output=True, text=True,
                                 check=False)
        result["version"] = (version.stdout or version.stderr).splitlines()[0]
        exporter = subprocess.Popen(
            ["ip", "netns", "exec", synlab.CLIENT, exe, f"--config.file={config}",
             f"--web.listen-address=127.0.0.1:{BBX_PORT}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_listening(synlab.CLIENT, BBX_PORT, exporter)
            spec = {"port": BBX_PORT, "module": BBX_MODULE, "pid": exporter.pid,
                    "targets": list(kinds)}
            rows = []
            for i in range(runs + 1):  # the first batch warms the exporter up
                s = dict(spec, debug=samples if i == runs else [])
                proc = _in_ns(synlab.CLIENT, [sys.executable, "-m", "bench.peers", "bbx-client"],
                              stdin=json.dumps(s))
                if proc.returncode != 0:
                    raise RuntimeError(proc.stderr)
                if i:
                    rows.append(json.loads(proc.stdout))
        finally:
            stop(exporter, timeout=10)  # the exporter we started, by its handle
    last = rows[-1]
    success = {k: 0 for k in result["mix"]}
    for target, m in last["answers"].items():
        success[kinds[target]] += int(m.get("probe_success", 0))
    result["blackbox"] = {
        "wall_s": _median([r["wall"] for r in rows]),
        "cpu_s": _median([r["cpu"] for r in rows]),
        "success_by_kind": success,
        "samples": {t: {"probe_success": last["answers"][t].get("probe_success"),
                        "duration_s": last["answers"][t].get("probe_duration_seconds"),
                        "log_error": _debug_error(last["debug"].get(t, ""))}
                    for t in samples},
    }
    for label, method, rate in (("syn", "syn", None), ("syn_10k", "syn", 10_000.0),
                                ("connect", "connect", None)):
        result[label] = _ours(targets, kinds, samples, runs, method, rate)
    return result


def _ours(targets: list[tuple[str, int, str]], kinds: dict[str, str], samples: list[str],
          runs: int, method: str, rate: float | None) -> dict[str, Any]:
    """``probe --once`` on the same targets, ``runs`` times: wall, CPU, what it said."""
    from tests.helpers import synlab

    pairs = [(a, p) for a, p, _ in targets]
    argv = _probe_argv(pairs, method=method, timeout=BBX_TIMEOUT_S, count=1,
                       resolver=synlab.ROUTER_ADDR, rate=rate)
    walls, cpus, rounds = [], [], []
    for _ in range(runs):
        proc, wall, cpu = _timed_child(synlab.CLIENT, argv)
        if not proc.stdout:
            raise RuntimeError(f"probe --once ({method}) printed nothing: {proc.stderr}")
        walls.append(wall)
        cpus.append(cpu)
        report = json.loads(proc.stdout)
        rounds.append(float(report["duration_seconds"]))
    rows = _probe_rows(proc.stdout)
    states: dict[str, dict[str, int]] = {}
    for (a, p), row in rows.items():
        key = f"{row['state']}/{row['reason']}"
        kind = states.setdefault(kinds[f"{a}:{p}"], {})
        kind[key] = kind.get(key, 0) + 1
    return {
        "method": method, "rate": rate, "wall_s": _median(walls), "cpu_s": _median(cpus),
        # The round itself (probes and answers), as the report times it; the
        # process wall adds start-up and the path traces of silent targets.
        "round_s": _median(rounds), "traces": len(report.get("traces", [])),
        "states_by_kind": states,
        "samples": {t: {k: rows[(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1]))].get(k)
                        for k in ("state", "reason", "responder")} for t in samples},
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["bbx-client"]:
        print(json.dumps(bbx_client(json.loads(sys.stdin.read()))))
