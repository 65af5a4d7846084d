"""Soak the agent: 1,000 targets, a 2 s interval, ten minutes, in a lab of its own.

    python -m bench.soak [--seconds 600] [--targets 1000] [--interval 2] [--rate 5000]
                         [--timeout 0.5] [--load-seconds 30] [--load-clients 200]
    SOAK_SECONDS=180 make soak          # shorter

Builds two namespaces joined by a veth (tests/helpers/netpair.py: soak-c and
soak-s, 198.18.128.0/24; no default route, no link to the host), listens on
100 of the targets' ports, drops 100 more (nftables: filtered) and leaves the
rest closed (RST). Runs the real agent (``python -m probe -c FILE``, SYN
probes, 3 attempts per target) in soak-c and, once per round, records its
resident memory, open file descriptors, threads and CPU seconds (psutil),
the round's duration and the gap from the previous round's start
(start to start), and scrapes /metrics once as Prometheus would.

Then a load phase: a second agent with 10 targets (a small exposition), and
200 clients scraping /metrics concurrently for 30 s, each every 0.5 s; the
latency of every scrape (connect to last byte), errors, and the round gaps
meanwhile.

Writes bench/SOAK.md and bench/soak.json. Not a unit test: nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from tests.helpers import netpair  # run as `python -m bench.soak` from the top
from tests.helpers.processes import stop

ROOT = Path(__file__).resolve().parent.parent

PREFIX = "soak"
BASE_PORT = 30000
OPEN_PORTS = 100  # BASE_PORT.. listen; the last 100 are dropped; the rest are closed
DROPPED_PORTS = 100
LISTEN = f"{netpair.CLIENT}:9839"
WARMUP_ROUNDS = 5
LOCK = Path("/run/apim-probe-soak.lock")


def write_config(path: Path, targets: int, interval: float, rate: float,
                 timeout: float) -> None:
    lines = ["[agent]", f"interval = {interval}", f"timeout = {timeout}", 'method = "syn"',
             f"rate = {rate}", "", "[dns]", f'resolvers = ["{netpair.SERVICE}"]', ""]
    for i in range(targets):
        port = BASE_PORT + i
        expect = ("open" if i < OPEN_PORTS else
                  "filtered" if i >= targets - DROPPED_PORTS else "closed")
        lines += ["[[target]]", f'name = "t{i:04d}"', f'host = "{netpair.SERVICE}"',
                  f"port = {port}", "count = 3", f'expect = "{expect}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def lab_up(targets: int) -> tuple[netpair.Pair, subprocess.Popen[str]]:
    pair = netpair.up(PREFIX)
    first_dropped = BASE_PORT + targets - DROPPED_PORTS
    pair.service("nft", "-f", "-", input=f"""
table inet soak {{
  chain input {{
    type filter hook input priority 0; policy accept;
    tcp dport {first_dropped}-{BASE_PORT + targets - 1} drop
  }}
}}
""")
    listener = subprocess.Popen(
        [*pair.exec_prefix("s"), sys.executable, str(ROOT / "tests" / "helpers" / "listener.py"),
         netpair.SERVICE, *map(str, range(BASE_PORT, BASE_PORT + OPEN_PORTS))],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert listener.stdout is not None
    listener.stdout.readline()  # "ready"
    return pair, listener


class Agent:
    """The agent in soak-c; its JSON events arrive on a queue."""

    def __init__(self, pair: netpair.Pair, config: Path) -> None:
        self.proc = subprocess.Popen(
            [*pair.exec_prefix("c"), sys.executable, "-m", "probe", "-c", str(config),
             "--listen", LISTEN, "--log-format", "json"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ps = self._agent_process()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                event = json.loads(line)
            except ValueError:
                print("agent:", line.rstrip(), file=sys.stderr)
                continue
            event["_seen"] = time.monotonic()
            self.events.put(event)

    def _agent_process(self) -> psutil.Process:
        """The python under `ip netns exec` (which execs it: same PID)."""
        return psutil.Process(self.proc.pid)

    def next_event(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            if event.get("event") == name:
                return event
            if event.get("level") in ("warning", "error"):
                print("agent:", {k: v for k, v in event.items() if k != "_seen"})

    def stop(self) -> None:
        stop(self.proc, timeout=10)


def scrape(pair: netpair.Pair) -> tuple[float, int]:
    """One /metrics scrape from inside soak-c: seconds, bytes."""
    out = pair.client(sys.executable, "-c", f"""
import time, urllib.request
t = time.perf_counter()
with urllib.request.urlopen("http://{LISTEN}/metrics", timeout=30) as r:
    n = len(r.read())
