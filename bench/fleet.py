"""Metrics a fleet can afford (issue 13): the agent vs blackbox_exporter, 1,000 addresses.

    python -m bench.fleet [--addresses 1000] [--count 3] [--rounds 10] [--warmup 3]
                          [--interval 5] [--soak SECONDS] [--json]

Imported by bench/run.py (``--only metrics`` runs just this); alone it prints
the table. Everything runs in a network namespace of its own (``apb-fleet-PID``,
loopback only, no other link), so the ports it uses cannot clash with anyone
else's and every packet stays on that namespace's 127.0.0.0/8:

* the renderer in this process: a synthetic round of ``--addresses`` target
  addresses with Azure-length names, rendered 21 times (median), default and
  with the opt-in histogram; series and bytes per target address;
* the real daemon (``python -m probe -c FILE``, SYN method, ``count`` attempts
  per address, addresses 127.1.x.y:443, 10 listening and the rest closed),
  ``--warmup`` + ``--rounds`` rounds: per round the CPU (user+sys of the
  daemon, one scrape included), the resident memory, the first scrape after
  the round and one more half-way to the next; then ``--soak`` seconds more
  with a scrape every 5 s, resident memory at each;
* blackbox_exporter (Debian's ``prometheus-blackbox-exporter``, module
  ``tcp_connect``) on the same addresses: a round is ``count`` x addresses
  ``/probe`` requests (64 in flight), its CPU from /proc, its memory; series
  and bytes of one ``/probe`` answer, plus the 5 series Prometheus adds per
  scrape target (up, scrape_duration_seconds, scrape_samples_scraped,
  scrape_samples_post_metric_relabeling, scrape_series_added).

Not a unit test: nothing asserts; the numbers go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import queue
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.helpers.processes import stop

ROOT = Path(__file__).resolve().parent.parent
LISTENING = 10
PORT = 443
PROMETHEUS_PER_TARGET = 5  # series Prometheus adds to every scrape target
BBX_PORT = 9115
BBX_EXE = "prometheus-blackbox-exporter"
GOALS = {"series": 6.0, "bytes": 1200.0, "render_ms": 50.0, "scrape_ms": 150.0,
         "cpu_s": 0.25, "rss_mib": 60.0}


def address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the renderer, in this process ---------------------------------------------

def synthetic_round(n: int, count: int) -> Any:
    from probe.results import Attempt, PortState, RoundResult, TcpResult

    rows = []
    for i in range(n):
        open_ = i < LISTENING
        state = PortState.OPEN if open_ else PortState.CLOSED
        reason = "syn-ack" if open_ else "reset"
        attempts = tuple(Attempt(state, reason, 0.0004 + j * 0.0001) for j in range(count))
        rows.append(TcpResult(f"storage-account-{i:04d}", "storage",
                              f"apimst{i:04d}.blob.core.windows.net", address(i), PORT, state,
                              reason, PortState.OPEN, open_, True, "syn", attempts,
                              responder=address(i)))
    return RoundResult(datetime.now(UTC), 0.5, ("127.0.0.1",), (), tuple(rows), (), method="syn")


def bench_render(n: int, count: int, repeat: int = 21) -> dict[str, Any]:
    from probe.exporters import prometheus as prom
    from probe.exporters import promtext

    result = synthetic_round(n, count)
    out: dict[str, Any] = {}
    for label, histogram in (("default", False), ("histogram", True)):
        e = prom.Exposition()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            e.record_round(result, rtt_histogram=histogram)
            times.append(time.perf_counter() - t0)
        out[label] = {"render_ms": median(times) * 1000, "bytes": len(e.body),
                      "series": promtext.series_count(e.body),
                      "series_per_address": promtext.series_count(e.body) / n,
                      "bytes_per_address": len(e.body) / n}
    return out


# -- the daemon ------------------------------------------------------------------

def start_listeners() -> list[socket.socket]:
    socks = []
    for i in range(LISTENING):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address(i), PORT))
        s.listen(1024)
        s.setblocking(False)
        socks.append(s)

    def drain() -> None:
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    sock.accept()[0].close()
                except OSError:
                    continue

    threading.Thread(target=drain, daemon=True).start()
    return socks


def write_config(path: Path, n: int, count: int, interval: float) -> None:
    lines = ["[agent]", f"interval = {interval}", "timeout = 0.5", 'method = "syn"',
             "rate = 20000", "", "[dns]", 'resolvers = ["127.0.0.1"]', ""]
    for i in range(n):
        lines += ["[[target]]", f'name = "storage-account-{i:04d}"', f'host = "{address(i)}"',
                  f"port = {PORT}", f"count = {count}", 'dependency = "storage"',
                  f'expect = "{"open" if i < LISTENING else "closed"}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def _scrape(port: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        size = len(r.read())
    return time.perf_counter() - t0, size


class Daemon:
    """The agent in a subprocess, its stderr lines in a queue."""

    def __init__(self, config: Path) -> None:
        import psutil

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "probe", "-c", str(config), "--listen", "127.0.0.1:0"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ps = psutil.Process(self.proc.pid)
        self.port = 0

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))

    def next_round(self, timeout: float) -> float:
        """Wait for the next round; its duration."""
        while True:
            line = self.lines.get(timeout=timeout)
            if "event=listening" in line:
                self.port = int(line.split("port=")[1].split()[0])
            if "event=round " in line:
                return float(line.split("duration_seconds=")[1].split()[0])

    def cpu(self) -> float:
        return float(sum(self.ps.cpu_times()[:2]))

    def rss_mib(self) -> float:
        return float(self.ps.memory_info().rss / 2**20)

    def stop(self) -> None:
        stop(self.proc, timeout=10)  # the agent we started, by its handle


def bench_daemon(args: argparse.Namespace) -> dict[str, Any]:
    listeners = start_listeners()
    workdir = Path(tempfile.mkdtemp(prefix="apim-fleet-"))
    config = workdir / "probe.toml"
    write_config(config, args.addresses, args.count, args.interval)
    d = Daemon(config)
    rows: list[dict[str, float]] = []
    soak: list[float] = []
    try:
        baseline = d.cpu()
        for _ in range(args.warmup + args.rounds):
            duration = d.next_round(timeout=max(120.0, args.interval * 10))
            first, size = _scrape(d.port)
            cpu = d.cpu()
            row = {"cpu_s": cpu - baseline, "round_s": duration, "first_scrape_s": first,
                   "bytes": size, "rss_mib": d.rss_mib()}
            time.sleep(args.interval / 2)
            before = d.cpu()
            row["later_scrape_s"] = _scrape(d.port)[0]
            baseline = cpu + (d.cpu() - before)  # the extra scrape is not the round's
            rows.append(row)
            print(f"round {len(rows):3d}: cpu {row['cpu_s']:.3f} s, rss {row['rss_mib']:.1f} "
                  f"MiB, scrape {first * 1000:.1f} / {row['later_scrape_s'] * 1000:.1f} ms",
                  file=sys.stderr, flush=True)
        end = time.monotonic() + args.soak
        while time.monotonic() < end:
            time.sleep(5)
            _scrape(d.port)
            soak.append(d.rss_mib())
        _, body = _scrape_body(d.port)
    finally:
        d.stop()
        for s in listeners:
            s.close()
    measured = rows[args.warmup:]
    samples = [line for line in body.splitlines() if line and not line.startswith(b"#")]
    per_address = sum(1 for line in samples if b'target="' in line)
    scrapes = [r["first_scrape_s"] for r in measured] + [r["later_scrape_s"] for r in measured]
    return {
        "rounds": rows, "warmup": args.warmup,
        "cpu_s": median([r["cpu_s"] for r in measured]),
        "round_s": median([r["round_s"] for r in measured]),
        "scrape_ms": median(scrapes) * 1000, "scrape_max_ms": max(scrapes) * 1000,
        "first_scrape_ms": median([r["first_scrape_s"] for r in measured]) * 1000,
        "rss_mib": median([r["rss_mib"] for r in measured]),
        "rss_peak_mib": max([r["rss_mib"] for r in measured] + soak),
        "rss_after_warmup_mib": rows[args.warmup - 1]["rss_mib"] if args.warmup else
        rows[0]["rss_mib"],
        "rss_end_mib": (soak or [rows[-1]["rss_mib"]])[-1],
        "soak_s": args.soak, "soak_rss_mib": soak,
        "bytes": len(body), "series": len(samples),
        # what each target address adds (the families labelled target=) ...
        "address_series_per_address": per_address / args.addresses,
        # ... and everything, agent-wide and process_ series and Prometheus's 5 included
        "series_per_address": (len(samples) + PROMETHEUS_PER_TARGET) / args.addresses,
        "bytes_per_address": len(body) / args.addresses,
    }


def _scrape_body(port: int) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        body = r.read()
    return time.perf_counter() - t0, body


# -- blackbox_exporter -------------------------------------------------------------

def _proc_cpu(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("blackbox_exporter exited at start")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("blackbox_exporter did not listen")


def bench_blackbox(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    listeners = start_listeners()
    targets = [f"{address(i)}:{PORT}" for i in range(args.addresses)]
    base = f"http://127.0.0.1:{BBX_PORT}/probe?module=tcp_connect&target="

    def get(target: str) -> bytes:
        with urllib.request.urlopen(base + target, timeout=30) as r:
            return bytes(r.read())

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "blackbox.yml"
        config.write_text("modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 2s\n"
                          "    tcp:\n      preferred_ip_protocol: ip4\n")
        version = subprocess.run([BBX_EXE, "--version"], capture_output=True, text=True,
                                 check=False)
        exporter = subprocess.Popen([BBX_EXE, f"--config.file={config}",
                                     f"--web.listen-address=127.0.0.1:{BBX_PORT}",
                                     "--log.level=warn"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rounds: list[dict[str, float]] = []
        try:
            _wait_port(BBX_PORT, exporter)
            ps = psutil.Process(exporter.pid)
            with concurrent.futures.ThreadPoolExecutor(64) as pool:
                list(pool.map(get, targets))  # warm-up
                for _ in range(args.rounds):
                    cpu0, t0 = _proc_cpu(exporter.pid), time.monotonic()
                    bodies = list(pool.map(get, targets * args.count))
                    rounds.append({"cpu_s": _proc_cpu(exporter.pid) - cpu0,
                                   "wall_s": time.monotonic() - t0,
                                   "rss_mib": ps.memory_info().rss / 2**20})
        finally:
            stop(exporter, timeout=10)  # the exporter we started, by its handle
            for s in listeners:
                s.close()
    series = [sum(1 for line in b.splitlines() if line and not line.startswith(b"#"))
              for b in bodies[:args.addresses]]
    return {
        "version": (version.stdout or version.stderr).splitlines()[0],
        "rounds": rounds, "probes_per_round": args.addresses * args.count,
        "cpu_s": median([r["cpu_s"] for r in rounds]),
        "wall_s": median([r["wall_s"] for r in rounds]),
        "rss_mib": median([r["rss_mib"] for r in rounds]),
        "series_per_address": median([float(s) for s in series]) + PROMETHEUS_PER_TARGET,
        "bytes_per_address": median([float(len(b)) for b in bodies[:args.addresses]]),
        "success": sum(1 for b in bodies[:args.addresses] if b"probe_success 1" in b),
    }


# -- driver ------------------------------------------------------------------------

def inner(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"addresses": args.addresses, "count": args.count,
                           "interval_s": args.interval, "goals": GOALS}
    out["render"] = bench_render(args.addresses, args.count)
    out["ours"] = bench_daemon(args)
    out["blackbox"] = bench_blackbox(args)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """In a namespace of our own (created here, removed here): loopback only."""
    ns = f"apb-fleet-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        argv = [sys.executable, "-m", "bench.fleet", "--inner", "--addresses", str(args.addresses),
                "--count", str(args.count), "--rounds", str(args.rounds), "--warmup",
                str(args.warmup), "--interval", str(args.interval), "--soak", str(args.soak)]
        proc = subprocess.run(["ip", "netns", "exec", ns, *argv], stdout=subprocess.PIPE,
                              text=True, check=False, timeout=3600, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"bench/fleet.py --inner failed ({proc.returncode})")
        result: dict[str, Any] = json.loads(proc.stdout)
        return result
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--addresses", type=int, default=1000)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--soak", type=float, default=0.0,
                   help="seconds more of the daemon after the rounds, a scrape every 5 s")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    return p


def section(m: dict[str, Any] | None) -> str:
    """The RESULTS.md section: ours vs blackbox_exporter, medians, goals."""
    if not m:
        return "## Metrics a fleet can afford (issue 13)\n\nNot run.\n"
    ours, bb, r = m["ours"], m["blackbox"], m["render"]
    g = m["goals"]

    def met(ok: bool) -> str:
        return "met" if ok else "**missed**"

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "-"

    rows = [
        ("series each target address adds (ours: the families labelled `target`)",
         f"{ours['address_series_per_address']:.2f}",
         f"{bb['series_per_address'] - PROMETHEUS_PER_TARGET:.0f}",
         ratio(ours["address_series_per_address"],
               bb["series_per_address"] - PROMETHEUS_PER_TARGET),
         f"<= {g['series']:g}", met(ours["address_series_per_address"] <= g["series"])),
        ("all series / target addresses (agent-wide, process_ and Prometheus's 5 per "
         "scrape target included)", f"{ours['series_per_address']:.2f}",
         f"{bb['series_per_address']:.0f}",
         ratio(ours["series_per_address"], bb["series_per_address"]),
         f"<= {bb['series_per_address']:.0f} (blackbox)",
         met(ours["series_per_address"] <= bb["series_per_address"])),
        ("scrape bytes per target address", f"{ours['bytes_per_address']:.0f}",
         f"{bb['bytes_per_address']:.0f}",
         ratio(ours["bytes_per_address"], bb["bytes_per_address"]),
         f"<= {g['bytes']:g}", met(ours["bytes_per_address"] <= g["bytes"])),
        (f"render ms, {m['addresses']:,} addresses (default / with histogram)",
         f"{r['default']['render_ms']:.1f} / {r['histogram']['render_ms']:.1f}", "-", "-",
         f"<= {g['render_ms']:g}", met(r["default"]["render_ms"] <= g["render_ms"])),
        (f"CPU per round, {m['addresses']:,} addresses x {m['count']}, one scrape incl. (s)",
         f"{ours['cpu_s']:.3f}", f"{bb['cpu_s']:.3f}", ratio(ours["cpu_s"], bb["cpu_s"]),
         f"<= {g['cpu_s']:g}", met(ours["cpu_s"] <= g["cpu_s"])),
        ("scrape latency ms: median / first after a round / max",
         f"{ours['scrape_ms']:.1f} / {ours['first_scrape_ms']:.1f} / "
         f"{ours['scrape_max_ms']:.1f}", "-", "-", f"<= {g['scrape_ms']:g}",
         met(ours["scrape_max_ms"] <= g["scrape_ms"])),
        ("RSS MiB (median of rounds / peak)",
         f"{ours['rss_mib']:.1f} / {ours['rss_peak_mib']:.1f}", f"{bb['rss_mib']:.1f}",
         ratio(ours["rss_mib"], bb["rss_mib"]), f"<= {g['rss_mib']:g}",
         met(ours["rss_peak_mib"] <= g["rss_mib"])),
    ]
    table = "\n".join(f"| {' | '.join(row)} |" for row in rows)
    growth = ours["rss_end_mib"] - ours["rss_after_warmup_mib"]
    soak = (f"{ours['soak_s']:.0f} s soak after the rounds (a scrape every 5 s)"
            if ours["soak_s"] else "no soak (--soak SECONDS)")
    return f"""## Metrics a fleet can afford (issue 13): ours vs blackbox_exporter

