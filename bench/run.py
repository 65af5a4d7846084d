"""Benchmark the SYN engine on the scratch lab and write bench/RESULTS.md.

    python -m bench.run [--runs 5] [--rounds 20] [--quick] [--no-footprint]
                        [--only metrics|imports] [--soak SECONDS]

``--only metrics`` (``make bench BENCH_ARGS="--only metrics"``) runs only
bench/fleet.py, the exposition at 1,000 target addresses against
blackbox_exporter, and rewrites RESULTS.md with the other sections as the
last full run left them in results.json. ``--only imports``: bench/imports.py
alone (`[apim] import` of 1k, 12k and 100k entries, no network).

Brings up tests/helpers/synlab.py (namespaces syn-*, 198.19.0.0/16, shaped
like the shared lab, plus 1,000 open ports and an address whose every port is
dropped), measures, tears the lab down, and writes bench/RESULTS.md:

* throughput (probes/s) and CPU-seconds per 1,000 probes to open and closed
  ports (20,000 probes, no rate cap);
* the round time for 1,000 filtered ports (at the production default 200 pps
  and at 10,000 pps), and nmap -sS -T4 on the same ports;
* start-up to first SYN (from exec of the interpreter, and from the first
  line of the script);
* RTT error against tcpdump's timestamps of the same packets, and hping3's
  RTTs to the same target in the same run;
* 100 targets, one round: blackbox_exporter's tcp prober (100 parallel
  /probe requests) against `probe --once`, syn and connect (bench/peers.py).

Before that, on the shared lab (lab/netlab.py, under the machine-wide lab
lock), `--rounds` rounds of `probe --once --method syn` against nmap -sS
--reason on every lab target (bench/peers.py). After it, bench/footprint.py
(the daemon on loopback, about a minute) unless --no-footprint.

Every number is the median of --runs runs (correctness: every round counts).
The probe runs inside syn-c, in a worker process (this file with ``worker``),
so its CPU time is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fleet, imports  # run as `python -m bench.run` from the top

START_NS = time.monotonic_ns()  # CLOCK_MONOTONIC: the SYN stamps' clock, system-wide
ROOT = Path(__file__).resolve().parent.parent

SPREAD_CAP = 40_000.0  # pps for the RPS runs: what this 2-CPU lab absorbs without loss
GOALS = {"pps": 20_000.0, "cpu_per_1000": 0.1, "startup": 0.35, "rtt_error_us": 30.0}
FILTERED_TIMEOUT_S = 1.0  # goal for 1,000 filtered ports: within timeout + 1 s


# -- worker: runs inside the client namespace --------------------------------

def worker(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from probe.probers.syn import SynProber
    from probe.results import TcpJob

    jobs = [TcpJob(a, int(p), int(c)) for a, p, c in spec["jobs"]]
    prober = SynProber(rate=float(spec.get("rate", 200)), spacing=float(spec.get("spacing", 0.1)),
                       tx_timestamps=bool(spec.get("tx_timestamps", True)))
    with prober:
        if spec.get("preopen", True):
            prober.open()  # socket setup is start-up cost, measured separately
        before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        results = asyncio.run(prober.probe(jobs, float(spec["timeout"])))
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_SELF)
    reasons: dict[str, int] = {}
    for attempts in results:
        for a in attempts:
            reasons[a.reason] = reasons.get(a.reason, 0) + 1
    return {
        "wall": wall,
        "user": after.ru_utime - before.ru_utime,
        "sys": after.ru_stime - before.ru_stime,
        "reasons": reasons,
        "rtts": [[a.rtt_seconds for a in attempts] for attempts in results]
        if spec.get("rtts") else None,
        "first_send_ns": prober.first_send_ns,
        "last_send_ns": prober.last_send_ns,
        "late": prober.late,
        "start_ns": START_NS,
        "unsolicited": prober.unsolicited,
        "kernel_tx_stamps": prober.kernel_tx_stamps,
    }


# -- driver -------------------------------------------------------------------

def in_ns(ns: str, args: list[str], timeout: float = 300, stdin: str | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True,
                          timeout=timeout, check=False, input=stdin, cwd=ROOT)


def run_worker(spec: dict[str, Any], *, pin: bool = False) -> dict[str, Any]:
    from tests.helpers import synlab

    pinned = ["taskset", "-c", "0"] if pin else []
    spawned = time.monotonic_ns()
    # The spec goes on stdin: 20,000 jobs do not fit in argv.
    proc = in_ns(synlab.CLIENT, [*pinned, sys.executable, "-m", "bench.run", "worker"],
                 stdin=json.dumps(spec))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    out: dict[str, Any] = json.loads(proc.stdout)
    out["spawned_ns"] = spawned
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_throughput(address: str, runs: int, n: int, *, spread: bool = False,
                     rate: float = float("inf")) -> dict[str, Any]:
    from tests.helpers import synlab

    jobs = [[address, 20000 + i % 1000, 1] for i in range(n)]
    synlab.spread(spread)
    try:
        rows = [run_worker({"jobs": jobs, "timeout": 1.0, "rate": rate}, pin=spread)
                for _ in range(runs)]
    finally:
        synlab.spread(False)
    return {
        "n": n,
        "pps": median([n / r["wall"] for r in rows]),
        "cpu_per_1000": median([(r["user"] + r["sys"]) / n * 1000 for r in rows]),
        "user_per_1000": median([r["user"] / n * 1000 for r in rows]),
        "sys_per_1000": median([r["sys"] / n * 1000 for r in rows]),
        # How fast SYNs leave, apart from waiting for answers.
        "send_pps": median([n / max((r["last_send_ns"] - r["first_send_ns"]) / 1e9, 1e-9)
                            for r in rows]),
        "unanswered": median([r["reasons"].get("no-response", 0) for r in rows]),
        "late": median([r["late"] for r in rows]),
        "reasons": rows[-1]["reasons"],
        "unsolicited": max(r["unsolicited"] for r in rows),
    }


def bench_filtered(address: str, runs: int, rate: float, count: int) -> dict[str, Any]:
    jobs = [[address, port, count] for port in range(1, 1001)]
    rows = [run_worker({"jobs": jobs, "timeout": 1.0, "rate": rate}) for _ in range(runs)]
    return {"rate": rate, "count": count, "round_s": median([r["wall"] for r in rows]),
            "cpu_s": median([r["user"] + r["sys"] for r in rows]),
            "reasons": rows[-1]["reasons"]}


def bench_nmap_filtered(address: str, runs: int) -> dict[str, Any]:
    from tests.helpers import synlab

    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        proc = in_ns(synlab.CLIENT, ["nmap", "-sS", "-T4", "-Pn", "-n", "-p", "1-1000",
                                     address])
        times.append(time.monotonic() - t0)
        if "1000 filtered" not in proc.stdout and "1000 filtered tcp ports" not in proc.stdout:
            raise RuntimeError(f"nmap did not see 1000 filtered ports:\n{proc.stdout}")
    return {"round_s": median(times)}


def bench_engine_100(runs: int) -> dict[str, Any]:
    """The blackbox comparison's 100 targets, SynProber.probe() alone in a warm process."""
    from bench import peers

    jobs = [[a, p, 1] for a, p, _ in peers.bbx_targets()]
    rows = [run_worker({"jobs": jobs, "timeout": peers.BBX_TIMEOUT_S, "rate": 200})
            for _ in range(runs)]
    return {"wall_s": median([r["wall"] for r in rows]),
            "cpu_s": median([r["user"] + r["sys"] for r in rows]),
            "reasons": rows[-1]["reasons"]}