print(time.perf_counter() - t, n)
""")
    seconds, size = out.stdout.split()
    return float(seconds), int(size)


def soak(pair: netpair.Pair, workdir: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    config = workdir / "soak.toml"
    write_config(config, args.targets, args.interval, args.rate, args.timeout)
    agent = Agent(pair, config)
    rows: list[dict[str, Any]] = []
    try:
        agent.next_event("listening")
        began = time.monotonic()
        cpu_before = sum(agent.ps.cpu_times()[:2])
        while time.monotonic() - began < args.seconds:
            event = agent.next_event("round")
            cpu = sum(agent.ps.cpu_times()[:2])
            seconds, size = scrape(pair)
            row = {"round": int(event["number"]), "at": round(event["_seen"] - began, 3),
                   "duration": float(event["duration_seconds"]),
                   "gap": event.get("gap_seconds"), "method": event.get("method"),
                   "failing": event.get("failing"),
                   "rss_mib": agent.ps.memory_info().rss / 2**20,
                   "fds": agent.ps.num_fds(), "threads": agent.ps.num_threads(),
                   "cpu": cpu - cpu_before, "scrape_s": seconds, "scrape_kib": size / 1024}
            cpu_before = cpu
            rows.append(row)
            print(f"round {row['round']:4d} at {row['at']:7.1f} s: gap {row['gap']} s, "
                  f"round {row['duration']:.2f} s, rss {row['rss_mib']:.1f} MiB, "
                  f"fds {row['fds']}, threads {row['threads']}, cpu {row['cpu']:.3f} s",
                  flush=True)
    finally:
        agent.stop()
    return rows


async def _client(url: tuple[str, int], until: float, every: float,
                  latencies: list[float], errors: list[str]) -> None:
    host, port = url
    while time.monotonic() < until:
        t = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
            writer.write(b"GET /metrics HTTP/1.0\r\nHost: soak\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            if not data.startswith(b"HTTP/1.0 200"):
                errors.append(data[:40].decode(errors="replace"))
            else:
                latencies.append(time.perf_counter() - t)
        except (OSError, TimeoutError) as exc:
            errors.append(type(exc).__name__)
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - t)))


def load_generator(clients: int, seconds: float, every: float) -> None:
    """Runs inside soak-c: prints a JSON line of latencies and errors."""
    host, port = LISTEN.rsplit(":", 1)

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        errors: list[str] = []
        until = time.monotonic() + seconds
        await asyncio.gather(*(_client((host, int(port)), until, every, latencies, errors)
                               for _ in range(clients)))
        return {"latencies": latencies, "errors": errors}

    print(json.dumps(asyncio.run(main())))


def load(pair: netpair.Pair, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    config = workdir / "load.toml"
    write_config(config, 10, args.interval, args.rate, args.timeout)
    agent = Agent(pair, config)
    try:
        agent.next_event("listening")
        agent.next_event("round")
        proc = subprocess.Popen(
            [*pair.exec_prefix("c"), sys.executable, "-m", "bench.soak", "load-generator",
             str(args.load_clients), str(args.load_seconds), "0.5"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        gaps = []
        until = time.monotonic() + args.load_seconds
        while time.monotonic() < until:
            event = agent.next_event("round")
            if event.get("gap_seconds") is not None:
                gaps.append(float(event["gap_seconds"]))
        out, _ = proc.communicate(timeout=args.load_seconds + 60)
    finally:
        agent.stop()
    result = json.loads(out)
    lat = sorted(result["latencies"])

    def pick(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

    return {"clients": args.load_clients, "seconds": args.load_seconds, "requests": len(lat),
            "errors": len(result["errors"]), "error_kinds": sorted(set(result["errors"]))[:5],
            "p50_ms": pick(0.5) * 1000, "p99_ms": pick(0.99) * 1000, "max_ms": pick(1.0) * 1000,
            "round_gaps": gaps}


def summary(rows: list[dict[str, Any]], interval: float) -> dict[str, Any]:
    warm = rows[WARMUP_ROUNDS:] or rows
    gaps = [r["gap"] for r in warm if r["gap"] is not None]
    first, last = warm[0], warm[-1]
    return {
        "rounds": len(rows), "warmup_rounds": WARMUP_ROUNDS,
        "rss_after_warmup_mib": first["rss_mib"], "rss_end_mib": last["rss_mib"],
        "rss_peak_mib": max(r["rss_mib"] for r in warm),
        "fds_min_max": [min(r["fds"] for r in warm), max(r["fds"] for r in warm)],
        "threads_min_max": [min(r["threads"] for r in warm), max(r["threads"] for r in warm)],
        "cpu_per_round_mean": statistics.fmean(r["cpu"] for r in warm),
        "round_median_s": statistics.median(r["duration"] for r in warm),
        "gap_median_s": statistics.median(gaps) if gaps else None,
        "gap_max_s": max(gaps) if gaps else None,
        "gaps_over_interval_10pct": sum(1 for g in gaps if g > interval * 1.1),
        "methods": sorted({str(r["method"]) for r in warm}),
    }


def report(args: argparse.Namespace, rows: list[dict[str, Any]], s: dict[str, Any],
           lo: dict[str, Any] | None) -> str:
    cpu_model = next((ln.split(":", 1)[1].strip() for ln in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), platform.processor())
    shortened = "" if args.seconds >= 600 else (
        f" **Shortened**: {args.seconds:g} s instead of the 600 s of `make soak`.")
    text = f"""# apim-probe soak