`python -m bench.fleet` (in `make bench`; alone: `make bench BENCH_ARGS="--only metrics"`),
in a network namespace of its own, loopback only: {m['addresses']:,} target
addresses (127.1.x.y:443, {LISTENING} listening, the rest closed), {m['count']}
attempts each. Ours: the daemon, SYN method, {m['interval_s']:g} s interval,
{ours['warmup']} warm-up + {len(ours['rounds']) - ours['warmup']} measured rounds
(medians). blackbox_exporter ({bb['version']}): `tcp_connect`, a round is
{bb['probes_per_round']:,} `/probe` requests (64 in flight), {len(bb['rounds'])}
rounds (medians); it probes once per request, so {m['count']} requests stand
for our {m['count']} attempts. The all-series row adds the 5 series
Prometheus makes per scrape target: blackbox has one scrape target per
address, the agent one for all. Render: the same renderer in the bench
process, synthetic round with Azure-length names (histogram:
{r['histogram']['series_per_address']:.0f} series and
{r['histogram']['bytes_per_address']:.0f} bytes per address).

| measure | ours | blackbox_exporter | ours / blackbox | goal | |
|---|---|---|---|---|---|
{table}

Round duration (ours, median): {ours['round_s']:.2f} s; blackbox_exporter's
{bb['probes_per_round']:,} requests took {bb['wall_s']:.2f} s. Resident memory
after warm-up {ours['rss_after_warmup_mib']:.1f} MiB, at the end
{ours['rss_end_mib']:.1f} MiB ({growth:+.1f} MiB; {soak}). The body:
{ours['bytes']:,} bytes, {ours['series']:,} series (process_ and python_ included).
"""


def main() -> int:
    args = parser().parse_args()
    if args.inner:
        print(json.dumps(inner(args)))
        return 0
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else section(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