def bench_startup(address: str, runs: int) -> dict[str, Any]:
    rows = [run_worker({"jobs": [[address, 443, 1]], "timeout": 0.5, "preopen": False})
            for _ in range(runs)]
    return {
        # From just before spawning `ip netns exec python ...` (includes exec of ip,
        # setns and the interpreter's own start) to the first SYN's send time.
        "from_exec_s": median([(r["first_send_ns"] - r["spawned_ns"]) / 1e9 for r in rows]),
        # From the first line of the script (imports, sockets, ports, route lookup).
        "from_script_s": median([(r["first_send_ns"] - r["start_ns"]) / 1e9 for r in rows]),
    }


def read_pcap(path: Path) -> list[tuple[int, bytes]]:
    """(timestamp ns, IP packet) from a nanosecond pcap of a Linux cooked or Ethernet link."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data, 0)
    nano = magic == 0xA1B23C4D
    skip = {1: 14, 113: 16, 276: 20}[linktype]
    packets, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, off)
        off += 16
        ts = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        packets.append((ts, data[off + skip:off + caplen]))
        off += caplen
    return packets


def tcpdump_rtts(path: Path) -> dict[int, float]:
    """Target port -> RTT of SYN -> answer, as tcpdump saw them (one SYN per port)."""
    sent: dict[tuple[int, int, int], tuple[int, int]] = {}
    rtts: dict[int, float] = {}
    for ts, ip in read_pcap(path):
        if len(ip) < 40 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0xF) * 4
        sport, dport, seq, ack = struct.unpack_from("!HHII", ip, ihl)
        flags = ip[ihl + 13]
        if flags == 0x02:
            sent[(sport, dport, seq)] = (ts, dport)
        elif flags & 0x14:  # SYN-ACK or RST answering a SYN
            key = (dport, sport, (ack - 1) & 0xFFFFFFFF)
            if key in sent:
                t0, port = sent.pop(key)
                rtts[port] = (ts - t0) / 1e9
    return rtts


def hping3_rtts(address: str, port: int, count: int) -> list[float]:
    from tests.helpers import synlab

    proc = in_ns(synlab.CLIENT, ["hping3", "-S", "-p", str(port), "-c", str(count),
                                 "-i", "u20000", address])
    return [float(m) / 1000 for m in re.findall(r"rtt=([0-9.]+) ms", proc.stdout)]


def bench_rtt(address: str, runs: int, n: int = 200, *, tx_timestamps: bool = True
              ) -> dict[str, Any]:
    """Our RTTs against tcpdump's timestamps of the same packets; hping3 alongside."""
    from tests.helpers import synlab

    errors: list[float] = []
    ours_all: list[float] = []
    dump_all: list[float] = []
    hping_all: list[float] = []
    stamped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            pcap = Path(tmp) / f"rtt{i}.pcap"
            dump = subprocess.Popen(
                ["ip", "netns", "exec", synlab.CLIENT, "tcpdump", "-i", "c0", "-n", "-s", "96",
                 "-U", "--time-stamp-precision=nano", "-w", str(pcap),
                 f"tcp and host {address}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)  # tcpdump is listening once it printed; a second is plenty
            jobs = [[address, 20000 + p, 1] for p in range(n)]
            out = run_worker({"jobs": jobs, "timeout": 1.0, "rate": 1000, "rtts": True,
                              "tx_timestamps": tx_timestamps})
            stamped += out["kernel_tx_stamps"]
            hping_all += hping3_rtts(address, 20999, 20)
            time.sleep(0.3)
            dump.terminate()  # our own child, by its handle
            dump.wait(timeout=10)
            dumped = tcpdump_rtts(pcap)
            for p, attempts in enumerate(out["rtts"]):
                ours = attempts[0]
                theirs = dumped.get(20000 + p)
                if ours is None or theirs is None:
                    continue
                errors.append(ours - theirs)
                ours_all.append(ours)
                dump_all.append(theirs)
    abs_errors = sorted(abs(e) for e in errors)
    return {
        "pairs": len(errors),
        "median_error_us": median(errors) * 1e6,
        "median_abs_error_us": median(abs_errors) * 1e6,
        "p95_abs_error_us": abs_errors[int(0.95 * (len(abs_errors) - 1))] * 1e6,
        "median_rtt_ours_us": median(ours_all) * 1e6,
        "median_rtt_tcpdump_us": median(dump_all) * 1e6,
        "median_rtt_hping3_us": median(hping_all) * 1e6 if hping_all else None,
        "hping3_samples": len(hping_all),
        "kernel_tx_stamps": stamped,
    }


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| measure | median | goal | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def _throughput_rows(label: str, r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    cpu = (f"{r['cpu_per_1000']:.4f} s (user {r['user_per_1000']:.4f}, "
           f"sys {r['sys_per_1000']:.4f})")
    lost = ""
    if r["unanswered"]:
        lost = (f"; {r['unanswered']:.0f} unanswered, {r['late']:.0f} answered after the"
                " 1 s timeout (the lab dropped packets)")
    return [
        (f"throughput, {label}",
         f"{r['pps']:,.0f} probes/s (SYNs sent at {r['send_pps']:,.0f}/s{lost})", ">= 20,000",
         verdict(r["pps"] >= GOALS["pps"])),
        (f"CPU per 1,000 probes, {label}", cpu, "<= 0.1 s",
         verdict(r["cpu_per_1000"] <= GOALS["cpu_per_1000"])),
    ]


def _rtt_rows(label: str, r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (f"RTT error vs tcpdump, {label}: median signed",
         f"{r['median_error_us']:+.1f} us", "abs <= 30 us",
         verdict(abs(r["median_error_us"]) <= GOALS["rtt_error_us"])),
        (f"RTT error vs tcpdump, {label}: median / p95 of abs",
         f"{r['median_abs_error_us']:.1f} / {r['p95_abs_error_us']:.1f} us "
         f"({r['pairs']} pairs, {r['kernel_tx_stamps']} kernel send stamps)", "", ""),
    ]


def _why_missed(r: dict[str, Any]) -> list[str]:
    """One line per missed goal, with the cause the numbers point to."""
    lines = []
    for key, label in (("open", "open ports"), ("closed", "closed ports"),
                       ("open_spread", "open ports with RPS"),
                       ("closed_spread", "closed ports with RPS")):
        t = r[key]
        if t["pps"] >= GOALS["pps"]:
            continue
        if t["unanswered"]:
            cause = (f"the lab lost answers ({t['unanswered']:.0f} unanswered, "
                     f"{t['late']:.0f} late: the CPU doing the router's and target's work "
                     "overflowed its backlog), so the batch waited out the 1 s timeout; "
                     f"SYNs themselves left at {t['send_pps']:,.0f}/s")
        elif t["sys_per_1000"] > t["user_per_1000"]:
            cause = ("CPU-bound on one core, and most of it is kernel time inside our "
                     "sendto(): the router's forwarding, the target's answer and our RST "
                     "run there in softirq (see the RPS rows for the engine without them)")
        else:
            cause = "CPU-bound in the Python engine itself (user time dominates)"
        lines.append(f"* throughput to {label}: {t['pps']:,.0f} probes/s < 20,000: {cause}.")
    for key, label in (("open", "open"), ("closed", "closed"), ("open_spread", "open, RPS"),
                       ("closed_spread", "closed, RPS")):
        if r[key]["cpu_per_1000"] > GOALS["cpu_per_1000"]:
            lines.append(f"* CPU per 1,000 probes ({label}) over 0.1 s.")
    st = r["startup"]
    if st["from_exec_s"] > GOALS["startup"]:
        lines.append("* start-up from exec over 350 ms: interpreter start and imports.")
    if r["filtered_10k"]["round_s"] > FILTERED_TIMEOUT_S + 1:
        lines.append(f"* 1,000 filtered ports: {r['filtered_10k']['round_s']:.2f} s > 2 s.")
    for key in ("rtt", "rtt_python"):
        if abs(r[key]["median_error_us"]) > GOALS["rtt_error_us"]:
            lines.append(f"* RTT median error ({key}) {r[key]['median_error_us']:+.1f} us, "
                         "over 30 us.")
    c = r.get("correctness")
    if c and c["disagreements"]:
        bad = [x for row in c["per_round"] for x in row["diffs"]]
        lines.append(f"* correctness: {c['disagreements']} disagreements with nmap in "
                     f"{c['rounds'] - c['agreeing_rounds']} of {c['rounds']} rounds, e.g. "
                     f"{bad[0]['target']}: ours {bad[0]['ours']}, nmap {bad[0]['nmap']}.")
    b = r.get("blackbox")
    if b:
        bb = b["blackbox"]
        mine = [b[k] for k in ("syn", "syn_10k", "connect")]
        slow = [o for o in mine if o["wall_s"] > bb["wall_s"]]
        if slow:
            walls = ", ".join(f"{_label(o)} {o['wall_s']:.2f} s (round {o['round_s']:.2f} s)"
                              for o in slow)
            lines.append(
                f"* 100 targets, wall (no numeric goal; the peer is the bar): {walls} vs "
                f"blackbox_exporter's {bb['wall_s']:.2f} s, up to "
                f"{max(o['wall_s'] for o in slow) / bb['wall_s']:.1f}x. The round itself "
                f"takes {min(o['round_s'] for o in mine):.2f}-"
                f"{max(o['round_s'] for o in mine):.2f} s (both wait the 2 s timeout for the "
                "dropped targets; at 200 pps sending the 100 SYNs takes 0.5 s by design); the "
                "rest of `probe --once` is interpreter start-up (scapy included) and the "
                f"path traces it runs after the round for silent targets "
                f"({slow[0]['traces']} here, at most 8: probe/fullround.py MAX_TRACES), all "
                "sent in one batch that waits one timeout (probe/probers/trace.py "
                "trace_many). blackbox_exporter does no such diagnosis; the daemon pays no "
                "start-up (see the warm-process row).")
        heavy = [o for o in mine if o["cpu_s"] > bb["cpu_s"]]
        if heavy:
            cpus = ", ".join(f"{_label(o)} {o['cpu_s']:.3f} s" for o in heavy)
            lines.append(
                f"* 100 targets, CPU: {cpus} vs blackbox_exporter's {bb['cpu_s']:.3f} s. Ours "
                "is a whole Python process per round (interpreter start and imports, the "
                "traces with scapy, the report); theirs a Go server already running. The "
                "engine alone in a warm process (the daemon's case) costs "
                f"{r['engine_100']['cpu_s']:.3f} s for the same round.")
    return lines or ["* none"]


def _label(o: dict[str, Any]) -> str:
    return f"{o['method']}" + ("" if o["rate"] is None else f" at {o['rate']:,.0f} pps")


def _correctness_section(c: dict[str, Any] | None) -> str:
    if not c:
        return "## Correctness against nmap\n\nNot run (--quick).\n"
    rounds = " ".join(("ok" if row["agree"] else f"**{len(row['diffs'])}**")
                      for row in c["per_round"])
    table = "\n".join(f"| {t} | {'/'.join(v['ours'])} | {'/'.join(v['nmap'])} |"
                       for t, v in c["last"].items())
    ok = c["disagreements"] == 0
    n = c["rounds"]
    agree = f"{c['agreeing_rounds']} of {n} | {n} of {n} | {verdict(ok)}"
    walls = f"{c['ours_wall_s']:.2f} s / {c['nmap_wall_s']:.2f} s (median)"
    return f"""## Correctness against nmap (shared lab, {c['rounds']} rounds in a row)

`ip netns exec apl-client python -m probe --once --format json --method syn
--timeout 1 --count 2` on every `lab/topology.py` `TCP_EXPECTED` target
({c['targets']}), then `nmap -sS -Pn -n --reason -p PORTS -oX - ADDR` on the
same targets (one nmap per address, all at once), round after round on the
shared lab with deterministic route errors (waited {c['lock_wait_s']:.0f} s for
the lab lock).

| measure | result | goal | |
|---|---|---|---|
| rounds where (state, reason) equal nmap's for every target | {agree} |
| disagreements, all rounds | {c['disagreements']} | 0 | {verdict(ok)} |
| round wall, ours (whole process, incl. path traces) / nmap (parallel) | {walls} | | |

Per round (ok = every target agrees; a number = disagreements): {rounds}

Last round, ours vs nmap:

| target | ours | nmap |
|---|---|---|
{table}
"""


def _blackbox_section(b: dict[str, Any] | None, engine: dict[str, Any], runs: int) -> str:
    if not b:
        return "## 100 targets vs blackbox_exporter\n\nNot run (--quick).\n"
    bb = b["blackbox"]
    mix = ", ".join(f"{n} {k}" for k, n in b["mix"].items())
    version = re.search(r"version (\S+)", b["version"])
    rows = [f"| blackbox_exporter {version.group(1) if version else '?'} (Debian), tcp prober, "
            f"100 parallel `/probe` | {bb['wall_s']:.2f} s | | {bb['cpu_s']:.3f} s | 1 / 1 |"]
    for key, label in (("syn", "`probe --once --method syn` (default 200 pps)"),
                       ("syn_10k", "`probe --once --method syn --rate 10000`"),
                       ("connect", "`probe --once --method connect`")):
        o = b[key]
        rows.append(f"| {label} | {o['wall_s']:.2f} s | {o['round_s']:.2f} s "
                    f"({o['traces']} traces after it) | {o['cpu_s']:.3f} s | "
                    f"{o['wall_s'] / bb['wall_s']:.2f} / "
                    f"{o['cpu_s'] / max(bb['cpu_s'], 1e-3):.1f} |")
    e = engine
    rows.append(f"| SynProber.probe() alone in a warm process (the daemon's case), 200 pps | "
                f"{e['wall_s']:.2f} s | | {e['cpu_s']:.3f} s | {e['wall_s'] / bb['wall_s']:.2f} / "
                f"{e['cpu_s'] / max(bb['cpu_s'], 1e-3):.1f} |")
    samples = []
    for target, s in bb["samples"].items():
        ours = b["syn"]["samples"][target]
        conn = b["connect"]["samples"][target]
        samples.append(
            f"| {target} | probe_success {s['probe_success']:g}, "
            f"{s['duration_s']:.3f} s (log only: {s['log_error']}) | "
            f"{ours['state']}/{ours['reason']} from {ours['responder'] or 'nobody'} | "
            f"{conn['state']}/{conn['reason']} |")
    states = "; ".join(f"{kind}: {v}" for kind, v in b["syn"]["states_by_kind"].items())
    return f"""## 100 targets, one round, vs blackbox_exporter (scratch lab)

Targets: {mix} (scratch lab: open ports on 198.19.2.10, closed on
198.19.2.14, dropped by the router on 198.19.2.30, ICMP-rejected by the router
on 198.19.2.20:7000-7006). blackbox_exporter runs inside syn-c on
127.0.0.1:{b['port']}, module `{b['module']}` (prober tcp, timeout {b['timeout_s']:g} s,
ip4), and is asked for all 100 at once (100 threads, urllib; one warm-up batch
first); its CPU is utime+stime from /proc/PID/stat around the batch. Ours is
one `probe --once --format json --timeout {b['timeout_s']:g} --count 1` process
per run inside syn-c, CPU from getrusage of the child (start-up included).
Medians of {runs} runs.

| prober | wall | the round itself | CPU | ratio to blackbox (wall / CPU) |
|---|---|---|---|---|
{chr(10).join(rows)}

blackbox_exporter's probe_success by kind: {bb['success_by_kind']}. Ours (syn):
{states}.

What each says about a closed, a dropped and a rejected target:

| target | blackbox_exporter | ours, syn | ours, connect |
|---|---|---|---|
{chr(10).join(samples)}

blackbox_exporter says 0 for all three (the cause is only in its debug log);
ours says closed/reset, filtered/no-response or the ICMP reason, and who answered.
"""


def _footprint_section(f: dict[str, Any] | None) -> str:
    if not f:
        return ("## Footprint\n\nNot run here (--no-footprint); `python -m bench.footprint` "
                "writes bench/FOOTPRINT.md.\n")
    return f"""## Footprint (bench/footprint.py, same run)

The daemon on loopback, 1,000 targets, {f['rounds']}; full table in
bench/FOOTPRINT.md. It took {f['wall_s']:.0f} s, so `make bench` runs it.

{f['summary']}
"""


def run_footprint() -> dict[str, Any]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bench.footprint"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"footprint.py failed:\n{proc.stderr}")
    text = (ROOT / "bench" / "FOOTPRINT.md").read_text()
    keep = ("RSS after warm-up", "RSS peak", "growth after warm-up", "CPU per round",
            "CPU at a 15 s interval", "probe method")
    rows = [line for line in text.splitlines() if line.startswith("|")
            and any(k in line for k in keep)]
    interval = next((line for line in text.splitlines() if line.startswith("| interval")), "")
    return {"wall_s": wall, "rounds": interval.split("|")[2].strip() if interval else "?",
            "summary": "| | |\n|---|---|\n" + "\n".join(rows)}


def write_results(r: dict[str, Any], runs: int) -> str:
    n = r["open"]["n"]
    f200, f10k, nm = r["filtered_200"], r["filtered_10k"], r["nmap"]
    st, rtt = r["startup"], r["rtt"]
    hping = (f"{rtt['median_rtt_hping3_us']:.0f} us ({rtt['hping3_samples']} samples, "
             "0.1 ms resolution)" if rtt["median_rtt_hping3_us"] is not None else "n/a")
    rows = [
        *_throughput_rows(f"open ports ({n} probes, no cap)", r["open"]),
        *_throughput_rows("closed ports", r["closed"]),
        *_throughput_rows("open ports, lab work on the other CPU (RPS), cap 40,000 pps",
                          r["open_spread"]),
        *_throughput_rows("closed ports, lab work on the other CPU (RPS), cap 40,000 pps",
                          r["closed_spread"]),
        ("1,000 filtered ports, 1 attempt, 200 pps (default), timeout 1 s",
         f"{f200['round_s']:.2f} s", "", ""),
        ("1,000 filtered ports, 2 attempts, 10,000 pps, timeout 1 s",
         f"{f10k['round_s']:.2f} s (CPU {f10k['cpu_s']:.3f} s; nmap takes "
         f"{nm['round_s'] / f10k['round_s']:.0f}x as long)", "<= 2 s (timeout + 1 s)",
         verdict(f10k["round_s"] <= FILTERED_TIMEOUT_S + 1)),
        ("nmap -sS -T4 -Pn, same 1,000 filtered ports", f"{nm['round_s']:.2f} s", "(peer)", ""),
        ("start-up to first SYN, from the script's first line",
         f"{st['from_script_s'] * 1000:.0f} ms", "<= 350 ms",
         verdict(st["from_script_s"] <= GOALS["startup"])),
        ("start-up to first SYN, from spawning `ip netns exec python`",
         f"{st['from_exec_s'] * 1000:.0f} ms", "<= 350 ms",
         verdict(st["from_exec_s"] <= GOALS["startup"])),
        *_rtt_rows("kernel send stamps", rtt),
        *_rtt_rows("Python clock only", r["rtt_python"]),
        ("RTT to an open port: ours / tcpdump / hping3",
         f"{rtt['median_rtt_ours_us']:.0f} / {rtt['median_rtt_tcpdump_us']:.0f} us / {hping}",
         "", ""),
    ]
    return f"""# SYN engine benchmark

Date: {r.get('date') or datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}
Machine: {r['machine']}
Lab: tests/helpers/synlab.py (syn-c -> syn-r -> syn-s over veth, 198.19.0.0/16)
Method: `make bench` (`python -m bench.run --runs {runs}`); every number is the median of
{runs} runs (the correctness rounds each count);
the prober runs in its own process inside syn-c; CPU = user + sys of that process
(`getrusage`) from the call to `probe()` to its return.

{_table(rows)}

Answers seen: open {r['open']['reasons']}, closed {r['closed']['reasons']},
filtered {f10k['reasons']}; unsolicited packets during the throughput runs:
{max(r['open']['unsolicited'], r['closed']['unsolicited'])}.

{_correctness_section(r.get("correctness"))}
{_blackbox_section(r.get("blackbox"), r.get("engine_100", {}), runs)}
{_footprint_section(r.get("footprint"))}
{fleet.section(r.get("metrics"))}
{imports.section(r.get("imports"))}
## Goals missed, and why

{chr(10).join(_why_missed(r))}

## Notes

* The lab is three namespaces on one host joined by veth pairs. By default a
  SYN is forwarded by the router and answered by the target in softirq
  context on the prober's own CPU, inside its `sendto()`: the `sys` CPU then
  includes the lab's routing, the target's SYN-ACK/RST and our kernel's RST,
  and the lab's work caps throughput. The "RPS" rows move the router's and
  the target's processing to the other CPU(s) (rps_cpus on their veths, the
  prober pinned to CPU 0), which is closer to a real host probing other
  machines; they run capped at 40,000 SYNs/s because uncapped (~55,000/s)
  the one CPU left for the router and the targets overflows its backlog and
  drops answers, and the round then waits out the timeout for them. `user`
  is the Python engine itself either way.
* Throughput is probes divided by the wall time of `probe()` including reading
  every answer (the batch ends as soon as every attempt is answered).
* The filtered round ends `timeout` (1 s) after the last SYN; at the 200 pps
  production default, sending 1,000 SYNs alone takes 5 s by design (the cap
  spares routers' ICMP rate limits and the neighbours). nmap -T4 needs its
  retransmissions to call a silent port filtered: it is slow on all-dropped
  hosts.
* RTT: the receive time is the kernel's SO_TIMESTAMPNS stamp (the same
  skb stamp tcpdump reports). The send time is the kernel's software TX
  stamp (SO_TIMESTAMPING, read back from the error queue with the packet)
  when the driver gives one, else `time.monotonic_ns()` just before `sendto()`:
  the "Python clock only" rows show what the kernel stamp saves.
"""


def wait_for_scratch_lab(limit: float = 180.0) -> None:
    """synlab.up() first tears down any syn-* lab: give one a test is using time to go."""
    from tests.helpers import synlab

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                               check=False).stdout.split()
        if synlab.CLIENT not in names:
            return
        time.sleep(2)
    print(f"bench: {synlab.CLIENT} still exists after {limit:.0f} s; taking it over",
          file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=20,
                        help="correctness rounds against nmap on the shared lab")
    parser.add_argument("--quick", action="store_true",
                        help="fewer probes, no nmap, no peers, no footprint")
    parser.add_argument("--no-footprint", action="store_true")
    parser.add_argument("--only", choices=("metrics", "imports"),
                        help="run one part only; the rest of RESULTS.md from results.json")
    parser.add_argument("--soak", type=float, default=0.0,
                        help="seconds of daemon soak in the metrics part (a scrape every 5 s)")
    args = parser.parse_args()
    from bench import peers
    from tests.helpers import synlab

    fleet_args = fleet.parser().parse_args(["--soak", str(args.soak)])
    if args.only is not None:
        results = json.loads((ROOT / "bench" / "results.json").read_text())
        if args.only == "metrics":
            results["metrics"] = fleet.run(fleet_args)
        else:
            results["imports"] = _imports(results.get("imports"))
        _write(results, args.runs)
        return

    n = 5_000 if args.quick else 20_000
    # The date of the SYN engine's figures (an --only run keeps it).
    results: dict[str, Any] = {"machine": machine(),
                               "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    if not args.quick:
        results["correctness"] = peers.correctness(args.rounds)
    wait_for_scratch_lab()
    with synlab.running():
        results["open"] = bench_throughput(synlab.OPEN_ADDR, args.runs, n)
        results["closed"] = bench_throughput(synlab.CLOSED_ADDR, args.runs, n)
        # Capped: uncapped, the one CPU left for the router and the targets
        # drops packets (softnet backlog) and the round waits out lost answers.
        results["open_spread"] = bench_throughput(synlab.OPEN_ADDR, args.runs, n, spread=True,
                                                  rate=SPREAD_CAP)
        results["closed_spread"] = bench_throughput(synlab.CLOSED_ADDR, args.runs, n,
                                                    spread=True, rate=SPREAD_CAP)
        results["filtered_200"] = bench_filtered(synlab.ALL_DROP_ADDR, args.runs, 200.0, 1)
        results["filtered_10k"] = bench_filtered(synlab.ALL_DROP_ADDR, args.runs, 10_000.0, 2)
        results["nmap"] = ({"round_s": float("nan")} if args.quick
                           else bench_nmap_filtered(synlab.ALL_DROP_ADDR, args.runs))
        results["startup"] = bench_startup(synlab.OPEN_ADDR, args.runs)
        results["rtt"] = bench_rtt(synlab.OPEN_ADDR, args.runs)
        results["rtt_python"] = bench_rtt(synlab.OPEN_ADDR, args.runs, tx_timestamps=False)
        if not args.quick:
            results["blackbox"] = peers.blackbox(args.runs)
            results["engine_100"] = bench_engine_100(args.runs)
    if not (args.quick or args.no_footprint):
        results["footprint"] = run_footprint()
    if not args.quick:
        results["metrics"] = fleet.run(fleet_args)
        old = (ROOT / "bench" / "results.json")
        results["imports"] = _imports(json.loads(old.read_text()).get("imports")
                                      if old.exists() else None)
    _write(results, args.runs)


def _imports(previous: dict[str, Any] | None) -> dict[str, Any]:
    """bench/imports.py on this tree; the "before" figures of its last run kept."""
    return imports.keep_before(imports.run(imports.parser().parse_args([])), previous)


def _write(results: dict[str, Any], runs: int) -> None:
    text = write_results(results, runs)
    (ROOT / "bench" / "RESULTS.md").write_text(text)
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        print(json.dumps(worker(json.loads(sys.stdin.read()))))
    else:
        main()