Recorded by `make soak` (`python -m bench.soak`; not a unit test) on
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {cpu_model}, {os.cpu_count()} CPUs (shared),
{platform.system()} {platform.release()}, Python {platform.python_version()}.{shortened}

The agent in a lab of its own (namespaces soak-c / soak-s, 198.18.128.0/24):
{args.targets} targets on {netpair.SERVICE} ({OPEN_PORTS} open, {DROPPED_PORTS} dropped,
the rest closed), 3 attempts each, SYN probes at {args.rate:g} per second, a
{args.timeout:g} s timeout, a {args.interval:g} s interval, one /metrics scrape per
round, for {args.seconds:g} s. Load average when it ended: {os.getloadavg()[0]:.1f}
(other work shares these CPUs).
Goals: resident memory, descriptors and threads flat after warm-up; rounds on
schedule (start to start = the interval while rounds are shorter than it).

| | |
|---|---|
| rounds | {s['rounds']} ({s['warmup_rounds']} warm-up) |
| probe method | {', '.join(s['methods'])} |
| round duration, median | {s['round_median_s']:.2f} s |
| start-to-start gap, median / max | {_num(s['gap_median_s'])} s / {_num(s['gap_max_s'])} s \
(interval {args.interval:g} s) |
| gaps more than 10 % over the interval | {s['gaps_over_interval_10pct']} |
| RSS after warm-up / at the end / peak | {s['rss_after_warmup_mib']:.1f} / \
{s['rss_end_mib']:.1f} / {s['rss_peak_mib']:.1f} MiB |
| open descriptors, min / max | {s['fds_min_max'][0]} / {s['fds_min_max'][1]} |
| threads, min / max | {s['threads_min_max'][0]} / {s['threads_min_max'][1]} |
| CPU per round (user+sys, with one scrape) | {s['cpu_per_round_mean']:.3f} s |
"""
    if lo is not None:
        gaps = lo["round_gaps"]
        text += f"""
## /metrics under {lo['clients']} concurrent clients

A second agent with 10 targets (a small exposition, as in the issue's
measurement), {lo['clients']} clients each scraping /metrics every 0.5 s for
{lo['seconds']:g} s (a fresh connection each time), from inside soak-c.
Goal: p99 at most 250 ms, no errors, rounds still on schedule.

| | |
|---|---|
| scrapes answered | {lo['requests']} |
| errors (timeouts, resets) | {lo['errors']} {' '.join(lo['error_kinds'])} |
| latency p50 / p99 / max | {lo['p50_ms']:.1f} / {lo['p99_ms']:.1f} / {lo['max_ms']:.1f} ms |
| round gaps meanwhile, median / max | {_num(statistics.median(gaps) if gaps else None)} / \
{_num(max(gaps) if gaps else None)} s |
"""
    text += "\n## Rounds\n\n| round | at s | gap s | round s | RSS MiB | fds | threads | CPU s |\n"
    text += "|---|---|---|---|---|---|---|---|\n"
    text += "\n".join(f"| {r['round']} | {r['at']:.1f} | {_num(r['gap'])} | "
                      f"{r['duration']:.2f} | {r['rss_mib']:.1f} | {r['fds']} | "
                      f"{r['threads']} | {r['cpu']:.3f} |" for r in rows) + "\n"
    return text


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("SOAK_SECONDS", "600")))
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--timeout", type=float, default=0.5,
                        help="seconds an attempt waits (the dropped ports cost it every round)")
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument("--load-clients", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "SOAK.md")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (network namespaces)", file=sys.stderr)
        return 2
    # One soak at a time (its namespaces are machine-wide); SIGTERM cleans up too.
    lock = LOCK.open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="apim-soak-"))
    pair, listener = lab_up(args.targets)
    try:
        rows = soak(pair, workdir, args)
        lo = load(pair, workdir, args) if args.load_seconds > 0 else None
    finally:
        listener.terminate()
        listener.wait(10)
        netpair.down(PREFIX)
    s = summary(rows, args.interval)
    args.out.write_text(report(args, rows, s, lo), encoding="utf-8")
    args.out.with_name("soak.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "summary": s, "load": lo,
         "rounds": rows}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["load-generator"]:
        load_generator(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
        raise SystemExit(0)
    raise SystemExit(main())
