"""Imports at scale (issue 16): `[apim] import` of 1k, 12k and 100k entries.

    python -m bench.imports [--sizes 1000,12000,100000] [--runs 3]
                            [--before TREE] [--before-max 12000] [--json]

Imported by bench/run.py (``--only imports`` runs just this; a full run
includes it); alone it rewrites the "Imports" section of bench/RESULTS.md
through bench/run.py's results.json. No network: a saved networkstatus of N
entries (one location, every entry a host, a tenth failing in APIM's view) is
read through the config, and a synthetic round for every target it yields
(two resolvers each answering, a tenth of the ports dropped, a twentieth
refused) is diagnosed and rendered as the Prometheus exposition and the JSON
report, as the agent does every round.

Each (tree, N) runs in a fresh process (``python bench/imports.py worker``
with PYTHONPATH=TREE), so that ``--before TREE`` (a `git worktree` of the
commit before the change) measures the old code with the same script. Per
phase the wall time (median of ``--runs``) and the peak of traced memory
(tracemalloc, the same run) are reported; import = reading the config and its
import, diagnosis = ``diagnose(round, context_from(config))``, exposition =
the Prometheus text of the round (what the agent serves), json = the JSON
report (``--once --format json`` only). Runs of the old tree above ``--before-max``
entries are skipped (quadratic: hours).

Not a unit test: nothing asserts; the numbers go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 12_000, 100_000)
PHASES = ("import", "diagnosis", "exposition", "json")
RESOLVERS = ("198.18.0.53", "168.63.129.16")
MEMORY_MAX_MIB = 256  # the unit's MemoryMax


# -- worker: one tree, one size, in a process of its own ----------------------

def _networkstatus(n: int) -> list[dict[str, Any]]:
    entries = [{"name": f"s{i}.blob.example.test", "resourceType": "BlobStorage",
                "status": "failure" if i % 10 == 0 else "success",
                "error": "timeout" if i % 10 == 0 else "", "isOptional": i % 7 == 0,
                "lastUpdated": "2026-12-03T20:00:00Z", "lastStatusChange": "2026-12-01T00:00:00Z"}
               for i in range(n)]
    return [{"location": "East US", "networkStatus": {"dnsServers": list(RESOLVERS),
                                                      "connectivityStatus": entries}}]


def _round(config: Any) -> Any:
    from probe.results import (
        Attempt,
        DnsResult,
        DnsStatus,
        PortState,
        RoundResult,
        TcpResult,
    )

    dns: list[Any] = []
    tcp: list[Any] = []
    for i, target in enumerate(config.targets):
        address = f"198.18.{(i >> 8) & 255}.{i & 255}"
        for resolver in RESOLVERS:
            dns.append(DnsResult(target.host, resolver, DnsStatus.OK, "NOERROR", (address,), (),
                                 0.002))
        if i % 10 == 3:
            state, reason, attempt = PortState.FILTERED, "no-response", Attempt(
                PortState.FILTERED, "no-response")
        elif i % 20 == 7:
            state, reason, attempt = PortState.CLOSED, "reset", Attempt(
                PortState.CLOSED, "reset", 0.001, address)
        else:
            state, reason, attempt = PortState.OPEN, "syn-ack", Attempt(
                PortState.OPEN, "syn-ack", 0.001, address)
        tcp.append(TcpResult(target.name, target.dependency, target.host, address, target.port,
                             state, reason, PortState.OPEN, state is PortState.OPEN,
                             target.required, "syn", (attempt,) * 3,
                             None if state is PortState.FILTERED else address))
    from datetime import datetime as dt
    return RoundResult(dt.now(UTC), 1.0, RESOLVERS, tuple(dns), tuple(tcp), method="syn")


def _phase(work: Callable[[], Any], traced: bool) -> tuple[Any, float, float]:
    """What ``work`` returns, its wall time, its peak traced memory (bytes)."""
    import tracemalloc

    if traced:
        tracemalloc.reset_peak()
    t0 = time.perf_counter()
    value = work()
    elapsed = time.perf_counter() - t0
    return value, elapsed, tracemalloc.get_traced_memory()[1] if traced else 0.0


def worker(n: int, runs: int) -> dict[str, Any]:
    import tracemalloc
    from dataclasses import fields, replace
    from functools import partial

    import probe
    from probe.apim import ApimConfig
    from probe.config import load
    from probe.diagnosis import context_from, diagnose
    from probe.exporters import jsonreport, prometheus
    from probe.targets import expand

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ns.json").write_text(json.dumps(_networkstatus(n)))
        limit = ("import_limit = 100000\n"
                 if "import_limit" in {f.name for f in fields(ApimConfig)} else "")
        path = Path(tmp) / "probe.toml"
        path.write_text('[apim]\nname = "c"\nmode = "internal"\ndomain = "apim.test"\n'
                        f'region = "East US"\nimport = ["ns.json"]\n{limit}')
        times: dict[str, list[float]] = {p: [] for p in PHASES}
        peaks: dict[str, float] = {}
        findings = targets = 0
        for run in range(runs):
            # Traced last (lazy imports of the first run are not the import's memory);
            # tracemalloc slows Python down: the other runs are timed.
            traced = run == runs - 1
            if traced:
                tracemalloc.start()
            spent: dict[str, list[float]] = {}
            config, *spent["import"] = _phase(lambda: expand(load(path)), traced)
            result = _round(config)
            found, *spent["diagnosis"] = _phase(
                partial(diagnose, result, context_from(config)), traced)
            result = replace(result, findings=found)
            _, *spent["exposition"] = _phase(partial(prometheus.one_round, result), traced)
            _, *spent["json"] = _phase(partial(jsonreport.render, result), traced)
            if traced:
                tracemalloc.stop()
                peaks = {phase: peak for phase, (_, peak) in spent.items()}
            if not traced or runs == 1:
                for phase, (seconds, _) in spent.items():
                    times[phase].append(seconds)
            findings, targets = len(found), len(result.tcp)
        return {"entries": n, "targets": targets, "findings": findings, "probe": probe.__file__,
                "seconds": {p: statistics.median(v) for p, v in times.items()},
                "peak_mib": {p: v / 2**20 for p, v in peaks.items()}}


# -- driver ------------------------------------------------------------------

def measure(tree: Path, n: int, runs: int, timeout: float) -> dict[str, Any] | None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "worker",
                               str(n), str(runs)], cwd=tree, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"bench.imports: {tree} {n}: over {timeout:.0f} s, skipped", file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(f"bench.imports: {tree} {n}: {proc.stderr.strip()[-2000:]}", file=sys.stderr)
        return None
    return dict(json.loads(proc.stdout))


def _commit(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False).stdout.strip() or "?"


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",")]
    out: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                           "runs": args.runs, "after_commit": _commit(ROOT), "after": {}}
    for n in sizes:
        out["after"][str(n)] = measure(ROOT, n, args.runs, args.timeout)
    if args.before:
        before = Path(args.before).resolve()
        out["before_commit"] = _commit(before)
        out["before"] = {str(n): measure(before, n, args.runs, args.timeout)
                         for n in sizes if n <= args.before_max}
    return out


def keep_before(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """A run without --before keeps the last measured "before" figures."""
    if "before" not in new and old and "before" in old:
        return {**new, "before": old["before"], "before_commit": old.get("before_commit")}
    return new


def _cell(m: dict[str, Any] | None, phase: str) -> str:
    if not m:
        return "not run"
    return f"{m['seconds'][phase]:.3f} s / {m['peak_mib'][phase]:.1f} MiB"


def _per_entry(m: dict[str, Any], phase: str) -> str:
    """KiB per entry between the smallest and largest size measured (after)."""
    sizes = sorted((int(n), a) for n, a in m["after"].items() if a)
    if len(sizes) < 2:
        return "?"
    (n0, a0), (n1, a1) = sizes[0], sizes[-1]
    return f"{(a1['peak_mib'][phase] - a0['peak_mib'][phase]) * 1024 / (n1 - n0):.1f}"


def section(m: dict[str, Any] | None) -> str:
    """The RESULTS.md section: before and after, per size and phase."""
    if not m:
        return "## Imports (issue 16)\n\nNot run (`python -m bench.imports`).\n"
    before = m.get("before", {})
    rows = []
    for n, after in m["after"].items():
        old = before.get(n)
        for phase in PHASES:
            rows.append(f"| {int(n):,} | {phase} | {_cell(old, phase)} | {_cell(after, phase)} |")
    # The agent's own phases (the JSON report is --once only).
    daemon = ("import", "diagnosis", "exposition")
    over = [f"{int(n):,}" for n, a in m["after"].items()
            if a and max(a["peak_mib"][p] for p in daemon) > MEMORY_MAX_MIB]
    return f"""## Imports (issue 16)

Date: {m['date']}; `python -m bench.imports --before TREE` (bench/imports.py).
A saved networkstatus of N entries (one location, each a host; a tenth failing
in APIM's view) read through `[apim] import`, a synthetic round of every target
it yields (two resolvers, a tenth of the ports dropped, a twentieth refused),
diagnosed, then rendered (the exposition the agent serves every round; the
JSON report of `--once --format json`). Each cell: median wall
time of the runs but the last (of {m['runs']}; the last is traced) / the peak,
during that phase, of the memory allocated since the run began (tracemalloc:
the config and the round held are included, the interpreter is not).
Before: {m.get('before_commit', 'not measured')}; after: {m['after_commit']}. Sizes over
the default `import_limit` (5,000) were read with `import_limit = 100000`.

| entries | phase | before | after |
|---|---|---|---|
{chr(10).join(rows)}

Entries whose import, diagnosis or exposition peak passes the unit's
`MemoryMax={MEMORY_MAX_MIB}M` (after): {', '.join(over) or 'none'}. The exposition
grows by about {_per_entry(m, 'exposition')} KiB per entry, and the agent holds the
last round and the interpreter (about 40 MiB) beside it: an `import_limit`
above about 20,000 needs a larger `MemoryMax` too.
"not run": the old code is quadratic in entries; a size above 12,000 was not
waited for. The import's 32 MiB floor is `read_regular_file` asking for
limit + 1 bytes at once (a buffer of the 32 MiB file limit), whatever the size.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--before", metavar="TREE",
                   help="a checkout of the code before the change, measured the same way")
    p.add_argument("--before-max", type=int, default=12_000)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per (tree, size)")
    p.add_argument("--json", action="store_true", help="print JSON; RESULTS.md untouched")
    return p


def main() -> None:
    args = parser().parse_args()
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    from bench import run as bench_run

    everything = json.loads((ROOT / "bench" / "results.json").read_text())
    everything["imports"] = keep_before(results, everything.get("imports"))
    bench_run._write(everything, everything.get("runs", 5))


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        print(json.dumps(worker(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
